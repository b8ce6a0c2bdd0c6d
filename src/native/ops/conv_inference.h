// Forward-only convolution for inference networks (Inception-v3 for FID): what conv.h's training
// convolution lacks, namely rectangular kernels (1x7, 7x1, 1x3, 3x1), a stride and a padding per
// axis, and a ReLU fused into the kernel. A layer owns its weights; it hands them to oneDNN once
// per input size in the layout the chosen kernel prefers, instead of reordering them on every call
// as the training convolution must (its weights change every step).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace pfgm::op {

struct ConvGeometry {
  int64_t cin, cout;
  int64_t kh, kw;  // kernel height and width
  int64_t stride_h, stride_w;
  int64_t pad_h, pad_w;  // zero padding on both sides of each axis (PyTorch's padding=(ph, pw))
  int64_t oh(int64_t h) const { return (h + 2 * pad_h - kh) / stride_h + 1; }
  int64_t ow(int64_t w) const { return (w + 2 * pad_w - kw) / stride_w + 1; }
};

// One call of the backends' inference convolution (nn/backend_ops.h: conv2d_inference_forward):
// x [n, h, w, cin] NHWC, weight [cout, kh, kw, cin] (OHWI: the rows of the patch matrix that an
// NHWC input gives, so the GPU runs it as one matrix product), bias [cout] or null, and ReLU
// applied after the bias when `relu`.
struct ConvInferenceShape {
  int64_t n, h, w;
  ConvGeometry g;
  bool relu;
  int64_t oh() const { return g.oh(h); }
  int64_t ow() const { return g.ow(w); }
};

}  // namespace pfgm::op

namespace pfgm::cpu {

using op::ConvGeometry;

// ERR_PFGM_SHAPE naming the layer when the geometry is not positive or the padded input is
// smaller than the kernel (both backends check with it).
void check_conv_inference_shape(const op::ConvInferenceShape& s);

class InferenceConv2d {
 public:
  InferenceConv2d() = default;
  // weight [cout, cin, kh, kw] (PyTorch's OIHW), bias [cout] (empty: none). ERR_PFGM_SHAPE when
  // the sizes disagree with the geometry or the geometry is not positive.
  InferenceConv2d(const ConvGeometry& g, std::vector<float> weight, std::vector<float> bias,
                  bool relu);

  const ConvGeometry& geometry() const { return g_; }

  // y[n, oh, ow, cout] = relu?(conv(x[n, h, w, cin]) + bias), NHWC in and out. ERR_PFGM_SHAPE when
  // the padded input is smaller than the kernel. Safe to call from several threads at once.
  void forward(int64_t n, int64_t h, int64_t w, const float* x, float* y) const;

 private:
  struct Impl;
  ConvGeometry g_{};
  std::shared_ptr<Impl> impl_;
};

}  // namespace pfgm::cpu
