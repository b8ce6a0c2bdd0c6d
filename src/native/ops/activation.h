// SiLU and dropout. Both may run in place (y == x, dx == dy).
#pragma once

#include <cstdint>

namespace pfgm::op {

// Inverted dropout with a counter-based mask, so the backward pass regenerates the mask instead
// of storing it and a sample's mask does not depend on the batch it is in. Element j of sample i
// is kept when the Philox draw keyed by (seed, sample_offset + i, step, kPurposeDropout) at
// block (site << 24 | j / 4) lane j % 4 is >= p * 2^32; kept values are scaled by 1 / (1 - p).
// `site` tells the dropout layers of one network apart (< 2^8 sites, < 2^26 elements per sample).
// Rounding shared with the CUDA backend: keep when bits >= ceil(p 2^32) with p as the float, and
// scale = (float)(1 / (1 - (double)p)). A dropped element is +0 even when the input is NaN.
struct DropoutSpec {
  int64_t samples;
  int64_t per_sample;  // elements per sample
  float p;             // in [0, 1)
  uint64_t seed;
  uint64_t sample_offset;
  uint32_t step;
  uint32_t site;
};

}  // namespace pfgm::op

namespace pfgm::cpu {

void silu_forward(int64_t count, const float* x, float* y);
void silu_backward(int64_t count, const float* x, const float* dy, float* dx);

void dropout_forward(const op::DropoutSpec& s, const float* x, float* y);
void dropout_backward(const op::DropoutSpec& s, const float* dy, float* dx);

}  // namespace pfgm::cpu
