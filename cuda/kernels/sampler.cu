// CUDA twins of sample/sampler_cpu.cc: one thread per element (or per Philox block) around the
// shared per-element functions of sampler_math.h, so the same streams give the same draws.
#include <string>

#include "ops.h"
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

}  // namespace

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
