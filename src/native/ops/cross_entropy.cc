#include "cross_entropy.h"

#include <cmath>
#include <vector>

namespace pfgm::cpu {

CrossEntropyResult cross_entropy_forward(int64_t n, int64_t classes, const float* logits,
                                         const int32_t* labels, float* prob) {
  // Per-sample losses, summed in sample order afterwards: the same result on any thread count.
  std::vector<double> losses(static_cast<size_t>(n));
  std::vector<unsigned char> hit(static_cast<size_t>(n));
#pragma omp parallel for schedule(static) if (n * classes > 65536)
  for (int64_t i = 0; i < n; ++i) {
    const float* z = logits + i * classes;
    int64_t best = 0;
    for (int64_t c = 1; c < classes; ++c)
      if (z[c] > z[best]) best = c;
    const double top = z[best];
    double sum = 0;
    for (int64_t c = 0; c < classes; ++c) sum += std::exp(static_cast<double>(z[c]) - top);
    const double log_sum = std::log(sum);
    losses[i] = log_sum - (static_cast<double>(z[labels[i]]) - top);
    hit[i] = best == labels[i] ? 1 : 0;
    if (prob != nullptr) {
      for (int64_t c = 0; c < classes; ++c) {
        const double logit = z[c];
        prob[i * classes + c] = static_cast<float>(std::exp(logit - top - log_sum));
      }
    }
  }
  CrossEntropyResult r{0, 0};
  for (int64_t i = 0; i < n; ++i) {
    r.loss += losses[i];
    r.correct += hit[i];
  }
  r.loss /= static_cast<double>(n);
  return r;
}

void cross_entropy_backward(int64_t n, int64_t classes, const float* prob, const int32_t* labels,
                            float* dlogits) {
  const float inv = static_cast<float>(1.0 / static_cast<double>(n));
#pragma omp parallel for schedule(static) if (n * classes > 65536)
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t c = 0; c < classes; ++c) {
      const float onehot = c == labels[i] ? 1.0f : 0.0f;
      dlogits[i * classes + c] = (prob[i * classes + c] - onehot) * inv;
    }
  }
}

}  // namespace pfgm::cpu
