// EDM's leaf modules over the backend's ops: Linear, Conv2d (with its optional FIR up/down
// sampling, fused or not) and GroupNorm (fused with the SiLU and the embedding shift that follow or
// precede it in the U-Net). Each keeps what its backward needs; the caller owns inputs and outputs.
#pragma once

#include <string>
#include <vector>

#include "../ops/layout.h"
#include "context.h"
#include "params.h"

namespace pfgm::nn {

using op::Nhwc;

class Linear {
 public:
  Linear() = default;
  Linear(ParamSet& ps, const Scope& scope, int64_t in, int64_t out, bool bias, InitSpec init,
         double init_bias = 0);
  int64_t in() const { return in_; }
  int64_t out() const { return out_; }
  // y[rows, out] = x[rows, in] W^T + b. Saves x's pointer: x must live until backward.
  void forward(const Context& ctx, int64_t rows, const float* x, float* y);
  // Writes dx (nullable) and the weight gradients.
  void backward(const Context& ctx, const float* dy, float* dx);
  // Writes zero weight gradients (for a layer the forward pass skipped).
  void zero_grads(const Context& ctx);

 private:
  int64_t in_ = 0, out_ = 0, w_ = -1, b_ = -1, rows_ = 0;
  const float* x_ = nullptr;
};

struct ResampleSpec {
  bool up = false, down = false, fused = false;
  std::vector<float> filter{1, 1};
};

class Conv2d {
 public:
  Conv2d() = default;
  // kernel 0: resampling only (EDM's aux_down / aux_up and weightless skips). init_bias: the bias's
  // gain on init's mode (EDM's init_bias; 0 gives a zero bias).
  Conv2d(ParamSet& ps, const Scope& scope, int64_t cin, int64_t cout, int64_t kernel, bool bias,
         ResampleSpec resample, InitSpec init, double init_bias = 0);
  int64_t cin() const { return cin_; }
  int64_t cout() const { return cout_; }
  op::Nhwc out_shape(const op::Nhwc& in) const;
  void forward(const Context& ctx, const op::Nhwc& in, const float* x, float* y);
  // Writes dx (nullable) and the weight gradients. dy has out_shape(in).
  void backward(const Context& ctx, const float* dy, float* dx);

 private:
  const char* profile_name(const char* stage, const op::Nhwc& in) const;
  enum class Path { kConvOnly, kResampleOnly, kResampleThenConv, kConvThenResample };
  int64_t cin_ = 0, cout_ = 0, k_ = 0, w_ = -1, b_ = -1;
  ResampleSpec rs_;
  int64_t fir_pad_ = 0, conv_pad_ = 0;
  Path path_ = Path::kConvOnly;
  op::Nhwc in_{};
  const float* x_ = nullptr;
  Buffer mid_, dmid_;  // the activation between the resampling and the convolution
};

class GroupNorm {
 public:
  GroupNorm() = default;
  GroupNorm(ParamSet& ps, const Scope& scope, int64_t channels, float eps);
  // y = act(GN(x + shift) * gamma + beta); shift [n, c] nullable; act = SiLU when `silu`.
  void forward(const Context& ctx, const op::Nhwc& in, const float* x, const float* shift,
               bool silu, float* y);
  // Writes dx and, when the forward had a shift, dshift [n, c].
  void backward(const Context& ctx, const float* dy, float* dx, float* dshift);

 private:
  int64_t c_ = 0, groups_ = 0, w_ = -1, b_ = -1;
  float eps_ = 1e-5f;
  op::Nhwc in_{};
  const float* x_ = nullptr;
  const float* shift_ = nullptr;
  bool silu_ = false;
  Buffer mean_, rstd_;
};

// EDM's init dicts: xavier_uniform with a gain (init = 1, init_zero = 1e-5, init_attn = sqrt(0.2)).
inline InitSpec xavier(double gain = 1.0) { return InitSpec{InitMode::kXavierUniform, 1, 1, gain}; }
// The ADM network's: kaiming_uniform with a gain (init = sqrt(1/3), init_zero = 0).
inline InitSpec kaiming_uniform(double gain = 1.0) {
  return InitSpec{InitMode::kKaimingUniform, 1, 1, gain};
}

// Resizes without shrinking capacity churn: activations are reused from step to step.
inline float* ensure(std::vector<float>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) != n) v.resize(static_cast<size_t>(n));
  return v.data();
}

}  // namespace pfgm::nn
