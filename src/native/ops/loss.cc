// docs/method.md §2.2: loss = mean_i lambda(sigma_i) ||D_theta(x_i, sigma_i) - y_i||^2, with lambda
// supplied by the caller as `weight`.
#include "loss.h"

#include <cstddef>
#include <vector>

namespace pfgm::cpu {

double weighted_mse_forward(int64_t samples, int64_t per_sample, const float* pred,
                            const float* target, const float* weight, float* per_sample_loss) {
  // Per-sample sums in double: an image has thousands of terms and lambda reaches ~1e5 at
  // sigma = 0.002, so float accumulation would cost visible digits of the logged loss. The mean
  // is summed in sample order afterwards so it does not depend on the thread count.
  std::vector<double> losses(static_cast<size_t>(samples > 0 ? samples : 0));
#pragma omp parallel for schedule(static) if (samples * per_sample >= (1 << 15))
  for (int64_t i = 0; i < samples; ++i) {
    const float* p = pred + i * per_sample;
    const float* t = target + i * per_sample;
    double acc = 0.0;
    for (int64_t j = 0; j < per_sample; ++j) {
      const double d = static_cast<double>(p[j]) - static_cast<double>(t[j]);
      acc += d * d;
    }
    losses[i] = static_cast<double>(weight[i]) * acc;
    if (per_sample_loss != nullptr) per_sample_loss[i] = static_cast<float>(losses[i]);
  }
  double total = 0.0;
  for (double l : losses) total += l;
  return samples > 0 ? total / static_cast<double>(samples) : 0.0;
}

void weighted_mse_accumulate(int64_t samples, int64_t per_sample, const float* pred,
                             const float* target, const float* weight, double share,
                             double* total) {
  *total += share * weighted_mse_forward(samples, per_sample, pred, target, weight, nullptr);
}

void weighted_mse_backward(int64_t samples, int64_t per_sample, const float* pred,
                           const float* target, const float* weight, float* dpred) {
#pragma omp parallel for schedule(static) if (samples * per_sample >= (1 << 15))
  for (int64_t i = 0; i < samples; ++i) {
    const float k =
        static_cast<float>(2.0 * static_cast<double>(weight[i]) / static_cast<double>(samples));
    const float* p = pred + i * per_sample;
    const float* t = target + i * per_sample;
    float* g = dpred + i * per_sample;
    for (int64_t j = 0; j < per_sample; ++j) g[j] = k * (p[j] - t[j]);
  }
}

}  // namespace pfgm::cpu
