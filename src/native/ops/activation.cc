// SiLU and counter-based dropout on the CPU.
//
// Hot loops live in small kernels compiled twice (AVX2+FMA and baseline x86-64) and picked at
// load time: the addon is built without -march flags so that it runs on any x86-64, yet these
// loops run on every activation of every step. Loops call only branch-free inline code so that
// the compiler vectorizes them.
#include "activation.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "../errors.h"
#include "../rng/philox.h"
#include "activation_math.h"
#include "parallel.h"

namespace pfgm::cpu {
namespace {

// exp_in_range and clamp_exp_arg are shared with the CUDA kernels (activation_math.h).
using act::clamp_exp_arg;
using act::exp_in_range;

// The clamp runs in a loop of its own over a small stack block: GCC (under the default
// -ftrapping-math) will not if-convert a float clamp followed by arithmetic in one loop body, and
// the loop would stay scalar.
constexpr int64_t kBlock = 64;

PFGM_VECTOR_CLONES
void silu_forward_kernel(int64_t count, const float* x, float* y) {
  float e[kBlock];
  for (int64_t b = 0; b < count; b += kBlock) {
    const int64_t n = std::min(kBlock, count - b);
    const float* xb = x + b;
    float* yb = y + b;
    for (int64_t i = 0; i < n; ++i) e[i] = clamp_exp_arg(-xb[i]);
      // Elementwise, so in-place calls (y == x) are safe; without this the compiler's overlap
      // check sends them to the scalar loop.
#pragma GCC ivdep
    for (int64_t i = 0; i < n; ++i) yb[i] = xb[i] / (1.0f + exp_in_range(e[i]));
  }
}

// d silu / dx = s (1 + x (1 - s)) with s = sigmoid(x).
PFGM_VECTOR_CLONES
void silu_backward_kernel(int64_t count, const float* x, const float* dy, float* dx) {
  float e[kBlock];
  for (int64_t b = 0; b < count; b += kBlock) {
    const int64_t n = std::min(kBlock, count - b);
    const float* xb = x + b;
    const float* gb = dy + b;
    float* ob = dx + b;
    for (int64_t i = 0; i < n; ++i) e[i] = clamp_exp_arg(-xb[i]);
#pragma GCC ivdep
    for (int64_t i = 0; i < n; ++i) {
      const float s = 1.0f / (1.0f + exp_in_range(e[i]));
      ob[i] = gb[i] * (s * (1.0f + xb[i] * (1.0f - s)));
    }
  }
}

// Dropout draws 8 Philox blocks (32 elements) at a time in structure-of-arrays form, so the
// 10 rounds vectorize across blocks; the bits are those of draw_block, bit for bit.
constexpr int kBlocksPerBatch = 8;
constexpr int64_t kElementsPerBatch = 4 * kBlocksPerBatch;

PFGM_VECTOR_CLONES
void philox_batch(const StreamKey& key, uint32_t first_block, uint32_t bits[kElementsPerBatch]) {
  uint32_t c0[kBlocksPerBatch], c1[kBlocksPerBatch], c2[kBlocksPerBatch], c3[kBlocksPerBatch];
  for (int l = 0; l < kBlocksPerBatch; ++l) {
    c0[l] = first_block + static_cast<uint32_t>(l);
    c1[l] = static_cast<uint32_t>(key.sample);
    c2[l] = key.step;
    c3[l] = key.purpose;
  }
  uint32_t k0 = static_cast<uint32_t>(key.seed);
  uint32_t k1 = static_cast<uint32_t>(key.seed >> 32) ^ static_cast<uint32_t>(key.sample >> 32);
  for (int round = 0; round < 10; ++round) {
    for (int l = 0; l < kBlocksPerBatch; ++l) {
      const uint64_t p0 = static_cast<uint64_t>(0xD2511F53u) * c0[l];
      const uint64_t p1 = static_cast<uint64_t>(0xCD9E8D57u) * c2[l];
      const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1[l] ^ k0;
      const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3[l] ^ k1;
      c0[l] = n0;
      c1[l] = static_cast<uint32_t>(p1);
      c2[l] = n2;
      c3[l] = static_cast<uint32_t>(p0);
    }
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  for (int l = 0; l < kBlocksPerBatch; ++l) {
    bits[4 * l + 0] = c0[l];
    bits[4 * l + 1] = c1[l];
    bits[4 * l + 2] = c2[l];
    bits[4 * l + 3] = c3[l];
  }
}

PFGM_VECTOR_CLONES
void masked_scale(int64_t count, const uint32_t* bits, uint32_t threshold, float scale,
                  const float* x, float* y) {
#pragma GCC ivdep
  for (int64_t j = 0; j < count; ++j) {
    // An integer mask rather than a float select, which GCC keeps scalar (as in clamp_exp_arg).
    const float kept = x[j] * scale;
    uint32_t v;
    std::memcpy(&v, &kept, sizeof v);
    v &= bits[j] >= threshold ? 0xFFFFFFFFu : 0u;
    std::memcpy(&y[j], &v, sizeof v);
  }
}

// Inverted dropout is linear in its input with the same mask both ways, so forward and
// backward are one function.
void dropout_apply(const op::DropoutSpec& s, const float* in, float* out) {
  if (!(s.p >= 0.0f && s.p < 1.0f)) {
    fail(code::kArgument, "dropout p must be in [0, 1), got " + std::to_string(s.p));
  }
  if (s.site >= (1u << 8) || s.per_sample > (int64_t{1} << 26)) {
    fail(code::kArgument, "dropout needs site < 256 and < 2^26 elements per sample");
  }
  const int64_t total = s.samples * s.per_sample;
  if (s.p == 0.0f) {
    // Exactly the identity, and no random draws.
    if (in != out) std::memcpy(out, in, static_cast<size_t>(total) * sizeof(float));
    return;
  }
  // Kept when bits >= p 2^32 (activation_math.h, shared with the CUDA kernel).
  const uint32_t threshold = act::dropout_threshold(s.p);
  const float scale = act::dropout_scale(s.p);
  // A task is a run of batches within one sample; batches start at multiples of 32 elements,
  // so every block index is (site << 24) | j / 4 however the work is split.
  constexpr int64_t kTaskElements = 64 * kElementsPerBatch;
  const int64_t tasks_per_sample = (s.per_sample + kTaskElements - 1) / kTaskElements;
  const int64_t tasks = s.samples * tasks_per_sample;
#pragma omp parallel for schedule(static) if (total >= kParallelGrain)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t i = t / tasks_per_sample;
    const int64_t begin = (t % tasks_per_sample) * kTaskElements;
    const int64_t end = std::min(s.per_sample, begin + kTaskElements);
    const StreamKey key{s.seed, s.sample_offset + static_cast<uint64_t>(i), s.step,
                        kPurposeDropout};
    const float* x = in + i * s.per_sample;
    float* y = out + i * s.per_sample;
    uint32_t bits[kElementsPerBatch];
    for (int64_t j = begin; j < end; j += kElementsPerBatch) {
      philox_batch(key, act::dropout_block(s.site, j / 4), bits);
      const int64_t n = std::min(kElementsPerBatch, end - j);
      masked_scale(n, bits, threshold, scale, x + j, y + j);
    }
  }
}

}  // namespace

void silu_forward(int64_t count, const float* x, float* y) {
  parallel_ranges(count, [&](int64_t b, int64_t e) { silu_forward_kernel(e - b, x + b, y + b); });
}

void silu_backward(int64_t count, const float* x, const float* dy, float* dx) {
  parallel_ranges(
      count, [&](int64_t b, int64_t e) { silu_backward_kernel(e - b, x + b, dy + b, dx + b); });
}

void dropout_forward(const op::DropoutSpec& s, const float* x, float* y) { dropout_apply(s, x, y); }

void dropout_backward(const op::DropoutSpec& s, const float* dy, float* dx) {
  dropout_apply(s, dy, dx);
}

}  // namespace pfgm::cpu
