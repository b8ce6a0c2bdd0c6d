// Per-sample math of the PFGM++ and PFGM perturbations, shared by the CPU loops
// (physics_cpu.cc) and the CUDA kernels (cuda/kernels/physics.cu) so both backends draw the same
// numbers.
#pragma once

#include <cmath>
#include <cstdint>

#include "../rng/philox.h"

namespace pfgm {

// Which random stream sample i reads: per-sample seeds (EDM's one-seed-per-image convention)
// address stream (seeds[i], index 0); one seed addresses stream (seed, offset + i). Either way a
// sample's numbers do not depend on the batch it is drawn in.
struct SampleStreams {
  const uint64_t* seeds;  // per-sample seeds in the backend's memory, or null
  uint64_t seed;
  uint64_t sample_offset;
  uint32_t step;
  const uint32_t* step_at;  // null, or the step in the backend's memory (philox.h step_value)

  PFGM_HD StreamKey key(int64_t i, uint32_t purpose) const {
    const uint32_t t = step_value(step, step_at);
    if (seeds != nullptr) return StreamKey{seeds[i], 0, t, purpose};
    return StreamKey{seed, sample_offset + static_cast<uint64_t>(i), t, purpose};
  }
};

// docs/method.md (2.2): x = y + sigma * g / sqrt(c / D), g ~ N(0, I_n), c ~ chi^2_D.
struct NoiseSpec {
  int64_t count;        // samples
  int64_t n;            // elements per sample (N)
  double D;             // augmented dimensions, > 0, +inf for the Gaussian (EDM) limit
  const double* sigma;  // per-sample sigma in the backend's memory, or null for sigma_scalar
  double sigma_scalar;
  SampleStreams streams;
  uint32_t purpose_gauss;
  uint32_t purpose_chi2;
  // Optional cap on R = ||x - y|| (docs/method.md §2.1, §3: off by default). 0 and +inf mean no
  // cap.
  double clip_min;
  double clip_max;

  PFGM_HD bool clipped() const { return clip_min > 0.0 || clip_max < INFINITY; }
  PFGM_HD int64_t blocks() const { return (n + 3) / 4; }
};

// sigma_i / sqrt(c_i / D): the factor that turns the Gaussian g into the Student-t noise.
PFGM_HD double student_t_scale(const NoiseSpec& s, int64_t i) {
  const double sigma = s.sigma != nullptr ? s.sigma[i] : s.sigma_scalar;
  if (s.D > 1.7976931348623157e308) return sigma;  // c / D -> 1
  // c = 2 Gamma(D/2, 1) so ln(c / D) = ln 2 + ln G - ln D, kept in logs for tiny and huge D.
  const double log_g = log_gamma_variate(s.streams.key(i, s.purpose_chi2), 0.5 * s.D);
  return sigma * exp(-0.5 * (0.6931471805599453 + log_g - log(s.D)));
}

// Rescales the noise so that its norm `radius` lands inside [clip_min, clip_max].
PFGM_HD double clip_factor(double radius, double clip_min, double clip_max) {
  if (!(radius > 0.0)) return 1.0;
  if (radius < clip_min) return clip_min / radius;
  if (radius > clip_max) return clip_max / radius;
  return 1.0;
}

// docs/method.md §3: the PFGM training perturbation of one sample.
struct PfgmSpec {
  int64_t count;
  int64_t n;
  double M;
  double tau;
  double s;
  bool restrict_M;
  SampleStreams streams;

  PFGM_HD int64_t blocks() const { return (n + 3) / 4; }
};

struct PfgmSampleDraw {
  double radius;  // R = ||e|| (1 + tau)^m
  double z;       // z0 (1 + tau)^m
};

PFGM_HD PfgmSampleDraw pfgm_sample_draw(const PfgmSpec& p, int64_t i) {
  const Philox4 r = draw_block(p.streams.key(i, kPurposePfgmScalars), 0);
  double m = uniform_open(r.v[0]) * p.M;
  double normal, unused;
  box_muller(r.v[1], r.v[2], &normal, &unused);
  const double z0 = fabs(normal) * p.s;
  if (p.restrict_M && z0 < 0.005) m = uniform_open(r.v[3]) * 0.7 * p.M;
  const double k = exp(m * log1p(p.tau));
  // ||e||^2 / s^2 ~ chi^2_N = 2 Gamma(N/2): e enters only through its norm, so draw the norm.
  const double log_g =
      log_gamma_variate(p.streams.key(i, kPurposePfgmChi2), 0.5 * static_cast<double>(p.n));
  const double e_norm = p.s * sqrt(2.0 * exp(log_g));
  return PfgmSampleDraw{e_norm * k, z0 * k};
}

}  // namespace pfgm
