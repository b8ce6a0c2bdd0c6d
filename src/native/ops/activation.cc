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

// Dropout draws 8 Philox blocks (32 elements, one mask word) at a time in structure-of-arrays
// form, so the 10 rounds vectorize across blocks; the bits are those of draw_block, bit for bit.
constexpr int kBlocksPerBatch = 8;
constexpr int64_t kElementsPerBatch = 4 * kBlocksPerBatch;
static_assert(kElementsPerBatch == 32, "a Philox batch is one mask word");

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

// Bit l of a mask word, from a table: baseline x86-64 has no per-lane variable shift, and the
// reduction below would stay scalar without it.
constexpr uint32_t kBit[32] = {1u << 0,  1u << 1,  1u << 2,  1u << 3,  1u << 4,  1u << 5,  1u << 6,
                               1u << 7,  1u << 8,  1u << 9,  1u << 10, 1u << 11, 1u << 12, 1u << 13,
                               1u << 14, 1u << 15, 1u << 16, 1u << 17, 1u << 18, 1u << 19, 1u << 20,
                               1u << 21, 1u << 22, 1u << 23, 1u << 24, 1u << 25, 1u << 26, 1u << 27,
                               1u << 28, 1u << 29, 1u << 30, 1u << 31};

// The mask word of 32 draws: bit l set when draw l is kept.
PFGM_VECTOR_CLONES
uint32_t keep_word(const uint32_t bits[kElementsPerBatch], uint32_t threshold) {
  uint32_t w = 0;
  for (int l = 0; l < kElementsPerBatch; ++l) w |= bits[l] >= threshold ? kBit[l] : 0u;
  return w;
}

// The mask words (activation.h) of elements [first, first + count) of one sample, first a
// multiple of 32; bits past the sample's end are 0 (their draws are made anyway, 8 blocks at a
// time).
void draw_mask(const StreamKey& key, uint32_t site, int64_t first, int64_t count,
               uint32_t threshold, uint32_t* words) {
  uint32_t bits[kElementsPerBatch];
  for (int64_t j = 0; j < count; j += kElementsPerBatch) {
    philox_batch(key, act::dropout_block(site, (first + j) / 4), bits);
    uint32_t w = keep_word(bits, threshold);
    const int64_t n = count - j;
    if (n < kElementsPerBatch) w &= (uint32_t{1} << n) - 1u;
    words[j / kElementsPerBatch] = w;
  }
}

// y = kept ? x * scale : +0 over `count` elements whose mask words start at words[0].
PFGM_VECTOR_CLONES
void apply_mask(int64_t count, const uint32_t* words, float scale, const float* x, float* y) {
  for (int64_t j = 0; j < count; j += kElementsPerBatch) {
    const uint32_t w = words[j / kElementsPerBatch];
    const int64_t n = std::min(kElementsPerBatch, count - j);
    const float* xb = x + j;
    float* yb = y + j;
    // Elementwise, so in place (y == x) is safe.
#pragma GCC ivdep
    for (int64_t l = 0; l < n; ++l) {
      // An integer mask rather than a float select, which GCC keeps scalar (as in
      // clamp_exp_arg); x * scale is act::dropout_element's one rounding.
      const float kept = xb[l] * scale;
      uint32_t v;
      std::memcpy(&v, &kept, sizeof v);
      v &= (w & kBit[l]) != 0 ? 0xFFFFFFFFu : 0u;
      std::memcpy(&yb[l], &v, sizeof v);
    }
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

// A task is a run of mask words within one sample, so every block index is (site << 24) | j / 4
// however the work is split.
constexpr int64_t kTaskWords = 64;
constexpr int64_t kTaskElements = kTaskWords * kElementsPerBatch;

// Runs body(sample, first element, element count) over the tasks of the spec, in parallel for
// large tensors.
template <typename Body>
void for_tasks(const op::DropoutSpec& s, Body body) {
  const int64_t total = s.samples * s.per_sample;
  const int64_t tasks_per_sample = (s.per_sample + kTaskElements - 1) / kTaskElements;
  const int64_t tasks = s.samples * tasks_per_sample;
#pragma omp parallel for schedule(static) if (total >= kParallelGrain)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t i = t / tasks_per_sample;
    const int64_t begin = (t % tasks_per_sample) * kTaskElements;
    body(i, begin, std::min(s.per_sample, begin + kTaskElements) - begin);
  }
}

// Inverted dropout is linear in its input with the same mask both ways: the forward, and the
// backward given no mask, are this function (writing the mask when `mask` is not null).
void dropout_draw_apply(const op::DropoutSpec& s, const float* in, float* out, uint32_t* mask) {
  check_spec(s);
  if (s.p == 0.0f) {
    // Exactly the identity, and no random draws.
    const int64_t total = s.samples * s.per_sample;
    if (in != out) std::memcpy(out, in, static_cast<size_t>(total) * sizeof(float));
    return;
  }
  // Kept when bits >= p 2^32 (activation_math.h, shared with the CUDA kernel).
  const uint32_t threshold = act::dropout_threshold(s.p);
  const float scale = act::dropout_scale(s.p);
  const int64_t words = op::dropout_mask_words(s.per_sample);
  const uint32_t step = step_value(s.step, s.step_at);
  for_tasks(s, [&](int64_t i, int64_t begin, int64_t count) {
    const StreamKey key{s.seed, s.sample_offset + static_cast<uint64_t>(i), step, kPurposeDropout};
    uint32_t local[kTaskWords];
    uint32_t* w = mask != nullptr ? mask + i * words + begin / kElementsPerBatch : local;
    draw_mask(key, s.site, begin, count, threshold, w);
    const int64_t at = i * s.per_sample + begin;
    apply_mask(count, w, scale, in + at, out + at);
  });
}

}  // namespace

void silu_forward(int64_t count, const float* x, float* y) {
  parallel_ranges(count, [&](int64_t b, int64_t e) { silu_forward_kernel(e - b, x + b, y + b); });
}

void silu_backward(int64_t count, const float* x, const float* dy, float* dx) {
  parallel_ranges(
      count, [&](int64_t b, int64_t e) { silu_backward_kernel(e - b, x + b, dy + b, dx + b); });
}

void dropout_forward(const op::DropoutSpec& s, const float* x, float* y, uint32_t* mask) {
  dropout_draw_apply(s, x, y, mask);
}

void dropout_backward(const op::DropoutSpec& s, const uint32_t* mask, const float* dy, float* dx) {
  if (mask == nullptr || s.p == 0.0f) {
    dropout_draw_apply(s, dy, dx, nullptr);
    return;
  }
  check_spec(s);
  const float scale = act::dropout_scale(s.p);
  const int64_t words = op::dropout_mask_words(s.per_sample);
  for_tasks(s, [&](int64_t i, int64_t begin, int64_t count) {
    const int64_t at = i * s.per_sample + begin;
    apply_mask(count, mask + i * words + begin / kElementsPerBatch, scale, dy + at, dx + at);
  });
}

}  // namespace pfgm::cpu
