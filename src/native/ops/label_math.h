// Per-sample and per-element math of label dropout (embedding.h's label_input), compiled by g++
// for the CPU op and by nvcc for its CUDA twin, so both draw the same keep decision and round the
// same products: the two backends agree bit for bit.
#pragma once

#include <cmath>
#include <cstdint>

#include "../rng/philox.h"
#include "rounding.h"

namespace pfgm::lab {

// 1 or 0: sample `sample`'s label survives dropout with probability 1 - p. One uniform per sample
// (lane 0 of block 0 of its label-dropout stream); torch's `rand >= p` keeps, and so does this.
// No draw at all when not training or p = 0, so inference never depends on the seed.
PFGM_HD float keep(bool training, float p, uint64_t seed, uint64_t sample, uint32_t step) {
  if (!training || !(p > 0.0f)) return 1.0f;
  const Philox4 r = draw_block(StreamKey{seed, sample, step, kPurposeLabelDropout}, 0);
  return uniform_open(r.v[0]) >= static_cast<double>(p) ? 1.0f : 0.0f;
}

// EDM scales one-hot labels by sqrt(label_dim) so map_label's input has unit norm.
PFGM_HD float gain(int64_t label_dim) { return fp::sqrt(static_cast<float>(label_dim)); }

// (label * gain) * keep, each product rounded (fp::), in the order the CPU loop always used.
PFGM_HD float element(float label, float gain, float keep) {
  return fp::mul(fp::mul(label, gain), keep);
}

}  // namespace pfgm::lab
