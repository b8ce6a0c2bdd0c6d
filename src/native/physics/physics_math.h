// The per-sample and per-element steps of the physics kernels (physics.h), shared by the CPU loops
// (physics_cpu.cc) and the CUDA kernels (cuda/kernels/physics.cu): the backends differ only in how
// they walk samples and Philox blocks (OpenMP loops, or CUDA blocks and threads), not in what they
// compute at each one.
#pragma once

#include <cmath>
#include <cstdint>

#include "noise.h"

namespace pfgm {

// Sum of g^2 over the Philox blocks first, first + stride, ... of one Gaussian stream of n
// elements (four per block): the whole squared norm with (0, 1), one thread's share of it on the
// GPU. Regenerated from the stream's counter, never stored.
PFGM_HD double gauss_norm2_part(const StreamKey& key, int64_t n, int64_t first, int64_t stride) {
  double acc = 0.0;
  const int64_t blocks = (n + 3) / 4;
  for (int64_t b = first; b < blocks; b += stride) {
    double g[4];
    normals4(key, static_cast<uint32_t>(b), g);
    const int64_t lanes = n - 4 * b < 4 ? n - 4 * b : 4;
    for (int64_t l = 0; l < lanes; ++l) acc += g[l] * g[l];
  }
  return acc;
}

// out[i, 4b : 4b + 4] = (y[i, 4b : 4b + 4] or 0) + factor * g, g Philox block b of `key` (sample
// i's stream); the last block of a sample may hold fewer than four elements.
template <typename T>
PFGM_HD void add_scaled_gauss_block(const T* y, T* out, double factor, int64_t i, int64_t b,
                                    int64_t n, const StreamKey& key) {
  double g[4];
  normals4(key, static_cast<uint32_t>(b), g);
  const int64_t lanes = n - 4 * b < 4 ? n - 4 * b : 4;
  const int64_t base = i * n + 4 * b;
  for (int64_t l = 0; l < lanes; ++l) {
    const double y0 = y != nullptr ? static_cast<double>(y[base + l]) : 0.0;
    out[base + l] = static_cast<T>(y0 + factor * g[l]);
  }
}

// The factor that turns sample i's Gaussian g into its Student-t noise, with the radius clip when
// one is asked for; norm2 = ||g||^2 is read only then.
PFGM_HD double student_t_factor(const NoiseSpec& s, int64_t i, double norm2) {
  double f = student_t_scale(s, i);
  if (s.clipped()) f *= clip_factor(f * sqrt(norm2), s.clip_min, s.clip_max);
  return f;
}

// The PFGM perturbation's uniform direction u = g / ||g||, so x = y + (R / ||g||) g.
PFGM_HD double pfgm_factor(const PfgmSampleDraw& d, double norm2) { return d.radius / sqrt(norm2); }

// EDM's training sigma of sample i: exp(p_mean + p_std * normal).
PFGM_HD double training_sigma_value(const SampleStreams& streams, int64_t i, double p_mean,
                                    double p_std) {
  double g[4];
  normals4(streams.key(i, kPurposeTrainSigma), 0, g);
  return exp(p_mean + p_std * g[0]);
}

}  // namespace pfgm
