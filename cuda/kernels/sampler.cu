// CUDA twins of sample/sampler_cpu.cc: one thread per element (or per Philox block) around the
// shared per-element functions of sampler_math.h, so the same streams give the same draws. The two
// reductions write one partial per block (a fixed tree in shared memory over a fixed grid) and the
// host combines the partials in block order, so a result never depends on scheduling.
#include <algorithm>
#include <string>
#include <vector>

#include "ops.h"
#include "runtime/allocator.cuh"
#include "runtime/check.cuh"
#include "runtime/launch.cuh"
#include "sample/sampler_math.h"

namespace pfgm::cuda {
namespace {

using gpu::first_index;
using gpu::grid_stride;

// The terms travel by value in the kernel's parameters (16 doubles + 16 pointers = 256 bytes).
struct Terms {
  double coefs[kMaxCombineTerms];
  const float* in[kMaxCombineTerms];
  int count;
};

__global__ void combine_kernel(int64_t n, Terms terms, float* out) {
  for (int64_t k = first_index(); k < n; k += grid_stride()) {
    out[k] = combine_element(k, terms.count, terms.coefs, terms.in);
  }
}

__global__ void slope_update_kernel(int64_t n, double inv_sigma, const float* x, const float* den,
                                    Terms terms, float* d_out, float* x_out) {
  for (int64_t k = first_index(); k < n; k += grid_stride()) {
    slope_update_element(k, inv_sigma, x, den, terms.count, terms.coefs, terms.in, d_out, x_out);
  }
}

__global__ void churn_kernel(const float* x, float* out, int64_t count, int64_t n, double scale,
                             SampleStreams streams) {
  const int64_t blocks = (n + 3) / 4;
  for (int64_t t = first_index(); t < count * blocks; t += grid_stride()) {
    churn_block(x, out, n, t / blocks, t % blocks, scale, streams);
  }
}

__global__ void rademacher_kernel(float* out, int64_t count, int64_t n, SampleStreams streams) {
  for (int64_t t = first_index(); t < count * n; t += grid_stride()) {
    out[t] = stream_sign(streams, t / n, t % n, kPurposeHutchinson);
  }
}

// At most this many blocks for the reductions: enough to fill a GPU, few partials to bring back.
constexpr int64_t kReduceBlocks = 1024;

__global__ void first_nonfinite_kernel(int64_t n, const float* x, int64_t* partial) {
  __shared__ int64_t best[gpu::kThreads];
  int64_t mine = n;
  // The thread's indices ascend, so its first hit is its smallest.
  for (int64_t k = first_index(); k < n; k += grid_stride()) {
    if (not_finite(x[k])) {
      mine = k;
      break;
    }
  }
  best[threadIdx.x] = mine;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride && best[threadIdx.x + stride] < best[threadIdx.x])
      best[threadIdx.x] = best[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = best[0];
}

__global__ void scaled_sumsq_kernel(int64_t n, const float* e, const float* a, const float* b,
                                    double rtol, double atol, double* partial) {
  __shared__ double sum[gpu::kThreads];
  double acc = 0.0;
  for (int64_t k = first_index(); k < n; k += grid_stride())
    acc += scaled_square(e[k], a[k], b[k], rtol, atol);
  sum[threadIdx.x] = acc;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) sum[threadIdx.x] += sum[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = sum[0];
}

// One block per sample: ||v_x||^2 and the z component's sum in double over a fixed tree, then the
// drift written in field()'s packed order.
__global__ void pfgm_drift_kernel(int64_t hw, int64_t c, const float* f, double z, double gamma,
                                  float* out) {
  __shared__ double vx2[gpu::kThreads];
  __shared__ double zs[gpu::kThreads];
  __shared__ double scale;
  const int64_t co = c + 1, per = c * hw, i = blockIdx.x;
  const float* fi = f + i * hw * co;
  double a = 0.0, b = 0.0;
  for (int64_t k = threadIdx.x; k < per; k += blockDim.x) {
    const double v = fi[(k % hw) * co + k / hw];
    a += v * v;
  }
  for (int64_t p = threadIdx.x; p < hw; p += blockDim.x) b += fi[p * co + c];
  vx2[threadIdx.x] = a;
  zs[threadIdx.x] = b;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) {
      vx2[threadIdx.x] += vx2[threadIdx.x + stride];
      zs[threadIdx.x] += zs[threadIdx.x + stride];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    const float vz = static_cast<float>(zs[0] / static_cast<double>(hw));
    scale = pfgm_drift_scale(vx2[0], vz, z, per, gamma);
  }
  __syncthreads();
  for (int64_t k = threadIdx.x; k < per; k += blockDim.x)
    out[i * per + k] = static_cast<float>(scale * fi[(k % hw) * co + k / hw]);
}

// The block partials of a reduction, on the host.
template <typename T>
std::vector<T> partials_to_host(const gpu::DeviceArray<T>& d, unsigned blocks, const char* what) {
  std::vector<T> host(blocks);
  gpu::check(cudaMemcpyAsync(host.data(), d.get(), blocks * sizeof(T), cudaMemcpyDeviceToHost,
                             gpu::engine_stream()),
             what);
  gpu::check(cudaStreamSynchronize(gpu::engine_stream()), what);
  return host;
}

unsigned reduce_grid(int64_t n) {
  return static_cast<unsigned>(std::min<int64_t>(gpu::grid_for(n), kReduceBlocks));
}

}  // namespace

int64_t first_nonfinite_f32(int64_t n, const float* x) {
  if (n <= 0) return -1;
  const unsigned blocks = reduce_grid(n);
  gpu::DeviceArray<int64_t> d(blocks, gpu::engine_stream());
  first_nonfinite_kernel<<<blocks, gpu::kThreads, 0, gpu::engine_stream()>>>(n, x, d.get());
  gpu::check_kernel("first_nonfinite_kernel");
  int64_t best = n;
  for (int64_t p : partials_to_host(d, blocks, "cudaMemcpyAsync (finiteness check)"))
    best = std::min(best, p);
  return best < n ? best : -1;
}

double scaled_sumsq_f32(int64_t n, const float* e, const float* a, const float* b, double rtol,
                        double atol) {
  if (n <= 0) return 0.0;
  const unsigned blocks = reduce_grid(n);
  gpu::DeviceArray<double> d(blocks, gpu::engine_stream());
  scaled_sumsq_kernel<<<blocks, gpu::kThreads, 0, gpu::engine_stream()>>>(n, e, a, b, rtol, atol,
                                                                          d.get());
  gpu::check_kernel("scaled_sumsq_kernel");
  double total = 0.0;
  for (double p : partials_to_host(d, blocks, "cudaMemcpyAsync (error norm)")) total += p;
  return total;
}

void pfgm_drift_f32(int64_t count, int64_t hw, int64_t c, const float* f, double z, double gamma,
                    float* out) {
  if (count <= 0 || hw * c <= 0) return;
  if (count > (int64_t{1} << 31) - 1) fail(code::kShape, "pfgm_drift: at most 2^31 - 1 samples");
  pfgm_drift_kernel<<<static_cast<unsigned>(count), gpu::kThreads, 0, gpu::engine_stream()>>>(
      hw, c, f, z, gamma, out);
  gpu::check_kernel("pfgm_drift_kernel");
}

void linear_combination_f32(int64_t n, int terms, const double* coefs, const float* const* inputs,
                            float* out) {
  if (terms < 1 || terms > kMaxCombineTerms) {
    fail(code::kArgument, "linear_combination: 1 to " + std::to_string(kMaxCombineTerms) +
                              " terms, got " + std::to_string(terms));
  }
  if (n <= 0) return;
  Terms t{};
  t.count = terms;
  for (int k = 0; k < terms; ++k) {
    t.coefs[k] = coefs[k];
    t.in[k] = inputs[k];
  }
  combine_kernel<<<gpu::grid_for(n), gpu::kThreads, 0, gpu::engine_stream()>>>(n, t, out);
  gpu::check_kernel("combine_kernel");
}

void slope_update_f32(int64_t n, double inv_sigma, const float* x, const float* den, int terms,
                      const double* coefs, const float* const* slopes, float* d_out, float* x_out) {
  if (terms < 1 || terms >= kMaxCombineTerms) {
    fail(code::kArgument, "slope_update: 1 to " + std::to_string(kMaxCombineTerms - 1) +
                              " terms, got " + std::to_string(terms));
  }
  if (n <= 0) return;
  Terms t{};
  t.count = terms;
  for (int k = 0; k < terms; ++k) {
    t.coefs[k] = coefs[k];
    t.in[k] = k == 0 ? nullptr : slopes[k];
  }
  slope_update_kernel<<<gpu::grid_for(n), gpu::kThreads, 0, gpu::engine_stream()>>>(
      n, inv_sigma, x, den, t, d_out, x_out);
  gpu::check_kernel("slope_update_kernel");
}

void churn_noise_f32(const float* x, float* out, int64_t count, int64_t n, double scale,
                     const SampleStreams& streams) {
  const int64_t threads = count * ((n + 3) / 4);
  if (threads <= 0) return;
  churn_kernel<<<gpu::grid_for(threads), gpu::kThreads, 0, gpu::engine_stream()>>>(x, out, count, n,
                                                                                   scale, streams);
  gpu::check_kernel("churn_kernel");
}

void rademacher_f32(float* out, int64_t count, int64_t n, const SampleStreams& streams) {
  if (count * n <= 0) return;
  rademacher_kernel<<<gpu::grid_for(count * n), gpu::kThreads, 0, gpu::engine_stream()>>>(
      out, count, n, streams);
  gpu::check_kernel("rademacher_kernel");
}

}  // namespace pfgm::cuda
