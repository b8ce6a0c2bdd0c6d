#include "mapping.h"

#include <algorithm>
#include <cmath>

#include "../rng/philox.h"

namespace pfgm::nn {

void swap_halves(int64_t n, int64_t channels, const float* in, float* out) {
  const int64_t half = channels / 2;
  for (int64_t i = 0; i < n; ++i) {
    std::copy(in + i * channels + half, in + (i + 1) * channels, out + i * channels);
    std::copy(in + i * channels, in + i * channels + half, out + i * channels + half);
  }
}

void label_input(const Context& ctx, int64_t n, int64_t label_dim, float dropout,
                 const float* labels, float* out) {
  const float gain = std::sqrt(static_cast<float>(label_dim));
  for (int64_t i = 0; i < n; ++i) {
    float keep = 1.0f;
    if (ctx.training && dropout > 0) {
      const Philox4 r = draw_block(StreamKey{ctx.seed, ctx.sample_offset + static_cast<uint64_t>(i),
                                             ctx.step, kPurposeLabelDropout},
                                   0);
      keep = uniform_open(r.v[0]) >= dropout ? 1.0f : 0.0f;
    }
    for (int64_t j = 0; j < label_dim; ++j) {
      out[i * label_dim + j] = labels != nullptr ? labels[i * label_dim + j] * gain * keep : 0.0f;
    }
  }
}

}  // namespace pfgm::nn
