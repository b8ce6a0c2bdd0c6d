// Group normalization as EDM uses it, fused with what surrounds it in the U-Net block:
//   y = act(GN(x + shift[n, c]) * gamma[c] + beta[c]),   act = identity or SiLU.
// `shift` is the per-sample, per-channel embedding that EDM's UNetBlock adds before norm1
// (adaptive_scale = False); it may be null. Statistics are computed in double per (n, group).
#pragma once

#include "layout.h"

namespace pfgm::op {

struct GroupNormShape {
  int64_t n, hw, c;  // NHWC with H * W = hw
  int64_t groups;    // divides c
  float eps;
  bool silu;  // apply SiLU after the affine transform
};

}  // namespace pfgm::op

namespace pfgm::cpu {

// EDM's group count: min(32, channels / 4).
inline int64_t edm_groups(int64_t channels, int64_t max_groups = 32, int64_t min_per_group = 4) {
  const int64_t g = channels / min_per_group;
  return g < max_groups ? g : max_groups;
}

// mean and rstd are [n, groups] outputs saved for the backward pass.
void group_norm_forward(const op::GroupNormShape& s, const float* x, const float* shift,
                        const float* gamma, const float* beta, float* y, float* mean, float* rstd);

// Writes dx, dgamma, dbeta and dshift ([n, c]; the sum of dx over positions); any of the four may
// be null. Forward and backward both use the float-rounded mean and rstd that forward saves.
void group_norm_backward(const op::GroupNormShape& s, const float* x, const float* shift,
                         const float* gamma, const float* beta, const float* mean,
                         const float* rstd, const float* dy, float* dx, float* dgamma, float* dbeta,
                         float* dshift);

}  // namespace pfgm::cpu
