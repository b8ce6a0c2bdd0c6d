// Counter-based randomness shared verbatim by the CPU and CUDA backends (docs/dev/architecture.md,
// "Randomness").
//
// Philox4x32-10 (Salmon et al., SC'11) maps a 128-bit counter and a 64-bit key to 128 random bits
// with no state. Every draw in pfgm is addressed, never sequenced:
//   key     = the 64-bit seed
//   counter = (block, sample index, step, purpose)
// so sample i of a batch gets the same numbers whatever the batch size or device, and any element
// can be regenerated on demand (the noise norm pass and the write pass read the same stream).
//
// The distributions below run in double precision on both backends so that CPU and GPU results
// agree after rounding to float (only the last ulp of libm vs CUDA transcendentals can differ).
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define PFGM_HD __host__ __device__ __forceinline__
#else
#define PFGM_HD inline
#endif

namespace pfgm {

// What a stream is for: part of the counter, so unrelated draws with one seed never collide.
enum Purpose : uint32_t {
  kPurposeNoiseGauss = 1,  // docs/method.md (2.2) g, perturbation of training data
  kPurposeNoiseChi2 = 2,   // docs/method.md (2.2) c, perturbation of training data
  kPurposePriorGauss = 3,  // docs/method.md §2.3 prior draws
  kPurposePriorChi2 = 4,
  kPurposeTrainSigma = 5,     // docs/method.md §2.2 ln sigma ~ N(P_mean, P_std^2)
  kPurposePfgmScalars = 6,    // docs/method.md §3 m, z0, restrict_M redraw
  kPurposePfgmChi2 = 7,       // docs/method.md §3 ||e||^2 / s^2 ~ chi^2_N
  kPurposePfgmDirection = 8,  // docs/method.md §3 uniform direction u
  kPurposeDropout = 9,        // dropout masks (ops/activation.h)
  kPurposeLabelDropout = 10,  // class-label dropout for classifier-free guidance
  kPurposeInit = 11,          // parameter initialisation
  kPurposeChurn = 12,         // EDM's stochastic churn noise of the Heun sampler (sample/)
  kPurposeHutchinson = 13,    // Rademacher probes of the likelihood's trace estimate (sample/)
  kPurposeClass = 14,         // random class of a conditional model's sample (physics/classes.ts)
};

// The step of a training step's draws: its value, or, where the step is read from backend memory
// (a training step replayed from a CUDA graph gets each step's value there, docs/cuda.md), the
// value at step_at.
PFGM_HD uint32_t step_value(uint32_t step, const uint32_t* step_at) {
  return step_at != nullptr ? *step_at : step;
}

struct Philox4 {
  uint32_t v[4];
};

PFGM_HD void mulhilo32(uint32_t a, uint32_t b, uint32_t* hi, uint32_t* lo) {
  const uint64_t p = static_cast<uint64_t>(a) * static_cast<uint64_t>(b);
  *hi = static_cast<uint32_t>(p >> 32);
  *lo = static_cast<uint32_t>(p);
}

PFGM_HD Philox4 philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0,
                              uint32_t k1) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo32(kM0, c0, &hi0, &lo0);
    mulhilo32(kM1, c2, &hi1, &lo1);
    const uint32_t n0 = hi1 ^ c1 ^ k0;
    const uint32_t n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
    k0 += kW0;
    k1 += kW1;
  }
  return Philox4{{c0, c1, c2, c3}};
}

// Where a stream lives: seed (key) plus sample index, step and purpose (counter words 1-3).
struct StreamKey {
  uint64_t seed;
  uint64_t sample;  // low 32 bits in the counter, high 32 bits folded into the key
  uint32_t step;
  uint32_t purpose;
};

PFGM_HD Philox4 draw_block(const StreamKey& k, uint32_t block) {
  const uint32_t k0 = static_cast<uint32_t>(k.seed);
  // Sample indices beyond 2^32 perturb the key's high word so they still get distinct streams.
  const uint32_t k1 = static_cast<uint32_t>(k.seed >> 32) ^ static_cast<uint32_t>(k.sample >> 32);
  return philox4x32_10(block, static_cast<uint32_t>(k.sample), k.step, k.purpose, k0, k1);
}

// Uniform in the open interval (0, 1): never 0, so log() is always finite.
PFGM_HD double uniform_open(uint32_t bits) {
  return (static_cast<double>(bits) + 0.5) * 2.3283064365386963e-10;  // 2^-32
}

// Box-Muller: two uniforms -> two independent standard normals.
PFGM_HD void box_muller(uint32_t a, uint32_t b, double* n0, double* n1) {
  const double radius = sqrt(-2.0 * log(uniform_open(a)));
  const double angle = 6.283185307179586 * uniform_open(b);
  *n0 = radius * cos(angle);
  *n1 = radius * sin(angle);
}

// Four standard normals from one block: element j of a stream is lane j % 4 of block j / 4.
PFGM_HD void normals4(const StreamKey& k, uint32_t block, double out[4]) {
  const Philox4 r = draw_block(k, block);
  box_muller(r.v[0], r.v[1], &out[0], &out[1]);
  box_muller(r.v[2], r.v[3], &out[2], &out[3]);
}

// log of a Gamma(alpha, 1) variate, exact for every real alpha > 0 (Marsaglia & Tsang 2000).
// The log keeps tiny alpha (where the variate underflows double) and huge alpha finite.
// Attempt t of the rejection loop uses block t of the stream: lanes 0-1 a normal, lane 2 the
// acceptance uniform, lane 3 the boost uniform for alpha < 1 (Gamma(a) = Gamma(a+1) U^(1/a)).
PFGM_HD double log_gamma_variate(const StreamKey& k, double alpha) {
  const bool boost = alpha < 1.0;
  const double a = boost ? alpha + 1.0 : alpha;
  const double d = a - 1.0 / 3.0;
  const double c = 1.0 / sqrt(9.0 * d);
  for (uint32_t attempt = 0;; ++attempt) {
    const Philox4 r = draw_block(k, attempt);
    double x, unused;
    box_muller(r.v[0], r.v[1], &x, &unused);
    const double cx = c * x;
    if (cx <= -1.0) continue;
    // v = (1 + cx)^3; the acceptance test d(1 - v + ln v) is formed from small terms so that it
    // keeps its precision when d is huge (D in the millions).
    const double log_v = 3.0 * log1p(cx);
    const double v_minus_1 = cx * (3.0 + cx * (3.0 + cx));
    const double log_u = log(uniform_open(r.v[2]));
    if (log_u < 0.5 * x * x + d * (log_v - v_minus_1)) {
      double log_g = log(d) + log_v;
      if (boost) log_g += log(uniform_open(r.v[3])) / alpha;
      return log_g;
    }
    // Acceptance exceeds 95% for every alpha; bounded anyway so no input can spin forever.
    if (attempt > 4096) return log(d);
  }
}

}  // namespace pfgm
