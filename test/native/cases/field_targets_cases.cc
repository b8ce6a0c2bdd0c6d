// Op cases for the closed-form field targets (field_targets.h): the door through which
// test/native/field-targets.test.ts checks them against float64 references
// (test/fixtures/gen/field_targets.py) and closed-form limits.
//
// Inputs: x [queries, ...] and y [refs, ...] with the same trailing dimensions (n = their product,
// so images may stay [b, h, w, c]); sigma [queries] for the posterior, z [queries] for PFGM.
// Attributes:
//   D      augmented dimensions, > 0. JS may pass +Infinity directly; JSON (the fixture metadata)
//          cannot hold Infinity, so `D_inf: 1` (or true) selects D = inf and D is then omitted.
//          Negative or zero D is an error rather than a code for infinity: a sign slip in a caller
//          should not silently turn PFGM++ into EDM.
//   gamma  PFGM's normalisation constant, finite and >= 0; default 5 (docs/method.md §3).
//   widen  0 runs the float path of the kernels (see set_widen_limit); default 1.
// Outputs: "logw" [queries, refs] (posterior_log_weights), "mean" shaped like x (posterior_mean),
// "v" [queries, n + 1] (pfgm_field_target: n data components, then z).
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "errors.h"
#include "objectives/field_targets.h"
#include "op_cases.h"

namespace {

using pfgm::code::kArgument;
using pfgm::code::kShape;
using pfgm::opcases::attr;
using pfgm::opcases::Attrs;
using pfgm::opcases::HostTensor;
using pfgm::opcases::input;
using pfgm::opcases::output;
using pfgm::opcases::Tensors;

using pfgm::opcases::shape_text;

// The sizes of one problem, read from x and y.
struct Problem {
  int64_t queries, refs, n;
};

Problem problem(const std::string& op, const HostTensor& x, const HostTensor& y) {
  if (x.shape.size() < 2) {
    pfgm::fail(kShape, op + ": 'x' must be [queries, ...] with at least one data dimension, got " +
                           shape_text(x.shape));
  }
  if (y.shape.size() != x.shape.size()) {
    pfgm::fail(kShape, op + ": 'y' must be [refs, ...] with the data dimensions of 'x' " +
                           shape_text(x.shape) + ", got " + shape_text(y.shape));
  }
  int64_t n = 1;
  for (size_t d = 1; d < x.shape.size(); ++d) {
    if (y.shape[d] != x.shape[d]) {
      pfgm::fail(kShape, op + ": 'y' " + shape_text(y.shape) +
                             " does not share the data dimensions of 'x' " + shape_text(x.shape));
    }
    n *= x.shape[d];
  }
  const Problem p{x.shape[0], y.shape[0], n};
  if (p.queries < 1 || p.refs < 1 || p.n < 1) {
    pfgm::fail(kShape, op + ": needs at least one query, one reference and one data dimension;" +
                           " got x " + shape_text(x.shape) + ", y " + shape_text(y.shape));
  }
  return p;
}

// One value per query, e.g. sigma [queries] (a trailing 1, [queries, 1], is accepted as well).
const HostTensor& per_query(const std::string& op, const Tensors& in, const std::string& name,
                            int64_t queries) {
  const HostTensor& t = input(in, name);
  const bool ok = (t.shape.size() == 1 && t.shape[0] == queries) ||
                  (t.shape.size() == 2 && t.shape[0] == queries && t.shape[1] == 1);
  if (!ok) {
    pfgm::fail(kShape, op + ": '" + name + "' must have shape [" + std::to_string(queries) +
                           "], one value per query, got " + shape_text(t.shape));
  }
  return t;
}

// D from the attributes: finite and > 0, or +inf given as Infinity or as D_inf: 1.
double read_D(const std::string& op, const Attrs& a) {
  const bool inf_flag = attr(a, "D_inf", 0.0) != 0.0;
  const double nan = std::nan("");
  const double d = attr(a, "D", nan);
  if (inf_flag) {
    if (!std::isnan(d) && !std::isinf(d)) {
      pfgm::fail(kArgument, op + ": D_inf is set but D = " + std::to_string(d) + " is finite");
    }
    return std::numeric_limits<double>::infinity();
  }
  if (std::isnan(d)) pfgm::fail(kArgument, op + ": attribute 'D' (or D_inf: 1) is required");
  if (!(d > 0.0)) {
    pfgm::fail(kArgument,
               op + ": D must be > 0 (or +Infinity / D_inf: 1), got " + std::to_string(d));
  }
  return d;
}

// Attribute widen: 0 runs the kernels' float path (no double copy of the references) on this
// thread for the duration of the case, so tests can check both paths on small inputs.
class WidenScope {
 public:
  explicit WidenScope(const Attrs& a)
      : previous_(pfgm::cpu::set_widen_limit(
            attr(a, "widen", 1.0) != 0.0 ? pfgm::cpu::kDefaultWidenLimit : 0)) {}
  ~WidenScope() { pfgm::cpu::set_widen_limit(previous_); }
  WidenScope(const WidenScope&) = delete;
  WidenScope& operator=(const WidenScope&) = delete;

 private:
  int64_t previous_;
};

// sigma in double; each must be finite and > 0 (sigma = 0 has no posterior to normalise).
std::vector<double> read_sigma(const std::string& op, const HostTensor& s) {
  std::vector<double> sigma(s.data.begin(), s.data.end());
  for (size_t i = 0; i < sigma.size(); ++i) {
    if (!(sigma[i] > 0.0 && std::isfinite(sigma[i]))) {
      pfgm::fail(kArgument, op + ": sigma[" + std::to_string(i) + "] must be finite and > 0, got " +
                                std::to_string(sigma[i]));
    }
  }
  return sigma;
}

// Inputs x [queries, ...], y [refs, ...], sigma [queries]; attrs D or D_inf. Output logw
// [queries, refs] (stored fp32: log-probabilities, so absolute error is what the tests bound).
PFGM_OP_CASE("posterior_log_weights", [](const Attrs& a, const Tensors& in, Tensors& out) {
  const std::string op = "posterior_log_weights";
  const HostTensor& x = input(in, "x");
  const HostTensor& y = input(in, "y");
  const Problem p = problem(op, x, y);
  const std::vector<double> sigma = read_sigma(op, per_query(op, in, "sigma", p.queries));
  const double D = read_D(op, a);
  std::vector<double> logw(static_cast<size_t>(p.queries * p.refs));
  const WidenScope widen(a);
  pfgm::cpu::posterior_log_weights(p.queries, p.refs, p.n, D, x.data.data(), y.data.data(),
                                   sigma.data(), logw.data());
  float* o = output(out, "logw", {p.queries, p.refs});
  for (size_t i = 0; i < logw.size(); ++i) o[i] = static_cast<float>(logw[i]);
});

// Inputs x [queries, ...], y [refs, ...], sigma [queries]; attrs D or D_inf. Output mean, shaped
// like x: the ideal denoiser E[y | x, sigma] over the references.
PFGM_OP_CASE("posterior_mean", [](const Attrs& a, const Tensors& in, Tensors& out) {
  const std::string op = "posterior_mean";
  const HostTensor& x = input(in, "x");
  const HostTensor& y = input(in, "y");
  const Problem p = problem(op, x, y);
  const std::vector<double> sigma = read_sigma(op, per_query(op, in, "sigma", p.queries));
  const double D = read_D(op, a);
  const WidenScope widen(a);
  pfgm::cpu::posterior_mean(p.queries, p.refs, p.n, D, x.data.data(), y.data.data(), sigma.data(),
                            output(out, "mean", x.shape));
});

// Inputs x [queries, ...], z [queries], y [refs, ...]; attr gamma (default 5). Output v
// [queries, n + 1].
PFGM_OP_CASE("pfgm_field_target", [](const Attrs& a, const Tensors& in, Tensors& out) {
  const std::string op = "pfgm_field_target";
  const HostTensor& x = input(in, "x");
  const HostTensor& y = input(in, "y");
  const Problem p = problem(op, x, y);
  const HostTensor& z = per_query(op, in, "z", p.queries);
  for (size_t i = 0; i < z.data.size(); ++i) {
    if (!std::isfinite(z.data[i])) {
      pfgm::fail(kArgument, op + ": z[" + std::to_string(i) + "] must be finite");
    }
  }
  const double gamma = attr(a, "gamma", 5.0);
  if (!(gamma >= 0.0 && std::isfinite(gamma))) {
    pfgm::fail(kArgument, op + ": gamma must be finite and >= 0, got " + std::to_string(gamma));
  }
  const WidenScope widen(a);
  pfgm::cpu::pfgm_field_target(p.queries, p.refs, p.n, x.data.data(), z.data.data(), y.data.data(),
                               gamma, output(out, "v", {p.queries, p.n + 1}));
});

// Times posterior_mean on generated data: attrs queries, refs, n, sigma (default 1), D or D_inf,
// iters (default 10), widen. Output ms: the mean time per call after one warm-up call.
PFGM_OP_CASE("posterior_mean_bench", [](const Attrs& a, const Tensors&, Tensors& out) {
  const std::string op = "posterior_mean_bench";
  auto size = [&](const char* name, double fallback, double hi) {
    const double v = attr(a, name, fallback);
    if (!(v >= 1.0 && v <= hi) || v != std::floor(v)) {
      pfgm::fail(kArgument, op + ": '" + name + "' must be an integer in [1, " +
                                std::to_string(static_cast<int64_t>(hi)) + "]");
    }
    return static_cast<int64_t>(v);
  };
  const int64_t queries = size("queries", 64, 1 << 16);
  const int64_t refs = size("refs", 256, 1 << 16);
  const int64_t n = size("n", 784, 1 << 20);
  const int64_t iters = size("iters", 10, 1e6);
  if (static_cast<double>(queries + refs) * n > static_cast<double>(int64_t{1} << 28)) {
    pfgm::fail(kShape, op + ": at most 2^28 input elements");
  }
  const double D = read_D(op, a);
  const double s = attr(a, "sigma", 1.0);
  if (!(s > 0.0 && std::isfinite(s))) pfgm::fail(kArgument, op + ": sigma must be finite and > 0");
  // Deterministic data in [-1, 1): the cost depends on how many weights survive, so the data must
  // look like images, not zeros.
  uint32_t state = 2024u;
  auto next = [&state]() {
    state = state * 1664525u + 1013904223u;
    return static_cast<float>(state >> 8) * (2.0f / 16777216.0f) - 1.0f;
  };
  std::vector<float> x(static_cast<size_t>(queries * n)), y(static_cast<size_t>(refs * n)),
      mean(x.size());
  for (float& v : x) v = next();
  for (float& v : y) v = next();
  const std::vector<double> sigma(static_cast<size_t>(queries), s);
  const WidenScope widen(a);
  using clock = std::chrono::steady_clock;
  double total = 0.0;
  for (int64_t it = -1; it < iters; ++it) {  // iteration -1 warms caches and threads
    const auto t0 = clock::now();
    pfgm::cpu::posterior_mean(queries, refs, n, D, x.data(), y.data(), sigma.data(), mean.data());
    const auto t1 = clock::now();
    if (it >= 0) total += std::chrono::duration<double, std::milli>(t1 - t0).count();
  }
  output(out, "ms", {1})[0] = static_cast<float>(total / static_cast<double>(iters));
});

}  // namespace
