// Per-element math of the sampler kernels, shared by the CPU loops (sampler_cpu.cc) and, with the
// same signatures, a CUDA twin: every function here is PFGM_HD and touches one element, so a CUDA
// kernel is one thread per element calling it (docs/dev/architecture.md, "One op list, two
// backends").
#pragma once

#include <cmath>
#include <cstdint>

#include "../physics/noise.h"
#include "../rng/philox.h"

namespace pfgm {

// The most arrays one fused update combines: RK45's stage 7 reads x and six slopes, iPNDM x and
// four slopes, the Heun correction x, two states and two denoised batches.
inline constexpr int kMaxCombineTerms = 16;

// out[k] = sum_t coefs[t] * in[t][k], accumulated in double and rounded once: the coefficients
// of a solver step (e.g. 1 + h / sigma next to -h / sigma) can be large and of opposite sign,
// and one rounding keeps the update as exact as the fp32 inputs allow.
PFGM_HD float combine_element(int64_t k, int terms, const double* coefs, const float* const* in) {
  double acc = 0.0;
  for (int t = 0; t < terms; ++t) acc += coefs[t] * static_cast<double>(in[t][k]);
  return static_cast<float>(acc);
}

// iPNDM's fused step for element k (the CUDA kernel's): the slope d = (x - D) / sigma rounded as
// combine_element rounds it (coefficients inv_sigma and -inv_sigma), then x + sum_t coefs[t] d_t
// with d_0 that slope and d_t = slopes[t] after it, accumulated in the order of combine_element
// over (x, d, slopes[1], ...): the two combinations of src/sample/ipndm.ts in one pass.
PFGM_HD void slope_update_element(int64_t k, double inv_sigma, const float* x, const float* den,
                                  int terms, const double* coefs, const float* const* slopes,
                                  float* d_out, float* x_out) {
  double acc = 0.0;
  acc += inv_sigma * static_cast<double>(x[k]);
  acc += -inv_sigma * static_cast<double>(den[k]);
  const float d = static_cast<float>(acc);
  double up = 0.0;
  up += 1.0 * static_cast<double>(x[k]);
  up += coefs[0] * static_cast<double>(d);
  for (int t = 1; t < terms; ++t) up += coefs[t] * static_cast<double>(slopes[t][k]);
  d_out[k] = d;
  x_out[k] = static_cast<float>(up);
}

// EDM's churn for elements [4b, 4b + 4) of sample i (one Philox block gives four normals):
// out = x + scale * eps with eps from the kPurposeChurn stream at streams.step.
PFGM_HD void churn_block(const float* x, float* out, int64_t n, int64_t i, int64_t b, double scale,
                         const SampleStreams& streams) {
  double g[4];
  normals4(streams.key(i, kPurposeChurn), static_cast<uint32_t>(b), g);
  const int64_t lanes = n - 4 * b < 4 ? n - 4 * b : 4;
  const int64_t base = i * n + 4 * b;
  for (int64_t l = 0; l < lanes; ++l) {
    out[base + l] = static_cast<float>(static_cast<double>(x[base + l]) + scale * g[l]);
  }
}

// (e / (atol + rtol max(|a|, |b|)))^2 in double: one term of RK45's scaled error norm (Hairer's,
// src/sample/dopri.ts), summed on the device so only the sum comes back to the host.
PFGM_HD double scaled_square(float e, float a, float b, double rtol, double atol) {
  const double fa = a < 0.0f ? -static_cast<double>(a) : static_cast<double>(a);
  const double fb = b < 0.0f ? -static_cast<double>(b) : static_cast<double>(b);
  const double r = static_cast<double>(e) / (atol + rtol * (fa > fb ? fa : fb));
  return r * r;
}

// PFGM's z-ODE drift in t = ln z is scale * v_x with scale = z / v_z (src/sample/pfgmOde.ts,
// zDrift, which says why v_z is recovered from ||v_x||): vx2 = ||v_x||^2 over the sample's `per`
// values, vz_pred the network's mean z component.
PFGM_HD double pfgm_drift_scale(double vx2, float vz_pred, double z, int64_t per, double gamma) {
  const double sqrt_n = sqrt(static_cast<double>(per));
  const double c = sqrt(vx2) / sqrt_n;
  double vz;
  if (c < 1 && gamma > 0) {
    const double c2 = c * c;
    const double a =
        (c2 * gamma + sqrt(c2 * c2 * gamma * gamma + (1 - c2) * (c2 * gamma * gamma + z * z))) /
        (1 - c2);
    vz = (-sqrt_n * z) / (a + gamma);
  } else {
    const double floor = -1e-6 * sqrt(vx2) - 1e-12;
    const double pred = static_cast<double>(vz_pred);
    vz = pred < floor || pred != pred ? pred : floor;  // Math.min's NaN
  }
  return z / vz;
}

// NaN and both infinities (a NaN fails every comparison).
PFGM_HD bool not_finite(float v) {
  return !(v <= 3.4028234663852886e38f && v >= -3.4028234663852886e38f);
}

// Element j of sample i's Rademacher stream (+1 or -1 with probability 1/2 each): bit j % 32 of
// word (j / 32) % 4 of block j / 128, so one Philox block serves 128 elements.
PFGM_HD float stream_sign(const SampleStreams& streams, int64_t i, int64_t j, uint32_t purpose) {
  const Philox4 r = draw_block(streams.key(i, purpose), static_cast<uint32_t>(j / 128));
  const uint32_t word = r.v[(j / 32) % 4];
  return ((word >> (j % 32)) & 1u) != 0u ? 1.0f : -1.0f;
}

}  // namespace pfgm
