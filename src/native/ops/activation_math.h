// Per-element math of SiLU and counter-based dropout, shared by the CPU loops (activation.cc) and
// the CUDA kernels (cuda/kernels/activation.cu), so both backends compute the same function.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "../rng/philox.h"
#include "rounding.h"

namespace pfgm::act {

// exp(x) to ~2 ulp (Cephes expf coefficients) in branch-free form: libm's expf is a call the
// compiler cannot vectorize, and it dominates SiLU. x must lie in [-87.3, 88.3], where 2^k
// stays a normal float; see clamp_exp_arg.
PFGM_HD float exp_in_range(float x) {
  // Round x / ln 2 to nearest with the 1.5 * 2^23 trick: vectorizes without SSE4.1 round.
  const float kf = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  // ln 2 split so that kf * hi is exact.
  const float r = (x - kf * 0.693359375f) + kf * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(kf) + 127) << 23;
#if defined(__CUDA_ARCH__)
  const float two_k = __int_as_float(bits);
#else
  float two_k;
  std::memcpy(&two_k, &bits, sizeof two_k);
#endif
  return p * two_k;
}

// Clamping changes only results that round to 0 or saturate in the sigmoid anyway. (std::min and
// std::max are constexpr, so nvcc runs them on the device under --expt-relaxed-constexpr; a NaN
// passes through as it does on the CPU.)
PFGM_HD float clamp_exp_arg(float x) { return std::min(std::max(x, -87.3f), 88.3f); }

// silu(x) = x sigmoid(x), as the CPU's two-loop kernel computes it.
PFGM_HD float silu(float x) { return x / (1.0f + exp_in_range(clamp_exp_arg(-x))); }

// dy * d silu / dx = dy * s (1 + x (1 - s)) with s = sigmoid(x).
PFGM_HD float silu_grad(float x, float dy) {
  const float s = 1.0f / (1.0f + exp_in_range(clamp_exp_arg(-x)));
  return dy * (s * (1.0f + x * (1.0f - s)));
}

// Dropout (activation.h): element j is kept when its Philox bits are >= p 2^32; the bits are
// integers, so compare against the ceiling. Both computed on the host from the float p.
inline uint32_t dropout_threshold(float p) {
  return static_cast<uint32_t>(std::ceil(static_cast<double>(p) * 4294967296.0));
}
inline float dropout_scale(float p) {
  return static_cast<float>(1.0 / (1.0 - static_cast<double>(p)));
}

// The Philox block of dropout elements [4b, 4b + 4) of a sample: (site << 24) | b.
PFGM_HD uint32_t dropout_block(uint32_t site, int64_t b) {
  return (site << 24) | static_cast<uint32_t>(b);
}

// A kept element is x * scale (one rounding), a dropped one +0, even when x is NaN.
PFGM_HD float dropout_kept(float x, bool kept, float scale) {
  return kept ? fp::mul(x, scale) : 0.0f;
}
PFGM_HD float dropout_element(float x, uint32_t bits, uint32_t threshold, float scale) {
  return dropout_kept(x, bits >= threshold, scale);
}

}  // namespace pfgm::act
