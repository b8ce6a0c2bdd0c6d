// Pieces of EDM's mapping network shared by SongUNet and the MLP.
#pragma once

#include <cstdint>

#include "context.h"

namespace pfgm::nn {

// EDM swaps the [cos | sin] halves of the noise embedding to [sin | cos].
void swap_halves(int64_t n, int64_t channels, const float* in, float* out);

// map_label's input: labels * sqrt(label_dim), zeroed per sample with probability `dropout` while
// training (torch.rand >= p keeps; one uniform per sample from its own Philox stream). Null labels
// give zeros.
void label_input(const Context& ctx, int64_t n, int64_t label_dim, float dropout,
                 const float* labels, float* out);

}  // namespace pfgm::nn
