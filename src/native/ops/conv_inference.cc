// An inference convolution through oneDNN (forward_inference, ReLU as a post-op). Activations
// stay NHWC as everywhere in the engine (ops/layout.h); the weights are reordered into the layout
// of the kernel oneDNN picks (format_tag::any) once per layout and kept, so a network that runs
// batch after batch touches its weights only as the convolution reads them.
#include "conv_inference.h"

#include <algorithm>
#include <array>
#include <map>
#include <mutex>
#include <string>

#include "../errors.h"
#include "../nn/backend_ops.h"
#include "onednn.h"

namespace pfgm::cpu {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;
using onednn::engine;
using onednn::f32_desc;
using onednn::wrap;

std::string describe(const ConvGeometry& g) {
  return "conv2d cin=" + std::to_string(g.cin) + " cout=" + std::to_string(g.cout) + " kernel " +
         std::to_string(g.kh) + "x" + std::to_string(g.kw) + " stride " +
         std::to_string(g.stride_h) + "x" + std::to_string(g.stride_w) + " padding " +
         std::to_string(g.pad_h) + "x" + std::to_string(g.pad_w);
}

}  // namespace

struct InferenceConv2d::Impl {
  ConvGeometry g;
  std::vector<float> bias;  // zeros when the layer has none
  bool relu = false;

  // The primitive for one input size, with the weights in the layout it reads.
  struct Kernel {
    dnnl::convolution_forward::primitive_desc pd;
    dnnl::convolution_forward prim;
    memory weights;
  };
  std::mutex mu;
  std::map<std::array<int64_t, 3>, std::unique_ptr<Kernel>> kernels;  // by (n, h, w); never erased
  // The weights, one copy per layout a kernel reads. Until a kernel reads it, front() is the
  // OIHW copy made at construction; it is dropped once a kernel wants another layout, so a layer
  // usually holds its weights once.
  std::vector<memory> layouts;
  bool plain_in_use = false;

  const Kernel& kernel_for(int64_t n, int64_t h, int64_t w) {
    std::lock_guard<std::mutex> lock(mu);
    std::unique_ptr<Kernel>& slot = kernels[{n, h, w}];
    if (slot) return *slot;
    const memory::desc src = f32_desc({n, g.cin, h, w}, Tag::nhwc);
    const memory::desc dst = f32_desc({n, g.cout, g.oh(h), g.ow(w)}, Tag::nhwc);
    const memory::desc weights_any = f32_desc({g.cout, g.cin, g.kh, g.kw}, Tag::any);
    const memory::desc bias_desc = f32_desc({g.cout}, Tag::a);
    dnnl::convolution_forward::desc desc(
        dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src, weights_any,
        bias_desc, dst, {g.stride_h, g.stride_w}, {g.pad_h, g.pad_w}, {g.pad_h, g.pad_w});
    dnnl::primitive_attr attr = onednn::user_scratchpad();
    if (relu) {
      dnnl::post_ops ops;
      ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
      attr.set_post_ops(ops);
    }
    dnnl::convolution_forward::primitive_desc pd(desc, attr, engine());
    slot = std::make_unique<Kernel>(
        Kernel{pd, dnnl::convolution_forward(pd), weights_in(pd.weights_desc())});
    return *slot;
  }

  // The weights in layout `wanted`: reordered (from any copy: oneDNN reorders between any two
  // layouts) the first time that layout is asked for.
  memory weights_in(const memory::desc& wanted) {
    for (size_t i = 0; i < layouts.size(); ++i) {
      if (layouts[i].get_desc() != wanted) continue;
      if (i == 0) plain_in_use = true;
      return layouts[i];
    }
    memory converted(wanted, engine());
    const memory& from = layouts.front();
    dnnl::reorder::primitive_desc rpd(engine(), from.get_desc(), engine(), wanted,
                                      onednn::user_scratchpad());
    onednn::execute(dnnl::reorder(rpd), rpd, {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, converted}});
    onednn::stream().wait();
    if (!plain_in_use) layouts.erase(layouts.begin());
    plain_in_use = true;  // the front copy is now one a kernel reads
    layouts.push_back(converted);
    return converted;
  }
};

namespace {

void check_geometry(const ConvGeometry& g) {
  const bool positive = g.cin >= 1 && g.cout >= 1 && g.kh >= 1 && g.kw >= 1 && g.stride_h >= 1 &&
                        g.stride_w >= 1 && g.pad_h >= 0 && g.pad_w >= 0;
  if (!positive)
    fail(code::kShape, describe(g) + ": sizes and strides must be positive, padding >= 0");
}

void check_input(const ConvGeometry& g, int64_t n, int64_t h, int64_t w) {
  if (n < 0 || h < 1 || w < 1 || h + 2 * g.pad_h < g.kh || w + 2 * g.pad_w < g.kw) {
    fail(code::kShape, describe(g) + ": input " + std::to_string(h) + "x" + std::to_string(w) +
                           " (batch " + std::to_string(n) +
                           ") is empty or smaller than the kernel after padding");
  }
}

}  // namespace

void check_conv_inference_shape(const op::ConvInferenceShape& s) {
  check_geometry(s.g);
  check_input(s.g, s.n, s.h, s.w);
}

// The backends' op: stateless, so the weights (OHWI, as the GPU's matrix product reads them) are
// reordered into the kernel's layout on every call, as the training convolution does; oneDNN's
// primitive cache keeps the kernel itself. The FID network on the CPU uses InferenceConv2d
// instead, which reorders once per layer.
void conv2d_inference_forward(const op::ConvInferenceShape& s, const float* x, const float* weight,
                              const float* bias, float* y) {
  check_conv_inference_shape(s);
  if (s.n == 0) return;
  const ConvGeometry& g = s.g;
  onednn::guarded("conv2d_inference_forward", [&] {
    const memory::desc src = f32_desc({s.n, g.cin, s.h, s.w}, Tag::nhwc);
    const memory::desc dst = f32_desc({s.n, g.cout, s.oh(), s.ow()}, Tag::nhwc);
    const memory::desc plain = f32_desc({g.cout, g.cin, g.kh, g.kw}, Tag::ohwi);
    const memory::desc weights_any = f32_desc({g.cout, g.cin, g.kh, g.kw}, Tag::any);
    const memory::desc bias_desc = f32_desc({g.cout}, Tag::a);
    dnnl::convolution_forward::desc desc(
        dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src, weights_any,
        bias_desc, dst, {g.stride_h, g.stride_w}, {g.pad_h, g.pad_w}, {g.pad_h, g.pad_w});
    dnnl::primitive_attr attr = onednn::user_scratchpad();
    if (s.relu) {
      dnnl::post_ops ops;
      ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
      attr.set_post_ops(ops);
    }
    dnnl::convolution_forward::primitive_desc pd(desc, attr, engine());
    memory w = wrap(plain, weight);
    if (pd.weights_desc() != plain) {
      memory reordered(pd.weights_desc(), engine());
      dnnl::reorder::primitive_desc rpd(engine(), plain, engine(), pd.weights_desc(),
                                        onednn::user_scratchpad());
      onednn::execute(dnnl::reorder(rpd), rpd, {{DNNL_ARG_FROM, w}, {DNNL_ARG_TO, reordered}});
      w = reordered;
    }
    std::vector<float> zeros;
    if (bias == nullptr) zeros.assign(static_cast<size_t>(g.cout), 0.0f);
    onednn::execute(dnnl::convolution_forward(pd), pd,
                    {{DNNL_ARG_SRC, wrap(pd.src_desc(), x)},
                     {DNNL_ARG_WEIGHTS, w},
                     {DNNL_ARG_BIAS, wrap(pd.bias_desc(), bias != nullptr ? bias : zeros.data())},
                     {DNNL_ARG_DST, wrap(pd.dst_desc(), y)}});
    onednn::stream().wait();
  });
}

InferenceConv2d::InferenceConv2d(const ConvGeometry& g, std::vector<float> weight,
                                 std::vector<float> bias, bool relu)
    : g_(g) {
  check_geometry(g);
  const size_t wanted = static_cast<size_t>(g.cout * g.cin * g.kh * g.kw);
  if (weight.size() != wanted) {
    fail(code::kShape, describe(g) + ": the weight has " + std::to_string(weight.size()) +
                           " values, expected " + std::to_string(wanted) +
                           " ([cout, cin, kh, kw])");
  }
  if (!bias.empty() && bias.size() != static_cast<size_t>(g.cout)) {
    fail(code::kShape, describe(g) + ": the bias has " + std::to_string(bias.size()) +
                           " values, expected " + std::to_string(g.cout));
  }
  impl_ = std::make_shared<Impl>();
  impl_->g = g;
  onednn::guarded("conv2d_inference", [&] {
    memory plain(f32_desc({g.cout, g.cin, g.kh, g.kw}, Tag::oihw), onednn::engine());
    std::copy(weight.begin(), weight.end(), static_cast<float*>(plain.get_data_handle()));
    impl_->layouts.push_back(plain);
  });
  impl_->bias =
      bias.empty() ? std::vector<float>(static_cast<size_t>(g.cout), 0.0f) : std::move(bias);
  impl_->relu = relu;
}

void InferenceConv2d::forward(int64_t n, int64_t h, int64_t w, const float* x, float* y) const {
  if (!impl_) fail(code::kInternal, "InferenceConv2d::forward on a layer that was never built");
  check_input(g_, n, h, w);
  if (n == 0) return;
  onednn::guarded("conv2d_inference", [&] {
    const Impl::Kernel& k = impl_->kernel_for(n, h, w);
    onednn::execute(k.prim, k.pd,
                    {{DNNL_ARG_SRC, wrap(k.pd.src_desc(), x)},
                     {DNNL_ARG_WEIGHTS, k.weights},
                     {DNNL_ARG_BIAS, wrap(k.pd.bias_desc(), impl_->bias.data())},
                     {DNNL_ARG_DST, wrap(k.pd.dst_desc(), y)}});
  });
}

}  // namespace pfgm::cpu
