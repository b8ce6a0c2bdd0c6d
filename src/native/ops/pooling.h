// Global average pooling over the spatial positions of an NHWC activation: the classifier's
// reduction from feature maps to one vector per image.
#pragma once

#include "layout.h"

namespace pfgm::cpu {

// y[n, c] = mean over (h, w) of x[n, h, w, c]. Sums in double.
void global_avg_pool_forward(const op::Nhwc& s, const float* x, float* y);
// dx[n, h, w, c] = dy[n, c] / (h w).
void global_avg_pool_backward(const op::Nhwc& s, const float* dy, float* dx);

}  // namespace pfgm::cpu
