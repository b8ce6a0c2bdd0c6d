// CUDA twins of optim/optim.cc over the flat parameter buffers. Adam (+ EMA in the same pass, and
// in the checked form that reads the step's statistics from device memory), the EMA alone and
// gradient accumulation run adam_math.h's arithmetic with one rounding per operation, so weights,
// moments and EMA equal the CPU's bit for bit; grad_stats sums g^2 in double in a fixed order that
// depends only on `count`. Details and variants: bench/kernels/adam/README.md.
#include "ops.h"
#include "optim/adam_math.h"
#include "runtime/allocator.cuh"
#include "runtime/check.cuh"
#include "runtime/launch.cuh"

namespace pfgm::cuda {
namespace {

using gpu::first_index;
using gpu::grid_stride;
using gpu::kThreads;

constexpr int64_t kChunk = int64_t{1} << 14;

// Tree sum of a block's kThreads values in shared memory; the result is in s[0].
template <typename T>
__device__ void block_tree_sum(T* s) {
  __syncthreads();
  for (int stride = kThreads / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) s[threadIdx.x] += s[threadIdx.x + stride];
    __syncthreads();
  }
}

__global__ void grad_chunks_kernel(int64_t count, const float* g, double* sums, int* bad) {
  __shared__ double s[kThreads];
  const int64_t begin = static_cast<int64_t>(blockIdx.x) * kChunk;
  const int64_t end = begin + kChunk < count ? begin + kChunk : count;
  double acc = 0.0;
  bool finite = true;
  for (int64_t i = begin + threadIdx.x; i < end; i += kThreads) {
    const double x = g[i];
    finite = finite && isfinite(x);
    acc += x * x;
  }
  const int nonfinite = __syncthreads_or(finite ? 0 : 1);
  s[threadIdx.x] = acc;
  block_tree_sum(s);
  if (threadIdx.x == 0) {
    sums[blockIdx.x] = s[0];
    bad[blockIdx.x] = nonfinite;
  }
}

// One block: thread t sums chunks t, t + kThreads, ... in order, then a fixed tree.
// Writes stats[0] = the sum and stats[1] = 1 where some chunk held a non-finite value.
__global__ void grad_total_kernel(int64_t chunks, const double* sums, const int* bad,
                                  double* stats) {
  __shared__ double s[kThreads];
  double acc = 0.0;
  int flag = 0;
  for (int64_t c = threadIdx.x; c < chunks; c += kThreads) {
    acc += sums[c];
    flag |= bad[c];
  }
  const int nonfinite = __syncthreads_or(flag);
  s[threadIdx.x] = acc;
  block_tree_sum(s);
  if (threadIdx.x == 0) {
    stats[0] = s[0];
    stats[1] = nonfinite != 0 ? 1.0 : 0.0;
  }
}

// This thread's elements of one Adam (+ EMA) update, shared by both kernels below.
__device__ void adam_elements(int64_t count, const optim::AdamCoefs& c, float* p, const float* g,
                              float* m, float* v, float* ema, float ema_beta) {
  for (int64_t i = first_index(); i < count; i += grid_stride()) {
    const float pi = optim::adam_element(c, p[i], g[i], &m[i], &v[i]);
    p[i] = pi;
    if (ema != nullptr) ema[i] = optim::ema_element(ema[i], pi, ema_beta);
  }
}

__global__ void adam_kernel(int64_t count, optim::AdamCoefs c, float* p, const float* g, float* m,
                            float* v, float* ema, float ema_beta) {
  adam_elements(count, c, p, g, m, v, ema, ema_beta);
}

// The update of adam_step_checked: each block derives the step's constants from the statistics
// (adam_math.h, as the CPU does), and does nothing when the update does not apply.
__global__ void adam_checked_kernel(int64_t count, const optim::AdamStep* step, const double* stats,
                                    float* p, const float* g, float* m, float* v, float* ema) {
  __shared__ optim::AdamCoefs c;
  __shared__ float beta;
  __shared__ bool applies;
  if (threadIdx.x == 0) {
    applies = optim::update_applies(stats);
    c = step->coefs;
    c.grad_scale = optim::clip_scale(step->grad_clip, stats[optim::kStatGradSumsq]);
    beta = step->ema_beta;
  }
  __syncthreads();
  if (!applies) return;
  adam_elements(count, c, p, g, m, v, ema, beta);
}

__global__ void axpy_kernel(int64_t count, float alpha, const float* x, float* y) {
  for (int64_t i = first_index(); i < count; i += grid_stride()) {
    y[i] = optim::axpy_element(alpha, x[i], y[i]);
  }
}

__global__ void ema_kernel(int64_t count, float* ema, const float* p, float beta) {
  for (int64_t i = first_index(); i < count; i += grid_stride()) {
    ema[i] = optim::ema_element(ema[i], p[i], beta);
  }
}

}  // namespace

void grad_stats_into(int64_t count, const float* g, double* stats) {
  const cudaStream_t stream = gpu::engine_stream();
  if (count <= 0) {
    gpu::check(cudaMemsetAsync(stats, 0, 2 * sizeof(double), stream), "grad_stats_into");
    return;
  }
  const int64_t chunks = (count + kChunk - 1) / kChunk;
  if (chunks > (int64_t{1} << 31) - 1) fail(code::kShape, "grad_stats: too many elements");
  gpu::DeviceArray<double> sums(chunks, stream);
  gpu::DeviceArray<int> bad(chunks, stream);
  grad_chunks_kernel<<<static_cast<unsigned>(chunks), kThreads, 0, stream>>>(count, g, sums.get(),
                                                                             bad.get());
  gpu::check_kernel("grad_chunks_kernel");
  grad_total_kernel<<<1, kThreads, 0, stream>>>(chunks, sums.get(), bad.get(), stats);
  gpu::check_kernel("grad_total_kernel");
}

optim::GradStats grad_stats(int64_t count, const float* g) {
  const cudaStream_t stream = gpu::engine_stream();
  gpu::DeviceArray<double> stats(2, stream);
  grad_stats_into(count, g, stats.get());
  double host[2] = {0.0, 0.0};
  gpu::check(cudaMemcpyAsync(host, stats.get(), sizeof host, cudaMemcpyDeviceToHost, stream),
             "cudaMemcpyAsync (gradient statistics to the host)");
  gpu::check(cudaStreamSynchronize(stream), "grad_stats");
  return optim::GradStats{host[1] == 0.0 && std::isfinite(host[0]), std::sqrt(host[0])};
}

void adam_step(int64_t count, float* p, const float* g, float* m, float* v, double lr, double beta1,
               double beta2, double eps, int64_t t, float grad_scale, float* ema, double ema_beta) {
  if (count <= 0) return;
  const optim::AdamCoefs c = optim::adam_coefs(lr, beta1, beta2, eps, t, grad_scale);
  adam_kernel<<<gpu::grid_for(count), kThreads, 0, gpu::engine_stream()>>>(
      count, c, p, g, m, v, ema, static_cast<float>(ema_beta));
  gpu::check_kernel("adam_kernel");
}

void adam_step_checked(int64_t count, float* p, const float* g, float* m, float* v,
                       const optim::AdamStep* step, const double* stats, float* ema) {
  if (count <= 0) return;
  adam_checked_kernel<<<gpu::grid_for(count), kThreads, 0, gpu::engine_stream()>>>(
      count, step, stats, p, g, m, v, ema);
  gpu::check_kernel("adam_checked_kernel");
}

void axpy(int64_t count, float alpha, const float* x, float* y) {
  if (count <= 0) return;
  axpy_kernel<<<gpu::grid_for(count), kThreads, 0, gpu::engine_stream()>>>(count, alpha, x, y);
  gpu::check_kernel("axpy_kernel");
}

void ema_update(int64_t count, float* ema, const float* p, double beta) {
  if (count <= 0) return;
  ema_kernel<<<gpu::grid_for(count), kThreads, 0, gpu::engine_stream()>>>(count, ema, p,
                                                                          static_cast<float>(beta));
  gpu::check_kernel("ema_kernel");
}

}  // namespace pfgm::cuda
