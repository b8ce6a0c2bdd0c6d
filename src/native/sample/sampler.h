// The sampler's fused per-step kernels (docs/dev/architecture.md, "Fusion": sampler updates are
// fused elementwise kernels). Every solver step of src/sample/*.ts is one linear_combination; EDM's
// churn adds its noise in one pass; the likelihood's Hutchinson probes are drawn in one pass.
//
// The CPU versions live in sampler_cpu.cc; the per-element math they run is in sampler_math.h so
// that a CUDA twin (namespace pfgm::cuda, same signatures, pointers in device memory) is a thin
// kernel around the same functions.
#pragma once

#include <cstdint>

#include "../physics/noise.h"

namespace pfgm::cpu {

// out[k] = sum_t coefs[t] * inputs[t][k] for k < n, with 1 <= terms <= kMaxCombineTerms. out may
// be one of the inputs (each element is read before it is written); partial overlaps are not
// allowed.
void linear_combination_f32(int64_t n, int terms, const double* coefs, const float* const* inputs,
                            float* out);

// EDM's churn (docs/method.md §2.3): out[i, :] = x[i, :] + scale * eps_i with eps_i ~ N(0, I) from
// sample i's stream (purpose kPurposeChurn, streams.step = the solver step). out may equal x.
void churn_noise_f32(const float* x, float* out, int64_t count, int64_t n, double scale,
                     const SampleStreams& streams);

// Rademacher probes of the Hutchinson trace estimate: out[i, :] in {-1, +1}^n from sample i's
// stream (purpose kPurposeHutchinson, streams.step = the probe index).
void rademacher_f32(float* out, int64_t count, int64_t n, const SampleStreams& streams);

}  // namespace pfgm::cpu
