// CUDA twins of optim/optim.cc over the flat parameter buffers. Adam (+ EMA in the same pass),
// the EMA alone and gradient accumulation run adam_math.h's arithmetic with one rounding per
// operation, so weights, moments and EMA equal the CPU's bit for bit; grad_stats sums g^2 in
// double in a fixed order that depends only on `count`. Details and variants:
// bench/kernels/adam/README.md.
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
__global__ void grad_total_kernel(int64_t chunks, const double* sums, const int* bad, double* total,
                                  int* any_bad) {
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
    *total = s[0];
    *any_bad = nonfinite;
  }
}

__global__ void adam_kernel(int64_t count, optim::AdamCoefs c, float* p, const float* g, float* m,
                            float* v, float* ema, float ema_beta) {
  for (int64_t i = first_index(); i < count; i += grid_stride()) {
    const float pi = optim::adam_element(c, p[i], g[i], &m[i], &v[i]);
    p[i] = pi;
    if (ema != nullptr) ema[i] = optim::ema_element(ema[i], pi, ema_beta);
  }
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

optim::GradStats grad_stats(int64_t count, const float* g) {
  if (count <= 0) return optim::GradStats{true, 0.0};
  const int64_t chunks = (count + kChunk - 1) / kChunk;
  if (chunks > (int64_t{1} << 31) - 1) fail(code::kShape, "grad_stats: too many elements");
  const cudaStream_t stream = gpu::engine_stream();
  gpu::DeviceArray<double> sums(chunks, stream), total(1, stream);
  gpu::DeviceArray<int> bad(chunks, stream), any_bad(1, stream);
  grad_chunks_kernel<<<static_cast<unsigned>(chunks), kThreads, 0, stream>>>(count, g, sums.get(),
                                                                             bad.get());
  gpu::check_kernel("grad_chunks_kernel");
  grad_total_kernel<<<1, kThreads, 0, stream>>>(chunks, sums.get(), bad.get(), total.get(),
                                                any_bad.get());
  gpu::check_kernel("grad_total_kernel");
  double host_total = 0.0;
  int host_bad = 0;
  gpu::check(
      cudaMemcpyAsync(&host_total, total.get(), sizeof host_total, cudaMemcpyDeviceToHost, stream),
      "cudaMemcpyAsync (gradient norm to the host)");
  gpu::check(
      cudaMemcpyAsync(&host_bad, any_bad.get(), sizeof host_bad, cudaMemcpyDeviceToHost, stream),
      "cudaMemcpyAsync (gradient finiteness to the host)");
  gpu::check(cudaStreamSynchronize(stream), "grad_stats");
  return optim::GradStats{host_bad == 0 && std::isfinite(host_total), std::sqrt(host_total)};
}

void adam_step(int64_t count, float* p, const float* g, float* m, float* v, double lr, double beta1,
               double beta2, double eps, int64_t t, float grad_scale, float* ema, double ema_beta) {
  if (count <= 0) return;
  const optim::AdamCoefs c = optim::adam_coefs(lr, beta1, beta2, eps, t, grad_scale);
  adam_kernel<<<gpu::grid_for(count), kThreads, 0, gpu::engine_stream()>>>(
      count, c, p, g, m, v, ema, static_cast<float>(ema_beta));
  gpu::check_kernel("adam_kernel");
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
