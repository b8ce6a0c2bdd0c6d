// One-pass optimisation over the flat parameter buffer: gradient statistics (finiteness and the
// global norm, for skipping and clipping), PyTorch's Adam, and EDM's EMA.
#pragma once

#include <cstdint>

#include "adam_math.h"

namespace pfgm::optim {

struct GradStats {
  bool finite;
  double norm;  // global L2 norm (meaningless when !finite)
};

}  // namespace pfgm::optim

// The optimizer's backend ops (nn/backend_ops.h) are CPU references like every other op, so they
// live in pfgm::cpu; pfgm::optim names the same functions (below).
namespace pfgm::cpu {

optim::GradStats grad_stats(int64_t count, const float* g);

// torch.optim.Adam (amsgrad off, no weight decay), step t counted from 1:
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// `grad_scale` multiplies g on the fly (gradient clipping without a separate pass). When `ema` is
// not null the EMA update below runs in the same pass (the buffers are large and memory-bound).
void adam_step(int64_t count, float* p, const float* g, float* m, float* v, double lr, double beta1,
               double beta2, double eps, int64_t t, float grad_scale, float* ema = nullptr,
               double ema_beta = 0);

// grad_stats into memory: stats[0] = the sum of g^2 (the same double as grad_stats squares),
// stats[1] = 1 when some g is not finite, else 0 (adam_math.h's kStatGradSumsq onwards).
void grad_stats_into(int64_t count, const float* g, double* stats);

// Adam (+ EMA) with `step`'s constants, applied only where update_applies(stats) and with the
// gradient scaled by clip_scale (adam_math.h): the update that needs no value on the host.
void adam_step_checked(int64_t count, float* p, const float* g, float* m, float* v,
                       const optim::AdamStep* step, const double* stats, float* ema);

// y += alpha x (gradient accumulation).
void axpy(int64_t count, float alpha, const float* x, float* y);

}  // namespace pfgm::cpu

namespace pfgm::optim {

using cpu::adam_step;
using cpu::axpy;
using cpu::grad_stats;

// EDM's EMA: ema = lerp(p, ema, beta) = p + beta (ema - p).
void ema_update(int64_t count, float* ema, const float* p, double beta);

// EDM (training_loop.py): lr * min(images seen before this step / (ramp-up kimg * 1000), 1).
double ramped_lr(double lr, double rampup_kimg, double images_before);
// EDM: half-life min(halflife_kimg * 1000, images seen before this step * ratio) (ratio <= 0:
// none), beta = 0.5^(batch / max(half-life, 1e-8)). The first step's beta is 0: EMA = weights.
double ema_beta(double halflife_kimg, double rampup_ratio, double images_before, double batch);

}  // namespace pfgm::optim
