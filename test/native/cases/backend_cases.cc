// The generic op cases: one per entry of the list of backend ops (nn/backend_ops.h), generated
// from it, so a new op can be run and tested without writing a case for it. Case `backend.<op>`
// calls the op through nn::Backend on the device runOp names ('cpu', 'cpu-guarded', and 'cuda'
// in the CUDA, fake-CUDA and emulated-CUDA test addons):
//   - scalar parameters are the attributes of their names (integers must be whole numbers; bool
//     is 0 / 1); a struct parameter reads its fields as attributes of the fields' names (the
//     converters below, one per type), its host arrays as lists (a ResampleShape's taps `f`, a
//     NoiseSpec's per-sample `sigma`);
//   - pointer parameters are sized by the entry's checks: IN and HOST inputs are the inputs of
//     their names and must hold exactly `count` values (ERR_PFGM_SHAPE otherwise); OPT inputs may
//     be left out (null); OUT arrays start as zeros, or as the input of their name (in-out
//     parameters such as Adam's moments); OPT outputs are allocated unless the attribute of their
//     name is 0 (null). Device arrays are allocated, uploaded and downloaded through the backend
//     itself, host arrays stay on the host;
//   - the outputs are every OUT / OPT output (shaped like the input of that name, else [count]),
//     a double* output (on the host, or doubles in backend memory: a training step's statistics)
//     as floats plus `<name>.lo` (the remainder, so hi + lo is the double),
//     a double result as `result` (write_double's [hi, lo]) and optim::GradStats as `finite` [1]
//     and `norm` ([hi, lo]).
// A uint32_t* array (dropout's mask) travels as a float array holding the words' bits.
// An attribute or input that no parameter reads is ERR_PFGM_ARGUMENT, so a misspelt name cannot
// go unnoticed. test/native/backend-ops.test.ts checks the cases against references in
// TypeScript and the devices against each other.
#include <cmath>
#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "cases/op_cases.h"
#include "errors.h"
#include "nn/backend.h"

namespace pfgm::opcases {
namespace {

enum class Contract { kIn, kOut, kOpt, kHost };

// One call of one op on one backend: its attributes and inputs (each read once), the pointer
// contracts of its entry, the arrays it allocated (released when it ends) and its outputs.
class Call {
 public:
  Call(nn::Backend& be, std::string op, const Attrs& attrs, const Tensors& in, Tensors& out)
      : be_(be), op_(std::move(op)), attrs_(attrs), in_(in), out_(out) {}
  ~Call() {
    for (float* p : device_) be_.release(p);
  }
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;

  [[noreturn]] void fail_argument(const std::string& what) const {
    fail(code::kArgument, op_ + ": " + what);
  }

  // --- attributes ------------------------------------------------------------------------------
  bool has(const std::string& name) const { return attrs_.count(name) != 0; }
  double number(const std::string& name) {
    auto it = attrs_.find(name);
    if (it == attrs_.end()) fail_argument("attribute '" + name + "' is missing");
    if (it->second.size() != 1) fail_argument("attribute '" + name + "' must be one number");
    used_attrs_.insert(name);
    return it->second[0];
  }
  double number(const std::string& name, double fallback) {
    return has(name) ? number(name) : fallback;
  }
  const std::vector<double>* list(const std::string& name) {
    auto it = attrs_.find(name);
    if (it == attrs_.end()) return nullptr;
    used_attrs_.insert(name);
    return &it->second;
  }
  template <typename T>
  T whole(const std::string& name, double v) {
    if (!(std::floor(v) == v) || v < static_cast<double>(std::numeric_limits<T>::min()) ||
        v > static_cast<double>(std::numeric_limits<T>::max())) {
      fail_argument("attribute '" + name + "' must be a whole number that fits its type");
    }
    return static_cast<T>(v);
  }
  template <typename T>
  T integer(const std::string& name) {
    return whole<T>(name, number(name));
  }
  template <typename T>
  T integer(const std::string& name, T fallback) {
    return has(name) ? integer<T>(name) : fallback;
  }

  // An array on the host that lives as long as the call (a struct's host field, a HOST input).
  template <typename T>
  T* host_array(const std::string& key, const std::vector<double>& values) {
    std::vector<T>& v = host_storage<T>().emplace_back(values.begin(), values.end());
    host_counts_[key] = static_cast<int64_t>(v.size());
    return v.data();
  }

  // A struct the op reads through a host pointer, alive as long as the call.
  template <typename T>
  const T* hold(const T& value) {
    auto p = std::make_shared<const T>(value);
    held_.push_back(p);
    return p.get();
  }

  // --- pointer contracts (the entry's checks, recorded before any pointer is bound) -------------
  void contract(const std::string& name, Contract kind, int64_t count) {
    if (count < 0) fail(code::kShape, op_ + ": '" + name + "' would hold a negative count");
    contracts_[name] = {kind, count};
  }

  // Struct fields that are host arrays (s.f, spec.sigma): the list's count against the array.
  void check_struct_hosts() {
    for (const auto& [name, c] : contracts_) {
      if (name.find('.') == std::string::npos) continue;
      auto it = host_counts_.find(name);
      if (it == host_counts_.end()) continue;  // a null field (the op's documented default)
      if (it->second != c.count) {
        fail(code::kShape, op_ + ": '" + name + "' holds " + std::to_string(it->second) +
                               " values, the op reads " + std::to_string(c.count));
      }
    }
  }

  const float* bind_input(const std::string& name) {
    const auto [kind, count] = find_contract(name);
    const HostTensor* t = take_input(name);
    if (t == nullptr) {
      if (kind == Contract::kOpt) return nullptr;
      fail_argument("input '" + name + "' is missing");
    }
    require_count(name, *t, count);
    if (kind == Contract::kHost) return host_array<float>(name, {t->data.begin(), t->data.end()});
    if (kind != Contract::kIn && kind != Contract::kOpt) {
      fail(code::kInternal, op_ + ": const pointer '" + name + "' is checked as an output");
    }
    float* p = allocate(count);
    be_.upload(count, t->data.data(), p);
    return p;
  }

  // `doubles`: the array holds doubles (count / 2 of them), returned as a host double output is.
  float* bind_output(const std::string& name, bool doubles = false) {
    const auto [kind, count] = find_contract(name);
    if (kind != Contract::kOut && kind != Contract::kOpt) {
      fail(code::kInternal, op_ + ": output '" + name + "' is checked as neither OUT nor OPT");
    }
    if (has(name)) {
      if (kind != Contract::kOpt || number(name) != 0) {
        fail_argument("attribute '" + name + "' may only be 0 (null), for an optional output");
      }
      if (const HostTensor* t = take_input(name); t != nullptr) {
        fail_argument("input '" + name + "' is given for a null output");
      }
      return nullptr;
    }
    const HostTensor* init = take_input(name);
    if (init != nullptr) require_count(name, *init, count);
    float* p = allocate(count);
    if (init != nullptr) be_.upload(count, init->data.data(), p);
    outputs_.push_back(
        {name, init != nullptr ? init->shape : std::vector<int64_t>{count}, p, doubles});
    return p;
  }

  bool is_host(const std::string& name) const {
    return find_contract(name).kind == Contract::kHost;
  }

  double* bind_host_output(const std::string& name) {
    const auto [kind, count] = find_contract(name);
    if (kind != Contract::kHost) {
      fail(code::kInternal, op_ + ": double* '" + name + "' must be checked HOST");
    }
    double* p = host_array<double>(name, std::vector<double>(static_cast<size_t>(count), 0.0));
    host_outputs_.push_back({name, p, count});
    return p;
  }

  // After the op: every output to the host, and anything the case was given but did not read.
  void finish() {
    std::deque<std::vector<double>> device_doubles;
    for (const Output& o : outputs_) {
      if (!o.doubles) {
        be_.download(numel(o.shape), o.ptr, output(out_, o.name, o.shape));
        continue;
      }
      std::vector<double>& d = device_doubles.emplace_back(static_cast<size_t>(numel(o.shape) / 2));
      be_.download(numel(o.shape), o.ptr, reinterpret_cast<float*>(d.data()));
      write_doubles(o.name, d.data(), static_cast<int64_t>(d.size()));
    }
    for (const HostOutput& o : host_outputs_) write_doubles(o.name, o.ptr, o.count);
  }

  void require_all_read() const {
    for (const auto& [name, v] : attrs_) {
      if (used_attrs_.count(name) == 0) {
        fail_argument("no parameter reads attribute '" + name + "'");
      }
    }
    for (const auto& [name, t] : in_) {
      if (used_inputs_.count(name) == 0) fail_argument("no parameter reads input '" + name + "'");
    }
  }

  Tensors& out() { return out_; }

 private:
  // Doubles as floats `name` plus their remainders `name.lo` (hi + lo is the double).
  void write_doubles(const std::string& name, const double* v, int64_t count) {
    float* hi = output(out_, name, {count});
    float* lo = output(out_, name + ".lo", {count});
    for (int64_t i = 0; i < count; ++i) {
      hi[i] = static_cast<float>(v[i]);
      lo[i] = static_cast<float>(v[i] - static_cast<double>(hi[i]));
    }
  }

  struct Checked {
    Contract kind;
    int64_t count;
  };
  struct Output {
    std::string name;
    std::vector<int64_t> shape;
    float* ptr;
    bool doubles;
  };
  struct HostOutput {
    std::string name;
    double* ptr;
    int64_t count;
  };

  Checked find_contract(const std::string& name) const {
    auto it = contracts_.find(name);
    if (it == contracts_.end()) {
      fail(code::kInternal, op_ + ": pointer '" + name + "' has no check in backend_ops.h");
    }
    return it->second;
  }
  const HostTensor* take_input(const std::string& name) {
    const HostTensor* t = optional_input(in_, name);
    if (t != nullptr) used_inputs_.insert(name);
    return t;
  }
  void require_count(const std::string& name, const HostTensor& t, int64_t count) const {
    if (numel(t.shape) != count) {
      fail(code::kShape, op_ + ": input '" + name + "' holds " + std::to_string(numel(t.shape)) +
                             " values, the op reads " + std::to_string(count));
    }
  }
  float* allocate(int64_t count) {
    float* p = be_.allocate(count);
    device_.push_back(p);
    return p;
  }
  template <typename T>
  std::deque<std::vector<T>>& host_storage() {
    if constexpr (std::is_same_v<T, float>) {
      return host_floats_;
    } else {
      return host_doubles_;
    }
  }

  nn::Backend& be_;
  std::string op_;
  const Attrs& attrs_;
  const Tensors& in_;
  Tensors& out_;
  std::set<std::string> used_attrs_, used_inputs_;
  std::map<std::string, Checked> contracts_;
  std::map<std::string, int64_t> host_counts_;
  std::deque<std::vector<float>> host_floats_;  // deques: the arrays never move
  std::deque<std::vector<double>> host_doubles_;
  std::vector<std::shared_ptr<const void>> held_;
  std::vector<float*> device_;
  std::vector<Output> outputs_;
  std::vector<HostOutput> host_outputs_;
};

// --- one converter per parameter type: read(call, parameter name) -> the argument --------------
template <typename T, typename = void>
struct Convert;  // a parameter type without a converter fails to compile here: add one below

template <typename T>
struct Convert<T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>>> {
  static T read(Call& c, const std::string& name) { return c.integer<T>(name); }
};
template <>
struct Convert<bool> {
  static bool read(Call& c, const std::string& name) {
    const double v = c.number(name);
    if (v != 0 && v != 1) c.fail_argument("attribute '" + name + "' must be a boolean (0 or 1)");
    return v != 0;
  }
};
template <typename T>
struct Convert<T, std::enable_if_t<std::is_floating_point_v<T>>> {
  static T read(Call& c, const std::string& name) { return static_cast<T>(c.number(name)); }
};

// Pointers are null until the checks have sized them; bind() then places them.
template <>
struct Convert<const float*> {
  static const float* read(Call&, const std::string&) { return nullptr; }
  static const float* bind(Call& c, const std::string& name) { return c.bind_input(name); }
};
template <>
struct Convert<float*> {
  static float* read(Call&, const std::string&) { return nullptr; }
  static float* bind(Call& c, const std::string& name) { return c.bind_output(name); }
};
// 32-bit words (dropout's mask): float arrays of the backend whose bits are the words, so the
// test reads and writes them through a Uint32Array over the Float32Array's buffer.
template <>
struct Convert<const uint32_t*> {
  static const uint32_t* read(Call&, const std::string&) { return nullptr; }
  static const uint32_t* bind(Call& c, const std::string& name) {
    return reinterpret_cast<const uint32_t*>(c.bind_input(name));
  }
};
template <>
struct Convert<uint32_t*> {
  static uint32_t* read(Call&, const std::string&) { return nullptr; }
  static uint32_t* bind(Call& c, const std::string& name) {
    return reinterpret_cast<uint32_t*>(c.bind_output(name));
  }
};
// double*: a host output (checked HOST), or doubles in backend memory (OUT, counted in floats:
// a training step's loss and statistics), returned as host double outputs are; an initial value
// or a const double* input travels as a float array holding the doubles' bits.
template <>
struct Convert<double*> {
  static double* read(Call&, const std::string&) { return nullptr; }
  static double* bind(Call& c, const std::string& name) {
    if (c.is_host(name)) return c.bind_host_output(name);
    return reinterpret_cast<double*>(c.bind_output(name, true));
  }
};
template <>
struct Convert<const double*> {
  static const double* read(Call&, const std::string&) { return nullptr; }
  static const double* bind(Call& c, const std::string& name) {
    return reinterpret_cast<const double*>(c.bind_input(name));
  }
};
// Adam's step constants from lr, beta1, beta2, eps, t (adam_coefs), grad_clip and ema_beta.
template <>
struct Convert<const optim::AdamStep*> {
  static const optim::AdamStep* read(Call&, const std::string&) { return nullptr; }
  static const optim::AdamStep* bind(Call& c, const std::string&) {
    optim::AdamStep s{};
    s.coefs = optim::adam_coefs(c.number("lr"), c.number("beta1"), c.number("beta2"),
                                c.number("eps"), c.integer<int64_t>("t"), 1.0f);
    s.grad_clip = c.number("grad_clip", 0.0);
    s.ema_beta = static_cast<float>(c.number("ema_beta", 0.0));
    return c.hold(s);
  }
};

template <>
struct Convert<op::LinearShape> {
  static op::LinearShape read(Call& c, const std::string&) {
    return {c.integer<int64_t>("rows"), c.integer<int64_t>("in"), c.integer<int64_t>("out")};
  }
};
template <>
struct Convert<op::Conv2dShape> {
  static op::Conv2dShape read(Call& c, const std::string&) {
    op::Conv2dShape s{};
    s.n = c.integer<int64_t>("n");
    s.h = c.integer<int64_t>("h");
    s.w = c.integer<int64_t>("w");
    s.cin = c.integer<int64_t>("cin");
    s.cout = c.integer<int64_t>("cout");
    s.k = c.integer<int64_t>("k");
    s.stride = c.integer<int64_t>("stride", int64_t{1});
    s.pad = c.integer<int64_t>("pad", int64_t{0});
    return s;
  }
};
// kh, kw, stride_h, stride_w (1), pad_h, pad_w (0) and relu (0 / 1) beside n, h, w, cin, cout.
template <>
struct Convert<op::ConvInferenceShape> {
  static op::ConvInferenceShape read(Call& c, const std::string&) {
    op::ConvInferenceShape s{};
    s.n = c.integer<int64_t>("n");
    s.h = c.integer<int64_t>("h");
    s.w = c.integer<int64_t>("w");
    s.g.cin = c.integer<int64_t>("cin");
    s.g.cout = c.integer<int64_t>("cout");
    s.g.kh = c.integer<int64_t>("kh");
    s.g.kw = c.integer<int64_t>("kw");
    s.g.stride_h = c.integer<int64_t>("stride_h", int64_t{1});
    s.g.stride_w = c.integer<int64_t>("stride_w", int64_t{1});
    s.g.pad_h = c.integer<int64_t>("pad_h", int64_t{0});
    s.g.pad_w = c.integer<int64_t>("pad_w", int64_t{0});
    s.relu = Convert<bool>::read(c, "relu");
    return s;
  }
};
// An activation's n, h, w, c.
template <>
struct Convert<op::Nhwc> {
  static op::Nhwc read(Call& c, const std::string&) {
    return {c.integer<int64_t>("n"), c.integer<int64_t>("h"), c.integer<int64_t>("w"),
            c.integer<int64_t>("c")};
  }
};
// The input's n, h, w, c; the window kh, kw; stride_h, stride_w (1); pad_h, pad_w (0).
template <>
struct Convert<op::Pool2dShape> {
  static op::Pool2dShape read(Call& c, const std::string& name) {
    op::Pool2dShape s{};
    s.in = Convert<op::Nhwc>::read(c, name);
    s.kh = c.integer<int64_t>("kh");
    s.kw = c.integer<int64_t>("kw");
    s.stride_h = c.integer<int64_t>("stride_h", int64_t{1});
    s.stride_w = c.integer<int64_t>("stride_w", int64_t{1});
    s.pad_h = c.integer<int64_t>("pad_h", int64_t{0});
    s.pad_w = c.integer<int64_t>("pad_w", int64_t{0});
    return s;
  }
};
template <>
struct Convert<op::AttentionShape> {
  static op::AttentionShape read(Call& c, const std::string&) {
    return {c.integer<int64_t>("n"), c.integer<int64_t>("hw"), c.integer<int64_t>("c"),
            c.integer<int64_t>("heads")};
  }
};
// The input activation's n, h, w, c; the taps `f` as a list (taps = its length); pad.
template <>
struct Convert<op::ResampleShape> {
  static op::ResampleShape read(Call& c, const std::string& name) {
    op::ResampleShape s{};
    s.in = {c.integer<int64_t>("n"), c.integer<int64_t>("h"), c.integer<int64_t>("w"),
            c.integer<int64_t>("c")};
    const std::vector<double>* f = c.list("f");
    if (f == nullptr || f->empty()) c.fail_argument("attribute 'f' (the filter taps) is missing");
    s.f = c.host_array<float>(name + ".f", *f);
    s.taps = static_cast<int64_t>(f->size());
    s.pad = c.integer<int64_t>("pad");
    return s;
  }
};
template <>
struct Convert<op::GroupNormShape> {
  static op::GroupNormShape read(Call& c, const std::string&) {
    op::GroupNormShape s{};
    s.n = c.integer<int64_t>("n");
    s.hw = c.integer<int64_t>("hw");
    s.c = c.integer<int64_t>("c");
    s.groups = c.integer<int64_t>("groups");
    s.eps = static_cast<float>(c.number("eps"));
    s.silu = Convert<bool>::read(c, "silu");
    return s;
  }
};
template <>
struct Convert<op::DropoutSpec> {
  static op::DropoutSpec read(Call& c, const std::string&) {
    op::DropoutSpec s{};
    s.samples = c.integer<int64_t>("samples");
    s.per_sample = c.integer<int64_t>("per_sample");
    s.p = static_cast<float>(c.number("p"));
    s.seed = c.integer<uint64_t>("seed");
    s.sample_offset = c.integer<uint64_t>("sample_offset", uint64_t{0});
    s.step = c.integer<uint32_t>("step", uint32_t{0});
    s.site = c.integer<uint32_t>("site", uint32_t{0});
    return s;
  }
};
template <>
struct Convert<op::LabelInputSpec> {
  static op::LabelInputSpec read(Call& c, const std::string&) {
    op::LabelInputSpec s{};
    s.n = c.integer<int64_t>("n");
    s.label_dim = c.integer<int64_t>("label_dim");
    s.p = static_cast<float>(c.number("p", 0.0));
    s.training = c.has("training") && Convert<bool>::read(c, "training");
    s.seed = c.integer<uint64_t>("seed", uint64_t{0});
    s.sample_offset = c.integer<uint64_t>("sample_offset", uint64_t{0});
    s.step = c.integer<uint32_t>("step", uint32_t{0});
    return s;
  }
};
// count, n, D (Infinity is not a number attribute: D <= 0 means +inf, the Gaussian limit),
// per-sample `sigma` as a list or `sigma_scalar`, the streams' seed / sample_offset / step (no
// per-sample seeds), purpose_gauss, purpose_chi2, clip_min (0), clip_max (0: none).
template <>
struct Convert<NoiseSpec> {
  static NoiseSpec read(Call& c, const std::string& name) {
    NoiseSpec s{};
    s.count = c.integer<int64_t>("count");
    s.n = c.integer<int64_t>("n");
    const double d = c.number("D");
    s.D = d > 0 ? d : INFINITY;
    const std::vector<double>* sigma = c.list("sigma");
    s.sigma = sigma != nullptr ? c.host_array<double>(name + ".sigma", *sigma) : nullptr;
    s.sigma_scalar = c.number("sigma_scalar", 0.0);
    s.streams.seeds = nullptr;
    s.streams.seed = c.integer<uint64_t>("seed");
    s.streams.sample_offset = c.integer<uint64_t>("sample_offset", uint64_t{0});
    s.streams.step = c.integer<uint32_t>("step", uint32_t{0});
    s.purpose_gauss = c.integer<uint32_t>("purpose_gauss");
    s.purpose_chi2 = c.integer<uint32_t>("purpose_chi2");
    s.clip_min = c.number("clip_min", 0.0);
    const double clip_max = c.number("clip_max", 0.0);
    s.clip_max = clip_max > 0 ? clip_max : INFINITY;
    return s;
  }
};

// --- one writer per return type -----------------------------------------------------------------
void write_result(Call& c, double v) { write_double(c.out(), "result", v); }
void write_result(Call& c, const optim::GradStats& g) {
  output(c.out(), "finite", {1})[0] = g.finite ? 1.0f : 0.0f;
  write_double(c.out(), "norm", g.norm);
}

// "(s, x, y)" -> {"s", "x", "y"}.
std::vector<std::string> split_names(const char* text) {
  std::vector<std::string> names(1);
  for (const char* p = text; *p != '\0'; ++p) {
    if (*p == ',') {
      names.emplace_back();
    } else if (*p != '(' && *p != ')' && *p != ' ' && *p != '\n') {
      names.back() += *p;
    }
  }
  return names;
}

// Places pointer argument I once the checks have sized it.
template <size_t I, typename Tuple>
void bind_pointer(Call& c, Tuple& args, const std::string& name) {
  using T = std::tuple_element_t<I, Tuple>;
  if constexpr (std::is_pointer_v<T>) std::get<I>(args) = Convert<T>::bind(c, name);
}

// Reads the arguments, runs the entry's checks on them (which size the pointers), binds the
// pointers, calls the op on the backend and collects the outputs.
template <typename R, typename... P, typename Checks, size_t... I>
void run(nn::Backend& be, Call& c, R (nn::Backend::*op)(P...), const std::vector<std::string>& n,
         Checks checks, std::index_sequence<I...>) {
  std::tuple<std::decay_t<P>...> args{Convert<std::decay_t<P>>::read(c, n[I])...};
  std::apply(checks, args);
  c.check_struct_hosts();
  (bind_pointer<I>(c, args, n[I]), ...);
  c.require_all_read();
  if constexpr (std::is_void_v<R>) {
    std::apply([&](auto&... a) { (be.*op)(a...); }, args);
  } else {
    const R r = std::apply([&](auto&... a) { return (be.*op)(a...); }, args);
    write_result(c, r);
  }
  c.finish();
}

template <typename R, typename... P, typename Checks>
void run(nn::Backend& be, Call& c, R (nn::Backend::*op)(P...), const char* arg_names,
         Checks checks) {
  const std::vector<std::string> names = split_names(arg_names);
  if (names.size() != sizeof...(P)) {
    fail(code::kInternal, "backend_ops.h: an entry's (arguments) do not match its parameters");
  }
  run(be, c, op, names, checks, std::index_sequence_for<P...>{});
}

// The entry's checks as a lambda over the op's own parameters, so that the counts read them by
// name; it records each pointer's contract (the pointers themselves are not bound yet).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#define IN(p, count) pfgm_call.contract(#p, Contract::kIn, (count));
#define OUT(p, count) pfgm_call.contract(#p, Contract::kOut, (count));
#define OPT(p, count) pfgm_call.contract(#p, Contract::kOpt, (count));
#define HOST(p, count, what) pfgm_call.contract(#p, Contract::kHost, (count));
#define PFGM_BACKEND_CASE(kind, ret, name, label, params, args, checks)                           \
  const BackendCaseRegistrar pfgm_backend_case_##name(                                            \
      "backend." #name, [](nn::Backend& pfgm_be, const Attrs& pfgm_attrs, const Tensors& pfgm_in, \
                           Tensors& pfgm_out) {                                                   \
        Call pfgm_call(pfgm_be, "backend." #name, pfgm_attrs, pfgm_in, pfgm_out);                 \
        run(pfgm_be, pfgm_call, &nn::Backend::name, #args,                                        \
            [&pfgm_call](PFGM_OP_UNPAREN params) { checks });                                     \
      });
PFGM_BACKEND_OPS(PFGM_BACKEND_CASE)
#undef PFGM_BACKEND_CASE
#undef HOST
#undef OPT
#undef OUT
#undef IN
#pragma GCC diagnostic pop

}  // namespace
}  // namespace pfgm::opcases
