// Noise-level embeddings. Rounding follows EDM's float32 PyTorch code step by step (frequencies
// rounded to float, then the product x * f rounded to float, then cos/sin), so that large noise
// labels (VP's 999 t) give the same angles as the reference; only cos/sin themselves run in
// double and round once.
#include "embedding.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "../errors.h"
#include "label_math.h"

namespace pfgm::cpu {

void positional_embedding(int64_t n, int64_t channels, double max_positions, bool endpoint,
                          const float* x, float* y) {
  const int64_t half = channels / 2;
  const float base = static_cast<float>(1.0 / max_positions);
  const float denom = static_cast<float>(half - (endpoint ? 1 : 0));
  for (int64_t j = 0; j < half; ++j) {
    // torch: arange(half, float32) / (half - endpoint), then base ** freqs in float32.
    const float e = static_cast<float>(j) / denom;
    const float f = static_cast<float>(std::pow(static_cast<double>(base), static_cast<double>(e)));
    for (int64_t i = 0; i < n; ++i) {
      const double arg = static_cast<double>(x[i] * f);
      y[i * channels + j] = static_cast<float>(std::cos(arg));
      y[i * channels + half + j] = static_cast<float>(std::sin(arg));
    }
  }
}

void fourier_embedding(int64_t n, int64_t channels, const float* freqs, const float* x, float* y) {
  const int64_t half = channels / 2;
  // torch: (2 * np.pi * freqs) multiplies a float32 tensor by the scalar rounded to float.
  const float two_pi = static_cast<float>(2.0 * M_PI);
  for (int64_t j = 0; j < half; ++j) {
    const float w = two_pi * freqs[j];
    for (int64_t i = 0; i < n; ++i) {
      const double arg = static_cast<double>(x[i] * w);
      y[i * channels + j] = static_cast<float>(std::cos(arg));
      y[i * channels + half + j] = static_cast<float>(std::sin(arg));
    }
  }
}

void check_label_input(const op::LabelInputSpec& s) {
  if (s.n < 0 || s.label_dim < 1) {
    fail(code::kShape, "label_input needs n >= 0 and label_dim >= 1 (got n=" + std::to_string(s.n) +
                           ", label_dim=" + std::to_string(s.label_dim) + ")");
  }
  if (!(s.p >= 0.0f && s.p <= 1.0f)) {
    fail(code::kArgument,
         "label dropout probability must be in [0, 1], got " + std::to_string(s.p));
  }
}

void label_input(const op::LabelInputSpec& s, const float* labels, float* out) {
  check_label_input(s);
  const float g = lab::gain(s.label_dim);
  const uint32_t step = s.training ? step_value(s.step, s.step_at) : 0;
  for (int64_t i = 0; i < s.n; ++i) {
    const float keep =
        lab::keep(s.training, s.p, s.seed, s.sample_offset + static_cast<uint64_t>(i), step);
    float* o = out + i * s.label_dim;
    if (labels == nullptr) {
      std::fill(o, o + s.label_dim, 0.0f);
      continue;
    }
    const float* l = labels + i * s.label_dim;
    for (int64_t j = 0; j < s.label_dim; ++j) o[j] = lab::element(l[j], g, keep);
  }
}

}  // namespace pfgm::cpu
