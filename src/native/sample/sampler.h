// The sampler's fused per-step kernels (docs/dev/architecture.md, "Fusion": sampler updates are
// fused elementwise kernels). Every solver step of src/sample/*.ts is one linear_combination; EDM's
// churn adds its noise in one pass; the likelihood's Hutchinson probes are drawn in one pass; two
// reductions (the finiteness check, RK45's error norm) let a run whose state stays on the GPU
// (sample/run.h) bring back only scalars.
//
// The CPU versions live in sampler_cpu.cc, the CUDA twins in cuda/kernels/sampler.cu (same
// signatures; pointers in device memory except `coefs` and the `inputs` array, which stay on the
// host); the per-element math both run is in sampler_math.h. The CPU-only build's cuda:: versions
// refuse (gpu_absent.cc).
#pragma once

#include <cstdint>

#include "../physics/noise.h"

namespace pfgm {

#define PFGM_SAMPLER_DECLARATIONS                                                                 \
  /* out[k] = sum_t coefs[t] * inputs[t][k] for k < n, with 1 <= terms <= kMaxCombineTerms. out   \
     may be one of the inputs (each element is read before it is written); partial overlaps are   \
     not allowed. */                                                                              \
  void linear_combination_f32(int64_t n, int terms, const double* coefs,                          \
                              const float* const* inputs, float* out);                            \
  /* EDM's churn (docs/method.md §2.3): out[i, :] = x[i, :] + scale * eps_i with eps_i ~ N(0, I) \
     from sample i's stream (purpose kPurposeChurn, streams.step = the solver step). out may      \
     equal x. */                                                                                  \
  void churn_noise_f32(const float* x, float* out, int64_t count, int64_t n, double scale,        \
                       const SampleStreams& streams);                                             \
  /* Rademacher probes of the Hutchinson trace estimate: out[i, :] in {-1, +1}^n from sample i's  \
     stream (purpose kPurposeHutchinson, streams.step = the probe index). */                      \
  void rademacher_f32(float* out, int64_t count, int64_t n, const SampleStreams& streams);        \
  /* The index of the first NaN or Infinity of x[0, n), or -1: the solvers' finiteness check.  */ \
  int64_t first_nonfinite_f32(int64_t n, const float* x);                                         \
  /* sum_k scaled_square(e[k], a[k], b[k], rtol, atol) (sampler_math.h) in double: RK45's error   \
     norm squared, times n. */                                                                    \
  double scaled_sumsq_f32(int64_t n, const float* e, const float* a, const float* b, double rtol, \
                          double atol);                                                           \
  /* PFGM's z-ODE drift from the backbone's raw output f [count, hw, c + 1] (channels last):      \
     out[i, ch hw + p] = pfgm_drift_scale(...) f[i, p, ch] (sampler_math.h), with ||v_x||^2 and   \
     the mean z component summed in double. */                                                    \
  void pfgm_drift_f32(int64_t count, int64_t hw, int64_t c, const float* f, double z,             \
                      double gamma, float* out);                                                  \
  /* iPNDM's step in one pass (sampler_math.h slope_update_element): d_out = (x - den) sigma^-1,  \
     x_out = x + coefs[0] d_out + sum_{t >= 1} coefs[t] slopes[t] (slopes[0] unused), 1 <= terms  \
     < kMaxCombineTerms; `coefs` and the `slopes` array on the host. */                           \
  void slope_update_f32(int64_t n, double inv_sigma, const float* x, const float* den, int terms, \
                        const double* coefs, const float* const* slopes, float* d_out,            \
                        float* x_out);

namespace cpu {
PFGM_SAMPLER_DECLARATIONS
}
namespace cuda {
PFGM_SAMPLER_DECLARATIONS
}

#undef PFGM_SAMPLER_DECLARATIONS

}  // namespace pfgm
