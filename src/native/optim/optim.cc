#include "optim.h"

#include "adam_math.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace pfgm::cpu {

void grad_stats_into(int64_t count, const float* g, double* stats) {
  // Fixed chunks summed in a fixed order: an OpenMP reduction combines per-thread sums in
  // arrival order, so with more than two threads its last bits would vary from run to run, and
  // resumed or repeated runs must match bit for bit.
  constexpr int64_t kChunk = int64_t{1} << 16;
  const int64_t chunks = (count + kChunk - 1) / kChunk;
  std::vector<double> sums(static_cast<size_t>(chunks), 0.0);
  std::vector<unsigned char> bad(static_cast<size_t>(chunks), 0);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t end = std::min(count, (c + 1) * kChunk);
    double sum = 0;
    bool finite = true;
    for (int64_t i = c * kChunk; i < end; ++i) {
      const double x = g[i];
      finite = finite && std::isfinite(x);
      sum += x * x;
    }
    sums[c] = sum;
    bad[c] = finite ? 0 : 1;
  }
  double total = 0;
  bool finite = true;
  for (int64_t c = 0; c < chunks; ++c) {
    total += sums[c];
    finite = finite && bad[c] == 0;
  }
  stats[0] = total;
  stats[1] = finite ? 0.0 : 1.0;
}

optim::GradStats grad_stats(int64_t count, const float* g) {
  double s[2];
  grad_stats_into(count, g, s);
  return optim::GradStats{s[1] == 0.0 && std::isfinite(s[0]), std::sqrt(s[0])};
}

namespace {

// One Adam update of element i; the arithmetic is adam_math.h's, shared with the CUDA kernel.
inline float adam_one(const optim::AdamCoefs& c, float* p, const float* g, float* m, float* v,
                      int64_t i) {
  const float pi = optim::adam_element(c, p[i], g[i], &m[i], &v[i]);
  p[i] = pi;
  return pi;
}

void adam_apply(int64_t count, const optim::AdamCoefs& c, float* p, const float* g, float* m,
                float* v, float* ema, float b) {
  if (ema == nullptr) {
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < count; ++i) adam_one(c, p, g, m, v, i);
    return;
  }
  // The EMA in the same pass: the buffers are large and the loop is memory-bound.
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < count; ++i) {
    const float pi = adam_one(c, p, g, m, v, i);
    ema[i] = optim::ema_element(ema[i], pi, b);
  }
}

}  // namespace

void adam_step(int64_t count, float* p, const float* g, float* m, float* v, double lr, double beta1,
               double beta2, double eps, int64_t t, float grad_scale, float* ema, double ema_beta) {
  adam_apply(count, optim::adam_coefs(lr, beta1, beta2, eps, t, grad_scale), p, g, m, v, ema,
             static_cast<float>(ema_beta));
}

void adam_step_checked(int64_t count, float* p, const float* g, float* m, float* v,
                       const optim::AdamStep* step, const double* stats, float* ema) {
  if (!optim::update_applies(stats)) return;
  optim::AdamCoefs c = step->coefs;
  c.grad_scale = optim::clip_scale(step->grad_clip, stats[optim::kStatGradSumsq]);
  adam_apply(count, c, p, g, m, v, ema, step->ema_beta);
}

void axpy(int64_t count, float alpha, const float* x, float* y) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < count; ++i) y[i] = optim::axpy_element(alpha, x[i], y[i]);
}

}  // namespace pfgm::cpu

namespace pfgm::optim {

void ema_update(int64_t count, float* ema, const float* p, double beta) {
  const float b = static_cast<float>(beta);
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < count; ++i) ema[i] = ema_element(ema[i], p[i], b);
}

double ramped_lr(double lr, double rampup_kimg, double images_before) {
  if (!(rampup_kimg > 0)) return lr;
  return lr * std::min(images_before / std::max(rampup_kimg * 1000.0, 1e-8), 1.0);
}

double ema_beta(double halflife_kimg, double rampup_ratio, double images_before, double batch) {
  double half = halflife_kimg * 1000.0;
  if (rampup_ratio > 0) half = std::min(half, images_before * rampup_ratio);
  return std::pow(0.5, batch / std::max(half, 1e-8));
}

}  // namespace pfgm::optim
