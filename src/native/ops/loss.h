// docs/method.md §2.2's weighted squared error: loss_i = weight_i * sum_j (pred_ij - target_ij)^2,
// and the reported loss is their mean over the batch (EDM: loss.sum() / batch).
#pragma once

#include <cstdint>

namespace pfgm::cpu {

// Writes per-sample losses (nullable) and returns their mean (accumulated in double).
double weighted_mse_forward(int64_t samples, int64_t per_sample, const float* pred,
                            const float* target, const float* weight, float* per_sample_loss);
// total[0] += share * (the mean above), nothing returned: the loss of a training step stays in
// backend memory until the step ends (a share < 1 weighs one micro-batch of several).
void weighted_mse_accumulate(int64_t samples, int64_t per_sample, const float* pred,
                             const float* target, const float* weight, double share, double* total);
// dpred = 2 weight_i (pred - target) / samples: the gradient of the batch mean.
void weighted_mse_backward(int64_t samples, int64_t per_sample, const float* pred,
                           const float* target, const float* weight, float* dpred);

}  // namespace pfgm::cpu
