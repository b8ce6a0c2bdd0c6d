// Per-element arithmetic of Adam, the EMA and gradient accumulation, shared by the CPU loops
// (optim.cc) and the CUDA kernels (cuda/kernels/optim.cu). Every operation rounds on its own (fp::,
// see ops/rounding.h), so the GPU reproduces the CPU's weights, moments and EMA bit for bit: a
// resumed or moved run continues the same trajectory.
#pragma once

#include <cmath>
#include <cstdint>

#include "../ops/rounding.h"

namespace pfgm::optim {

// Step constants of one Adam update, rounded to float once on the host.
struct AdamCoefs {
  float b1, b2, e, step, sqrt_bc2, grad_scale;
};

// The constants of step t (from 1), computed in double and rounded once, on the host.
inline AdamCoefs adam_coefs(double lr, double beta1, double beta2, double eps, int64_t t,
                            float grad_scale) {
  const double bc1 = 1.0 - std::pow(beta1, static_cast<double>(t));
  const double bc2 = 1.0 - std::pow(beta2, static_cast<double>(t));
  return AdamCoefs{
      static_cast<float>(beta1),    static_cast<float>(beta2),          static_cast<float>(eps),
      static_cast<float>(lr / bc1), static_cast<float>(std::sqrt(bc2)), grad_scale};
}

// An update that checks the step's own gradients (the backends' adam_step_checked): a training
// step then leaves its loss and gradient statistics in backend memory instead of reading them
// back before the update, so the whole step can be replayed from a CUDA graph (docs/cuda.md).
// Adam's constants of step t, the EMA's beta and the clipping threshold come from the host; the
// gradient scale is derived where the statistics are.
struct AdamStep {
  AdamCoefs coefs;   // adam_coefs(..., t, 1): grad_scale is replaced by the clipping scale
  double grad_clip;  // max global gradient norm; 0 = off
  float ema_beta;
};

// A training step's statistics, doubles in backend memory: its loss, the sum of its gradients'
// squares, and 1 where a gradient is not finite (0 otherwise).
enum StepStat : int { kStatLoss = 0, kStatGradSumsq = 1, kStatGradNonfinite = 2, kStatCount = 3 };

// Whether the update applies: finite gradients and loss. A step that fails is counted as skipped
// and leaves weights, moments and EMA untouched.
PFGM_HD bool update_applies(const double* stats) {
  return stats[kStatGradNonfinite] == 0.0 && fp::finite(stats[kStatGradSumsq]) &&
         fp::finite(stats[kStatLoss]);
}

// Clipping to a global norm: min(1, grad_clip / ||g||) rounded once to float, 1 when off.
PFGM_HD float clip_scale(double grad_clip, double grad_sumsq) {
  const double norm = sqrt(grad_sumsq);
  return grad_clip > 0 && norm > grad_clip ? static_cast<float>(grad_clip / norm) : 1.0f;
}

// torch.optim.Adam's single-tensor arithmetic for one element; updates m and v, returns the new
// weight:
//   g' = g * grad_scale;  m = m + (1 - b1) (g' - m)   (torch: exp_avg.lerp_(grad, 1 - b1))
//   v = b2 v + (1 - b2) g' g';  p = p - step m / (sqrt(v) / sqrt(1 - b2^t) + eps)
PFGM_HD float adam_element(const AdamCoefs& c, float p, float g, float* m, float* v) {
  const float gi = fp::mul(g, c.grad_scale);
  const float mi = fp::add(*m, fp::mul(fp::sub(1.0f, c.b1), fp::sub(gi, *m)));
  const float vi = fp::add(fp::mul(c.b2, *v), fp::mul(fp::mul(fp::sub(1.0f, c.b2), gi), gi));
  *m = mi;
  *v = vi;
  return fp::sub(p, fp::div(fp::mul(c.step, mi), fp::add(fp::div(fp::sqrt(vi), c.sqrt_bc2), c.e)));
}

// EDM's EMA: lerp(p, ema, beta) = p + beta (ema - p).
PFGM_HD float ema_element(float ema, float p, float beta) {
  return fp::add(p, fp::mul(beta, fp::sub(ema, p)));
}

// y + alpha x (gradient accumulation).
PFGM_HD float axpy_element(float alpha, float x, float y) { return fp::add(y, fp::mul(alpha, x)); }

}  // namespace pfgm::optim
