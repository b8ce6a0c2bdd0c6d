// CUDA twins of ops/activation.cc: SiLU through the shared activation_math.h, and counter-based
// dropout that reads the CPU's Philox stream (same key, counter and lanes), so its mask (and the
// mask's bits, in activation.h's layout) is the CPU's and its output the CPU's bit for bit.
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
// (site << 24) | b of the stream (seed, sample_offset + i, step, kPurposeDropout). A sample has
// 8 threads per mask word (the blocks past its end draw nothing), so the 8 aligned lanes of a
// group hold one word's 32 bits, which they OR together by shuffles; the group's first lane
// writes the word. Whole warps run each iteration (the shuffles name all 32 lanes).
__global__ void dropout_kernel(op::DropoutSpec s, uint32_t threshold, float scale, const float* in,
                               float* out, uint32_t* mask) {
  const int64_t words = op::dropout_mask_words(s.per_sample);
  const int64_t threads = s.samples * words * 8;
  const int lane = static_cast<int>(threadIdx.x % 32);
  const uint32_t step = step_value(s.step, s.step_at);
  for (int64_t t = first_index(); t - lane < threads; t += grid_stride()) {
    uint32_t nibble = 0;
    if (t < threads) {
      const int64_t i = t / (words * 8), b = t % (words * 8);
      const int64_t left = s.per_sample - 4 * b;
      if (left > 0) {
        const StreamKey key{s.seed, s.sample_offset + static_cast<uint64_t>(i), step,
                            kPurposeDropout};
        const Philox4 r = draw_block(key, act::dropout_block(s.site, b));
        const int64_t lanes = left < 4 ? left : 4;
        const int64_t base = i * s.per_sample + 4 * b;
        for (int64_t l = 0; l < lanes; ++l) {
          const bool kept = r.v[l] >= threshold;
          out[base + l] = act::dropout_kept(in[base + l], kept, scale);
          nibble |= static_cast<uint32_t>(kept) << l;
        }
      }
    }
    if (mask != nullptr) {  // the same for the whole grid
      uint32_t word = nibble << (4 * (lane % 8));
      for (int off = 4; off > 0; off /= 2) word |= __shfl_xor_sync(0xffffffffu, word, off);
      if (t < threads && lane % 8 == 0) mask[t / 8] = word;
    }
  }
}

// One thread per element: the backward reading the forward's mask, no draws.
__global__ void dropout_masked_kernel(op::DropoutSpec s, float scale, const uint32_t* mask,
                                      const float* in, float* out) {
  const int64_t words = op::dropout_mask_words(s.per_sample);
  for (int64_t t = first_index(); t < s.samples * s.per_sample; t += grid_stride()) {
    const int64_t i = t / s.per_sample, j = t % s.per_sample;
    const bool kept = (mask[i * words + j / 32] >> (j % 32)) & 1u;
    out[t] = act::dropout_kept(in[t], kept, scale);
  }
}

void check_spec(const op::DropoutSpec& s) {
  if (!(s.p >= 0.0f && s.p < 1.0f)) {
    fail(code::kArgument, "dropout p must be in [0, 1), got " + std::to_string(s.p));
  }
  if (s.site >= (1u << 8) || s.per_sample > (int64_t{1} << 26)) {
    fail(code::kArgument, "dropout needs site < 256 and < 2^26 elements per sample");
  }
}

// p = 0: exactly the identity, no draws and no mask (as on the CPU). True when it handled it.
bool identity(const op::DropoutSpec& s, const float* in, float* out) {
  const int64_t total = s.samples * s.per_sample;
  if (total > 0 && s.p != 0.0f) return false;
  if (total > 0 && in != out) {
    gpu::check(cudaMemcpyAsync(out, in, static_cast<size_t>(total) * sizeof(float),
                               cudaMemcpyDeviceToDevice, gpu::engine_stream()),
               "cudaMemcpyAsync (dropout with p = 0)");
  }
  return true;
}

// Inverted dropout is linear with the same mask both ways: the forward, and the backward given
// no mask, are this (writing the mask when `mask` is not null).
void dropout_draw_apply(const op::DropoutSpec& s, const float* in, float* out, uint32_t* mask) {
  check_spec(s);
  if (identity(s, in, out)) return;
  const int64_t threads = s.samples * op::dropout_mask_words(s.per_sample) * 8;
  dropout_kernel<<<gpu::grid_for(threads), gpu::kThreads, 0, gpu::engine_stream()>>>(
      s, act::dropout_threshold(s.p), act::dropout_scale(s.p), in, out, mask);
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

void dropout_forward(const op::DropoutSpec& s, const float* x, float* y, uint32_t* mask) {
  dropout_draw_apply(s, x, y, mask);
}

void dropout_backward(const op::DropoutSpec& s, const uint32_t* mask, const float* dy, float* dx) {
  if (mask == nullptr) {
    dropout_draw_apply(s, dy, dx, nullptr);
    return;
  }
  check_spec(s);
  if (identity(s, dy, dx)) return;
  const int64_t count = s.samples * s.per_sample;
  dropout_masked_kernel<<<gpu::grid_for(count), gpu::kThreads, 0, gpu::engine_stream()>>>(
      s, act::dropout_scale(s.p), mask, dy, dx);
  gpu::check_kernel("dropout_masked_kernel");
}

}  // namespace pfgm::cuda
