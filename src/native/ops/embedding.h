// Noise-level embeddings of EDM's SongUNet. Both produce [cos | sin] halves like EDM; the
// network swaps the halves afterwards as EDM does. No backward: the noise label needs no grad.
#pragma once

#include <cstdint>

namespace pfgm::op {

// map_label's input, EDM's class-label dropout for classifier-free guidance: out[i, :] =
// labels[i, :] * sqrt(label_dim) * keep_i, keep_i = 0 with probability p while training (one
// uniform per sample from the stream (seed, sample_offset + i, step, kPurposeLabelDropout);
// label_math.h, shared with the CUDA twin). labels may be null: the output is then zeros.
struct LabelInputSpec {
  int64_t n = 0;
  int64_t label_dim = 0;
  float p = 0.0f;  // dropout probability, in [0, 1]
  bool training = false;
  uint64_t seed = 0;
  uint64_t sample_offset = 0;
  uint32_t step = 0;
  const uint32_t* step_at = nullptr;  // or the step in the backend's memory (rng/philox.h)
};

}  // namespace pfgm::op

namespace pfgm::cpu {

// freqs_j = (1 / max_positions)^(j / (channels/2 - endpoint)), y[i] = [cos(x_i f), sin(x_i f)].
void positional_embedding(int64_t n, int64_t channels, double max_positions, bool endpoint,
                          const float* x, float* y);
// y[i] = [cos(2 pi x_i freqs), sin(2 pi x_i freqs)], freqs: [channels / 2].
void fourier_embedding(int64_t n, int64_t channels, const float* freqs, const float* x, float* y);

void label_input(const op::LabelInputSpec& s, const float* labels, float* out);
// ERR_PFGM_ARGUMENT / ERR_PFGM_SHAPE for a spec no backend can run (shared with the CUDA twin).
void check_label_input(const op::LabelInputSpec& s);

}  // namespace pfgm::cpu
