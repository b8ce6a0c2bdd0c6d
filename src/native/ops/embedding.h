// Noise-level embeddings of EDM's SongUNet. Both produce [cos | sin] halves like EDM; the
// network swaps the halves afterwards as EDM does. No backward: the noise label needs no grad.
#pragma once

#include <cstdint>

namespace pfgm::cpu {

// freqs_j = (1 / max_positions)^(j / (channels/2 - endpoint)), y[i] = [cos(x_i f), sin(x_i f)].
void positional_embedding(int64_t n, int64_t channels, double max_positions, bool endpoint,
                          const float* x, float* y);
// y[i] = [cos(2 pi x_i freqs), sin(2 pi x_i freqs)], freqs: [channels / 2].
void fourier_embedding(int64_t n, int64_t channels, const float* freqs, const float* x, float* y);

}  // namespace pfgm::cpu
