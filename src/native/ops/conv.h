// 2-D convolution and its gradients (oneDNN). EDM's Conv2d without the resampling, which
// resample.h provides; the network composes them as EDM does.
#pragma once

#include "layout.h"

namespace pfgm::op {

struct Conv2dShape {
  int64_t n, h, w;  // batch and input spatial size
  int64_t cin, cout;
  int64_t k;       // square kernel (1 or 3 in the networks; any odd or even size works)
  int64_t stride;  // 1 or 2
  int64_t pad;     // zero padding on every side; h + 2 pad >= k is required (checked)
  int64_t oh() const { return (h + 2 * pad - k) / stride + 1; }
  int64_t ow() const { return (w + 2 * pad - k) / stride + 1; }
};

}  // namespace pfgm::op

namespace pfgm::cpu {

// y[n, oh, ow, cout] = conv(x[n, h, w, cin], weight[cout, cin, k, k]) + bias (bias may be null).
void conv2d_forward(const op::Conv2dShape& s, const float* x, const float* weight,
                    const float* bias, float* y);

// Given dy[n, oh, ow, cout], writes dx (nullable), dweight (nullable, [cout, cin, k, k]) and
// dbias (nullable, [cout]).
void conv2d_backward(const op::Conv2dShape& s, const float* x, const float* weight, const float* dy,
                     float* dx, float* dweight, float* dbias);

}  // namespace pfgm::cpu
