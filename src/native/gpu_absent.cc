// The CPU-only build's GPU runtime: reports why there is no GPU and refuses device memory.
#include "device.h"
#include "errors.h"
#include "nn/backend.h"
#include "physics/physics.h"
#include "sample/sampler.h"

namespace pfgm::gpu {
namespace {
[[noreturn]] void no_cuda() {
  fail(code::kDevice,
       "this pfgm build has no CUDA backend: use device 'cpu', or rebuild with a CUDA toolkit "
       "installed (npm rebuild pfgm) and load it with PFGM_DEVICE=cuda");
}
}  // namespace

Info query() {
  Info info;
  info.reason = "this is the CPU-only build of the addon";
  return info;
}
void* allocate(size_t) { no_cuda(); }
void release(void*) {}
void copy_to_device(void*, const void*, size_t) { no_cuda(); }
void copy_to_host(void*, const void*, size_t) { no_cuda(); }
void copy_on_device(void*, const void*, size_t) { no_cuda(); }
void synchronize() {}
void set_current_device(int) {}

}  // namespace pfgm::gpu

namespace pfgm::cuda {
void student_t_noise_f32(const float*, float*, const NoiseSpec&) { gpu::allocate(0); }
void student_t_noise_f64(const double*, double*, const NoiseSpec&) { gpu::allocate(0); }
void pfgm_perturb_f32(const float*, float*, float*, const PfgmSpec&) { gpu::allocate(0); }
void pfgm_perturb_f64(const double*, double*, double*, const PfgmSpec&) { gpu::allocate(0); }
void training_sigma_f32(float*, int64_t, double, double, const SampleStreams&) { gpu::allocate(0); }
void training_sigma_f64(double*, int64_t, double, double, const SampleStreams&) {
  gpu::allocate(0);
}
void linear_combination_f32(int64_t, int, const double*, const float* const*, float*) {
  gpu::allocate(0);
}
void churn_noise_f32(const float*, float*, int64_t, int64_t, double, const SampleStreams&) {
  gpu::allocate(0);
}
void rademacher_f32(float*, int64_t, int64_t, const SampleStreams&) { gpu::allocate(0); }
int64_t first_nonfinite_f32(int64_t, const float*) {
  gpu::allocate(0);
  return -1;
}
double scaled_sumsq_f32(int64_t, const float*, const float*, const float*, double, double) {
  gpu::allocate(0);
  return 0;
}
void slope_update_f32(int64_t, double, const float*, const float*, int, const double*,
                      const float* const*, float*, float*) {
  gpu::allocate(0);
}
void pfgm_drift_f32(int64_t, int64_t, int64_t, const float*, double, double, float*) {
  gpu::allocate(0);
}
}  // namespace pfgm::cuda

namespace pfgm::nn {
Backend& cuda_backend(Precision) {
  fail(code::kDevice,
       "device 'cuda' needs the CUDA build of the addon, and this is the CPU-only build: use "
       "device 'cpu', or rebuild with a CUDA toolkit (and cuDNN, cuBLAS) installed and load it "
       "with PFGM_DEVICE=cuda");
}
}  // namespace pfgm::nn
