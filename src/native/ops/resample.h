// EDM's FIR resampling, per channel (depthwise), channels-last. The 1-D filter f (taps [1,1] or
// [1,3,3,1]) becomes the 2-D filter f f^T / (sum f)^2.
//   down: conv2d(x, filter, stride 2, padding pad)            out = (h + 2 pad - taps) / 2 + 1
//   up:   conv_transpose2d(x, 4 * filter, stride 2, padding pad)  out = 2 (h - 1) - 2 pad + taps
// EDM's plain down/up use pad = (taps - 1) / 2; the fused down of the residual encoder uses
// pad = 0 after a convolution padded by w_pad + f_pad. Precondition (checked): h + 2 pad >= taps
// for down, so the truncating divisions below never see a negative numerator.
#pragma once

#include "layout.h"

namespace pfgm::op {

struct ResampleShape {
  op::Nhwc in;     // input activation
  const float* f;  // 1-D filter taps, unnormalized
  int64_t taps;
  int64_t pad;
  int64_t down_h() const { return (in.h + 2 * pad - taps) / 2 + 1; }
  int64_t down_w() const { return (in.w + 2 * pad - taps) / 2 + 1; }
  int64_t up_h() const { return 2 * (in.h - 1) - 2 * pad + taps; }
  int64_t up_w() const { return 2 * (in.w - 1) - 2 * pad + taps; }
};

}  // namespace pfgm::op

namespace pfgm::cpu {

void fir_down_forward(const op::ResampleShape& s, const float* x, float* y);
void fir_down_backward(const op::ResampleShape& s, const float* dy, float* dx);
void fir_up_forward(const op::ResampleShape& s, const float* x, float* y);
void fir_up_backward(const op::ResampleShape& s, const float* dy, float* dx);

}  // namespace pfgm::cpu
