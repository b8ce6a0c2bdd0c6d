// CUDA versions of the physics kernels (src/native/physics/physics_cpu.cc is the reference).
// The per-sample and per-element steps are physics_math.h's, shared with the CPU loops, so both
// backends read the same Philox streams and compute the same things with them. Launches are
// queued on the engine stream like every other op's (scratch from the caching pool, ordered on
// that stream), so a training step's draws can be in a CUDA graph.
#include <memory>

#include "device.h"
#include "physics/physics.h"
#include "physics/physics_math.h"
#include "runtime/allocator.cuh"
#include "runtime/check.cuh"
#include "runtime/launch.cuh"

namespace pfgm::cuda {
namespace {

constexpr int kThreads = 256;

// Block-wide sum of per-thread partial sums of g^2 over sample i's Gaussian stream.
__device__ double block_gauss_norm2(const StreamKey& key, int64_t n) {
  __shared__ double partial[kThreads];
  partial[threadIdx.x] = gauss_norm2_part(key, n, threadIdx.x, blockDim.x);
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
    __syncthreads();
  }
  return partial[0];
}

// One CUDA block per sample: the Student-t scale, and the radius clip when one is asked for.
__global__ void student_t_factor_kernel(NoiseSpec s, double* factor) {
  const int64_t i = blockIdx.x;
  const double norm2 =
      s.clipped() ? block_gauss_norm2(s.streams.key(i, s.purpose_gauss), s.n) : 0.0;
  if (threadIdx.x == 0) factor[i] = student_t_factor(s, i, norm2);
}

__global__ void pfgm_factor_kernel(PfgmSpec p, double* factor, void* z, bool f64) {
  const int64_t i = blockIdx.x;
  const double norm2 = block_gauss_norm2(p.streams.key(i, kPurposePfgmDirection), p.n);
  if (threadIdx.x == 0) {
    const PfgmSampleDraw d = pfgm_sample_draw(p, i);
    factor[i] = pfgm_factor(d, norm2);
    if (f64)
      static_cast<double*>(z)[i] = d.z;
    else
      static_cast<float*>(z)[i] = static_cast<float>(d.z);
  }
}

// out[i, :] = (y[i, :] or 0) + factor[i] g_i: one thread per Philox block of four elements.
template <typename T>
__global__ void add_scaled_gauss_kernel(const T* y, T* out, const double* factor, int64_t count,
                                        int64_t n, SampleStreams streams, uint32_t purpose) {
  const int64_t blocks = (n + 3) / 4;
  const int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= count * blocks) return;
  const int64_t i = t / blocks, b = t % blocks;
  add_scaled_gauss_block(y, out, factor[i], i, b, n, streams.key(i, purpose));
}

template <typename T>
void add_scaled_gauss(const T* y, T* out, const double* factor, int64_t count, int64_t n,
                      const SampleStreams& streams, uint32_t purpose) {
  const int64_t threads = count * ((n + 3) / 4);
  const int64_t grid = (threads + kThreads - 1) / kThreads;
  add_scaled_gauss_kernel<T><<<static_cast<unsigned>(grid), kThreads, 0, gpu::engine_stream()>>>(
      y, out, factor, count, n, streams, purpose);
  gpu::check_kernel("add_scaled_gauss_kernel");
}

template <typename T>
void student_t_noise(const T* y, T* out, const NoiseSpec& s) {
  gpu::DeviceArray<double> factor(s.count, gpu::engine_stream());
  student_t_factor_kernel<<<static_cast<unsigned>(s.count), kThreads, 0, gpu::engine_stream()>>>(
      s, factor.get());
  gpu::check_kernel("student_t_factor_kernel");
  add_scaled_gauss(y, out, factor.get(), s.count, s.n, s.streams, s.purpose_gauss);
}

template <typename T>
void pfgm_perturb(const T* y, T* x, T* z, const PfgmSpec& p) {
  gpu::DeviceArray<double> factor(p.count, gpu::engine_stream());
  pfgm_factor_kernel<<<static_cast<unsigned>(p.count), kThreads, 0, gpu::engine_stream()>>>(
      p, factor.get(), z, sizeof(T) == 8);
  gpu::check_kernel("pfgm_factor_kernel");
  add_scaled_gauss(y, x, factor.get(), p.count, p.n, p.streams, kPurposePfgmDirection);
}

template <typename T>
__global__ void training_sigma_kernel(T* out, int64_t count, double p_mean, double p_std,
                                      SampleStreams streams) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  out[i] = static_cast<T>(training_sigma_value(streams, i, p_mean, p_std));
}

template <typename T>
void training_sigma(T* out, int64_t count, double p_mean, double p_std,
                    const SampleStreams& streams) {
  const int64_t grid = (count + kThreads - 1) / kThreads;
  training_sigma_kernel<T><<<static_cast<unsigned>(grid), kThreads, 0, gpu::engine_stream()>>>(
      out, count, p_mean, p_std, streams);
  gpu::check_kernel("training_sigma_kernel");
}

}  // namespace

void student_t_noise_f32(const float* y, float* out, const NoiseSpec& s) {
  student_t_noise(y, out, s);
}
void student_t_noise_f64(const double* y, double* out, const NoiseSpec& s) {
  student_t_noise(y, out, s);
}
void pfgm_perturb_f32(const float* y, float* x, float* z, const PfgmSpec& p) {
  pfgm_perturb(y, x, z, p);
}
void pfgm_perturb_f64(const double* y, double* x, double* z, const PfgmSpec& p) {
  pfgm_perturb(y, x, z, p);
}
void training_sigma_f32(float* out, int64_t count, double p_mean, double p_std,
                        const SampleStreams& streams) {
  training_sigma(out, count, p_mean, p_std, streams);
}
void training_sigma_f64(double* out, int64_t count, double p_mean, double p_std,
                        const SampleStreams& streams) {
  training_sigma(out, count, p_mean, p_std, streams);
}

}  // namespace pfgm::cuda
