// SiLU and dropout. Both may run in place (y == x, dx == dy).
#pragma once

#include <cstdint>

namespace pfgm::op {

// Inverted dropout with a counter-based mask, so a sample's mask does not depend on the batch it
// is in. Element j of sample i is kept when the Philox draw keyed by (seed, sample_offset + i,
// step, kPurposeDropout) at block (site << 24 | j / 4) lane j % 4 is >= p * 2^32; kept values are
// scaled by 1 / (1 - p). `site` tells the dropout layers of one network apart (< 2^8 sites,
// < 2^26 elements per sample). Rounding shared with the CUDA backend: keep when bits >= ceil(p
// 2^32) with p as the float, and scale = (float)(1 / (1 - (double)p)). A dropped element is +0 even
// when the input is NaN.
//
// The forward may also write the keep-mask as bits, which the backward then reads instead of
// drawing the Philox stream a second time (the draws cost as much as the rest of the op). The
// mask holds dropout_mask_words(per_sample) 32-bit words per sample: element j of sample i is bit
// j % 32 of word i * dropout_mask_words(per_sample) + j / 32 (1 = kept), so a word is the 8
// Philox blocks of 32 consecutive elements and no word straddles two samples. The bits past
// per_sample in a sample's last word are 0. With p = 0 the op is the identity and the mask is
// neither written nor read. A backward given no mask regenerates it from the stream, with the
// same result bit for bit.
struct DropoutSpec {
  int64_t samples;
  int64_t per_sample;  // elements per sample
  float p;             // in [0, 1)
  uint64_t seed;
  uint64_t sample_offset;
  uint32_t step;
  uint32_t site;
  const uint32_t* step_at;  // null, or the step in the backend's memory (rng/philox.h step_value)
};

// 32-bit words of one sample's dropout mask.
constexpr int64_t dropout_mask_words(int64_t per_sample) { return (per_sample + 31) / 32; }

}  // namespace pfgm::op

namespace pfgm::cpu {

void silu_forward(int64_t count, const float* x, float* y);
void silu_backward(int64_t count, const float* x, const float* dy, float* dx);

// mask: null, or s.samples * dropout_mask_words(s.per_sample) words to write the keep-mask into.
void dropout_forward(const op::DropoutSpec& s, const float* x, float* y, uint32_t* mask);
// mask: the forward's, or null to regenerate it from the Philox stream.
void dropout_backward(const op::DropoutSpec& s, const uint32_t* mask, const float* dy, float* dx);

}  // namespace pfgm::cpu
