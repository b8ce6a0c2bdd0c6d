// The physics kernels (docs/method.md §2.1-2.3, §3). Each has a CPU version (physics_cpu.cc) and a
// CUDA version (cuda/kernels/physics.cu) with the same signature; pointers live in the backend's
// memory.
#pragma once

#include <cstdint>

#include "noise.h"

namespace pfgm {

#define PFGM_PHYSICS_DECLARATIONS                                                              \
  /* out = (y or 0) + Student-t noise of docs/method.md (2.2); y may be null (prior draws). */ \
  void student_t_noise_f32(const float* y, float* out, const NoiseSpec& spec);                 \
  void student_t_noise_f64(const double* y, double* out, const NoiseSpec& spec);               \
  /* docs/method.md §3 perturbation: x = y + R u, z = z0 (1 + tau)^m. */                      \
  void pfgm_perturb_f32(const float* y, float* x, float* z, const PfgmSpec& spec);             \
  void pfgm_perturb_f64(const double* y, double* x, double* z, const PfgmSpec& spec);          \
  /* docs/method.md §2.2: sigma = exp(p_mean + p_std * normal), one per sample. */            \
  void training_sigma_f32(float* out, int64_t count, double p_mean, double p_std,              \
                          const SampleStreams& streams);                                       \
  void training_sigma_f64(double* out, int64_t count, double p_mean, double p_std,             \
                          const SampleStreams& streams);

namespace cpu {
PFGM_PHYSICS_DECLARATIONS
}
namespace cuda {
PFGM_PHYSICS_DECLARATIONS
}

#undef PFGM_PHYSICS_DECLARATIONS

}  // namespace pfgm
