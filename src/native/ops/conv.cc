// Convolutions through oneDNN (docs/dev/architecture.md, "The native engine"). Activations stay
// NHWC, the engine's layout, so no activation is ever reordered; weights arrive in PyTorch's OIHW
// and are reordered on each call into the layout the chosen kernel prefers (format_tag::any): that
// reorder is small next to the convolution and lets oneDNN pick its blocked direct kernels.
// Primitives are made once per shape and kept, so a training step creates none. The 3x3,
// stride-1, padding-1 convolutions go to the Winograd path (conv_winograd.h) where a measured
// table says it is faster (docs/dev/architecture.md, "Convolution algorithms (CPU)").
#include "conv.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "conv_winograd.h"
#include "onednn.h"

namespace pfgm::cpu {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;
using onednn::engine;
using onednn::f32_desc;
using onednn::wrap;

std::string describe(const op::Conv2dShape& s) {
  return "conv2d n=" + std::to_string(s.n) + " h=" + std::to_string(s.h) +
         " w=" + std::to_string(s.w) + " cin=" + std::to_string(s.cin) +
         " cout=" + std::to_string(s.cout) + " k=" + std::to_string(s.k) +
         " stride=" + std::to_string(s.stride) + " pad=" + std::to_string(s.pad);
}

void check_shape(const op::Conv2dShape& s) {
  const bool sizes_ok = s.n >= 0 && s.h >= 1 && s.w >= 1 && s.cin >= 1 && s.cout >= 1 && s.k >= 1 &&
                        s.stride >= 1 && s.pad >= 0;
  // Checked before oh()/ow(), whose integer division would round a negative extent up to 1.
  if (!sizes_ok || s.h + 2 * s.pad < s.k || s.w + 2 * s.pad < s.k) {
    fail(code::kShape,
         describe(s) + ": sizes must be positive and the padded input at least the kernel");
  }
}

// The tensors of one convolution as oneDNN sees them (dims always N, C, H, W; layout by tag).
struct Descs {
  memory::desc src, dst, bias, weights_user, weights_any;
  memory::dims strides, pad;
};

Descs descs_of(const op::Conv2dShape& s) {
  return {f32_desc({s.n, s.cin, s.h, s.w}, Tag::nhwc),
          f32_desc({s.n, s.cout, s.oh(), s.ow()}, Tag::nhwc),
          f32_desc({s.cout}, Tag::a),
          f32_desc({s.cout, s.cin, s.k, s.k}, Tag::oihw),
          f32_desc({s.cout, s.cin, s.k, s.k}, Tag::any),
          {s.stride, s.stride},
          {s.pad, s.pad}};
}

struct Reorder {
  dnnl::reorder::primitive_desc pd;
  dnnl::reorder prim;
};

// A reorder between two layouts of the weights, or none when they are the same layout.
std::optional<Reorder> reorder_between(const memory::desc& from, const memory::desc& to) {
  if (from == to) return std::nullopt;
  dnnl::reorder::primitive_desc pd(engine(), from, engine(), to, onednn::user_scratchpad());
  return Reorder{pd, dnnl::reorder(pd)};
}

struct Forward {
  dnnl::convolution_forward::primitive_desc pd;
  dnnl::convolution_forward prim;
  std::optional<Reorder> weights_in;  // OIHW -> pd.weights_desc()
};

struct Backward {
  dnnl::convolution_backward_data::primitive_desc data_pd;
  dnnl::convolution_backward_data data;
  std::optional<Reorder> weights_in;  // OIHW -> data_pd.weights_desc()
  dnnl::convolution_backward_weights::primitive_desc weights_pd;
  dnnl::convolution_backward_weights weights;
  std::optional<Reorder> dweights_out;  // weights_pd.diff_weights_desc() -> OIHW
};

std::unique_ptr<Forward> make_forward(const op::Conv2dShape& s) {
  const Descs d = descs_of(s);
  // Always with bias (zeros when the caller has none): one primitive per shape, and the fused bias
  // add costs nothing measurable. forward_training because backward primitives need it as a hint.
  dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_training,
                                       dnnl::algorithm::convolution_direct, d.src, d.weights_any,
                                       d.bias, d.dst, d.strides, d.pad, d.pad);
  dnnl::convolution_forward::primitive_desc pd(desc, onednn::user_scratchpad(), engine());
  return std::make_unique<Forward>(Forward{pd, dnnl::convolution_forward(pd),
                                           reorder_between(d.weights_user, pd.weights_desc())});
}

std::unique_ptr<Backward> make_backward(const op::Conv2dShape& s,
                                        const dnnl::convolution_forward::primitive_desc& fwd) {
  const Descs d = descs_of(s);
  const auto algo = dnnl::algorithm::convolution_direct;
  dnnl::convolution_backward_data::desc data_desc(algo, d.src, d.weights_any, d.dst, d.strides,
                                                  d.pad, d.pad);
  dnnl::convolution_backward_data::primitive_desc data_pd(data_desc, onednn::user_scratchpad(),
                                                          engine(), fwd);
  dnnl::convolution_backward_weights::desc weights_desc(algo, d.src, d.weights_any, d.bias, d.dst,
                                                        d.strides, d.pad, d.pad);
  dnnl::convolution_backward_weights::primitive_desc weights_pd(
      weights_desc, onednn::user_scratchpad(), engine(), fwd);
  return std::make_unique<Backward>(
      Backward{data_pd, dnnl::convolution_backward_data(data_pd),
               reorder_between(d.weights_user, data_pd.weights_desc()), weights_pd,
               dnnl::convolution_backward_weights(weights_pd),
               reorder_between(weights_pd.diff_weights_desc(), d.weights_user)});
}

// Entries are never removed, so references into the maps stay valid after the lock is released.
// Primitives are immutable and, with a user scratchpad (onednn.h), may run on any worker thread and
// on several at once.
struct Cache {
  std::mutex mu;
  std::map<std::array<int64_t, 8>, std::unique_ptr<Forward>> forward;
  std::map<std::array<int64_t, 8>, std::unique_ptr<Backward>> backward;
};

Cache& cache() {
  static Cache* c = new Cache;  // never destroyed, like the engine it refers to
  return *c;
}

std::array<int64_t, 8> key_of(const op::Conv2dShape& s) {
  return {s.n, s.h, s.w, s.cin, s.cout, s.k, s.stride, s.pad};
}

const Forward& forward_for(const op::Conv2dShape& s) {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  std::unique_ptr<Forward>& slot = c.forward[key_of(s)];
  if (!slot) slot = make_forward(s);
  return *slot;
}

const Backward& backward_for(const op::Conv2dShape& s) {
  const Forward& fwd = forward_for(s);
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  std::unique_ptr<Backward>& slot = c.backward[key_of(s)];
  if (!slot) slot = make_backward(s, fwd.pd);
  return *slot;
}

// The Winograd tile size that measured fastest for a shape, or 0 where the direct path did
// (bench/kernels/conv/README.md): F(4x4) once both channel counts fill a 16-channel block and the
// batch has enough tiles for the 36 GEMMs to run at full speed.
int64_t auto_tile(const op::Conv2dShape& s) {
  const int64_t tiles = s.n * ((s.h + 3) / 4) * ((s.w + 3) / 4);
  return std::min(s.cin, s.cout) >= 16 && tiles >= 128 ? 4 : 0;
}

// The user's OIHW weights as a primitive wants them: the buffer itself, or a reordered copy.
memory weights_for(const op::Conv2dShape& s, const float* weight, const memory::desc& wanted,
                   const std::optional<Reorder>& reorder) {
  memory user = wrap(descs_of(s).weights_user, weight);
  if (!reorder) return user;
  memory converted(wanted, engine());
  onednn::execute(reorder->prim, reorder->pd, {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, converted}});
  return converted;
}

void backward_data(const op::Conv2dShape& s, const Backward& b, const float* weight,
                   const float* dy, float* dx) {
  memory w = weights_for(s, weight, b.data_pd.weights_desc(), b.weights_in);
  onednn::execute(b.data, b.data_pd,
                  {{DNNL_ARG_DIFF_DST, wrap(b.data_pd.diff_dst_desc(), dy)},
                   {DNNL_ARG_WEIGHTS, w},
                   {DNNL_ARG_DIFF_SRC, wrap(b.data_pd.diff_src_desc(), dx)}});
}

void backward_weights(const op::Conv2dShape& s, const Backward& b, const float* x, const float* dy,
                      float* dweight, float* dbias) {
  // The primitive computes both gradients; an unwanted one goes to scratch.
  std::vector<float> bias_scratch;
  if (dbias == nullptr) {
    bias_scratch.resize(static_cast<size_t>(s.cout));
    dbias = bias_scratch.data();
  }
  const memory::desc dw_desc = b.weights_pd.diff_weights_desc();
  memory dw =
      dweight != nullptr && !b.dweights_out ? wrap(dw_desc, dweight) : memory(dw_desc, engine());
  onednn::execute(b.weights, b.weights_pd,
                  {{DNNL_ARG_SRC, wrap(b.weights_pd.src_desc(), x)},
                   {DNNL_ARG_DIFF_DST, wrap(b.weights_pd.diff_dst_desc(), dy)},
                   {DNNL_ARG_DIFF_WEIGHTS, dw},
                   {DNNL_ARG_DIFF_BIAS, wrap(b.weights_pd.diff_bias_desc(), dbias)}});
  if (dweight != nullptr && b.dweights_out) {
    onednn::execute(b.dweights_out->prim, b.dweights_out->pd,
                    {{DNNL_ARG_FROM, dw}, {DNNL_ARG_TO, wrap(descs_of(s).weights_user, dweight)}});
  }
}

// The tile size of the Winograd path for this convolution, or 0 for oneDNN's direct one.
// PFGM_CONV_WINOGRAD forces it ("0": direct everywhere; "2" or "4": F(2x2) or F(4x4) wherever
// it applies); unset or "auto", the measured table of auto_tile() decides.
int64_t winograd_tile(const op::Conv2dShape& s) {
  if (!winograd::applies(s)) return 0;
  const char* env = std::getenv("PFGM_CONV_WINOGRAD");
  if (env == nullptr || *env == '\0' || std::strcmp(env, "auto") == 0) {
    return auto_tile(s);
  }
  if (std::strcmp(env, "0") == 0) return 0;
  if (std::strcmp(env, "2") == 0) return 2;
  if (std::strcmp(env, "4") == 0) return 4;
  fail(code::kArgument, std::string("PFGM_CONV_WINOGRAD is '") + env +
                            "': set it to auto, 0 (direct convolutions), 2 or 4 (Winograd tiles), "
                            "or unset it");
}

}  // namespace

void conv2d_forward(const op::Conv2dShape& s, const float* x, const float* weight,
                    const float* bias, float* y) {
  check_shape(s);
  if (s.n == 0) return;
  if (const int64_t m = winograd_tile(s); m != 0) {
    onednn::guarded("conv2d_forward", [&] { winograd::forward(s, m, x, weight, bias, y); });
    return;
  }
  onednn::guarded("conv2d_forward", [&] {
    const Forward& f = forward_for(s);
    std::vector<float> zeros;
    if (bias == nullptr) zeros.assign(static_cast<size_t>(s.cout), 0.0f);
    memory w = weights_for(s, weight, f.pd.weights_desc(), f.weights_in);
    onednn::execute(f.prim, f.pd,
                    {{DNNL_ARG_SRC, wrap(f.pd.src_desc(), x)},
                     {DNNL_ARG_WEIGHTS, w},
                     {DNNL_ARG_BIAS, wrap(f.pd.bias_desc(), bias != nullptr ? bias : zeros.data())},
                     {DNNL_ARG_DST, wrap(f.pd.dst_desc(), y)}});
  });
}

void conv2d_backward(const op::Conv2dShape& s, const float* x, const float* weight, const float* dy,
                     float* dx, float* dweight, float* dbias) {
  check_shape(s);
  if (s.n == 0) {  // an empty batch: the parameter gradients are sums over nothing
    if (dweight != nullptr) std::fill_n(dweight, s.cout * s.cin * s.k * s.k, 0.0f);
    if (dbias != nullptr) std::fill_n(dbias, s.cout, 0.0f);
    return;
  }
  if (dx == nullptr && dweight == nullptr && dbias == nullptr) return;
  onednn::guarded("conv2d_backward", [&] {
    if (const int64_t m = winograd_tile(s); m != 0) {
      if (dx != nullptr) winograd::backward_data(s, m, weight, dy, dx);
      if (dweight != nullptr || dbias != nullptr) {
        winograd::backward_weights(s, m, x, dy, dweight, dbias);
      }
      return;
    }
    const Backward& b = backward_for(s);
    if (dx != nullptr) backward_data(s, b, weight, dy, dx);
    if (dweight != nullptr || dbias != nullptr) backward_weights(s, b, x, dy, dweight, dbias);
  });
}

}  // namespace pfgm::cpu
