// CUDA twins of ops/activation.cc: SiLU through the shared activation_math.h, and counter-based
// dropout that reads the CPU's Philox stream (same key, counter and lanes), so its mask is the
// CPU's and its output the CPU's bit for bit.
#include <string>

#include "ops.h"
#include "ops/activation_math.h"
#include "runtime/check.cuh"
#include "runtime/launch.cuh"

namespace pfgm::cuda {
namespace {

using gpu::first_index;
using gpu::grid_stride;

__global__ void silu_forward_kernel(int64_t count, const float* x, float* y) {
  for (int64_t i = first_index(); i < count; i += grid_stride()) y[i] = act::silu(x[i]);
}

__global__ void silu_backward_kernel(int64_t count, const float* x, const float* dy, float* dx) {
  for (int64_t i = first_index(); i < count; i += grid_stride())
    dx[i] = act::silu_grad(x[i], dy[i]);
}

// One thread per Philox block: elements [4b, 4b + 4) of sample i, lanes 0-3 of block
// (site << 24) | b of the stream (seed, sample_offset + i, step, kPurposeDropout).
__global__ void dropout_kernel(op::DropoutSpec s, uint32_t threshold, float scale, const float* in,
                               float* out) {
  const int64_t blocks = (s.per_sample + 3) / 4;
  for (int64_t t = first_index(); t < s.samples * blocks; t += grid_stride()) {
    const int64_t i = t / blocks, b = t % blocks;
    const StreamKey key{s.seed, s.sample_offset + static_cast<uint64_t>(i), s.step,
                        kPurposeDropout};
    const Philox4 r = draw_block(key, act::dropout_block(s.site, b));
    const int64_t lanes = s.per_sample - 4 * b < 4 ? s.per_sample - 4 * b : 4;
    const int64_t base = i * s.per_sample + 4 * b;
    for (int64_t l = 0; l < lanes; ++l) {
      out[base + l] = act::dropout_element(in[base + l], r.v[l], threshold, scale);
    }
  }
}

// Inverted dropout is linear with the same mask both ways: forward and backward are this.
void dropout_apply(const op::DropoutSpec& s, const float* in, float* out) {
  if (!(s.p >= 0.0f && s.p < 1.0f)) {
    fail(code::kArgument, "dropout p must be in [0, 1), got " + std::to_string(s.p));
  }
  if (s.site >= (1u << 8) || s.per_sample > (int64_t{1} << 26)) {
    fail(code::kArgument, "dropout needs site < 256 and < 2^26 elements per sample");
  }
  const int64_t total = s.samples * s.per_sample;
  if (total <= 0) return;
  if (s.p == 0.0f) {  // exactly the identity, no draws (as on the CPU)
    if (in != out) {
      gpu::check(cudaMemcpyAsync(out, in, static_cast<size_t>(total) * sizeof(float),
                                 cudaMemcpyDeviceToDevice, gpu::engine_stream()),
                 "cudaMemcpyAsync (dropout with p = 0)");
    }
    return;
  }
  const int64_t threads = s.samples * ((s.per_sample + 3) / 4);
  dropout_kernel<<<gpu::grid_for(threads), gpu::kThreads, 0, gpu::engine_stream()>>>(
      s, act::dropout_threshold(s.p), act::dropout_scale(s.p), in, out);
  gpu::check_kernel("dropout_kernel");
}

}  // namespace

void silu_forward(int64_t count, const float* x, float* y) {
  if (count <= 0) return;
  silu_forward_kernel<<<gpu::grid_for(count), gpu::kThreads, 0, gpu::engine_stream()>>>(count, x,
                                                                                        y);
  gpu::check_kernel("silu_forward_kernel");
}

void silu_backward(int64_t count, const float* x, const float* dy, float* dx) {
  if (count <= 0) return;
  silu_backward_kernel<<<gpu::grid_for(count), gpu::kThreads, 0, gpu::engine_stream()>>>(count, x,
                                                                                         dy, dx);
  gpu::check_kernel("silu_backward_kernel");
}

void dropout_forward(const op::DropoutSpec& s, const float* x, float* y) { dropout_apply(s, x, y); }

void dropout_backward(const op::DropoutSpec& s, const float* dy, float* dx) {
  dropout_apply(s, dy, dx);
}

}  // namespace pfgm::cuda
