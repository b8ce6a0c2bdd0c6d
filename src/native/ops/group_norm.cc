// Fused group norm (+ per-(n, c) shift, affine, optional SiLU) on NHWC activations.
//
// Work layout: NHWC puts a group's channels a few floats apart in every pixel (EDM has 4 channels
// per group up to 128 channels), so a loop over one group's channels is too short to vectorize
// and would stride through memory. Instead each task walks a run of pixels of one sample and
// keeps per-channel partial sums over all C contiguous channels; groups are formed from those
// sums afterwards. Tasks are (sample, pixel chunk) with a chunk size fixed by C, never by the
// thread count, and partial sums are reduced in a fixed order, so results are bitwise the same
// on any number of threads.
//
// Scheduling: with enough samples per thread, one thread takes a whole sample through both
// passes while it is still in its L2 cache; with few samples (sampling a batch of 1), the chunks
// of a sample are spread over threads, with a barrier between the passes.
#include "group_norm.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "activation.h"
#include "parallel.h"

namespace pfgm::cpu {
namespace {

// Floats per task: large enough that the 2C partial sums per task are noise, small enough that
// a task's slices of x, dy and scratch stay in L1/L2.
constexpr int64_t kTaskFloats = 8192;

struct Tiling {
  int64_t chunk_px, chunks, tasks;
  // Doubles between the starts of two tasks' per-channel partial sums. The kernels accumulate
  // in place, once per pixel, so neighbouring tasks on different threads must not share a
  // cache line: C rounded up to 64 bytes plus a 64-byte gap, whatever the buffer's alignment.
  int64_t stride;
  explicit Tiling(const op::GroupNormShape& s) {
    chunk_px = std::clamp<int64_t>(kTaskFloats / s.c, 1, s.hw);
    chunks = (s.hw + chunk_px - 1) / chunk_px;
    tasks = s.n * chunks;
    stride = (s.c + 7) / 8 * 8 + 8;
  }
  int64_t sample(int64_t task) const { return task / chunks; }
  int64_t first_px(int64_t task) const { return (task % chunks) * chunk_px; }
  int64_t px(const op::GroupNormShape& s, int64_t task) const {
    return std::min(chunk_px, s.hw - first_px(task));
  }
  // Offset of the task's first float in an [n, hw, c] activation.
  int64_t offset(const op::GroupNormShape& s, int64_t task) const {
    return (sample(task) * s.hw + first_px(task)) * s.c;
  }
};

// phase1(task); per_sample(i); phase2(task); finish(i) — in that dependency order.
template <typename P1, typename Mid, typename P2, typename Fin>
void run_passes(const op::GroupNormShape& s, const Tiling& t, P1&& phase1, Mid&& per_sample,
                P2&& phase2, Fin&& finish) {
  const int64_t threads = omp_get_max_threads();
  if (s.n >= 2 * threads || t.chunks == 1) {
#pragma omp parallel for schedule(dynamic, 1) if (threads > 1 && s.n > 1)
    for (int64_t i = 0; i < s.n; ++i) {
      for (int64_t k = 0; k < t.chunks; ++k) phase1(i * t.chunks + k);
      per_sample(i);
      for (int64_t k = 0; k < t.chunks; ++k) phase2(i * t.chunks + k);
      finish(i);
    }
    return;
  }
#pragma omp parallel if (threads > 1)
  {
#pragma omp for schedule(static)
    for (int64_t task = 0; task < t.tasks; ++task) phase1(task);
#pragma omp for schedule(static)
    for (int64_t i = 0; i < s.n; ++i) per_sample(i);
#pragma omp for schedule(static)
    for (int64_t task = 0; task < t.tasks; ++task) phase2(task);
#pragma omp for schedule(static)
    for (int64_t i = 0; i < s.n; ++i) finish(i);
  }
}

// Per-channel sums of d = (x + shift) - pivot and d^2 over px pixels. The pivot (one value of
// the group) keeps E[d^2] - E[d]^2 free of cancellation when a group's mean dwarfs its spread.
PFGM_VECTOR_CLONES
void moments_kernel(int64_t px, int64_t c, const float* x, const float* shift, const double* pivot,
                    double* __restrict s1, double* __restrict s2) {
  std::fill(s1, s1 + c, 0.0);
  std::fill(s2, s2 + c, 0.0);
  for (int64_t p = 0; p < px; ++p) {
    const float* xp = x + p * c;
    for (int64_t ch = 0; ch < c; ++ch) {
      const double d = static_cast<double>(xp[ch] + shift[ch]) - pivot[ch];
      s1[ch] += d;
      s2[ch] += d * d;
    }
  }
}

// y = (x + off) * scale + beta, with off = shift - mean and scale = gamma * rstd: the order
// PyTorch rounds in (normalize, then affine) up to where the shift is added.
PFGM_VECTOR_CLONES
void affine_kernel(int64_t px, int64_t c, const float* x, const float* off, const float* scale,
                   const float* beta, float* __restrict y) {
  for (int64_t p = 0; p < px; ++p) {
    const float* xp = x + p * c;
    float* yp = y + p * c;
    for (int64_t ch = 0; ch < c; ++ch) yp[ch] = (xp[ch] + off[ch]) * scale[ch] + beta[ch];
  }
}

// Per-channel sums of dz and dz * xhat, xhat = (x + off) * rstd.
PFGM_VECTOR_CLONES
void grad_sums_kernel(int64_t px, int64_t c, const float* x, const float* off, const float* rs,
                      const float* dz, double* __restrict a, double* __restrict b) {
  std::fill(a, a + c, 0.0);
  std::fill(b, b + c, 0.0);
  for (int64_t p = 0; p < px; ++p) {
    const float* xp = x + p * c;
    const float* dp = dz + p * c;
    for (int64_t ch = 0; ch < c; ++ch) {
      const float xhat = (xp[ch] + off[ch]) * rs[ch];
      a[ch] += static_cast<double>(dp[ch]);
      b[ch] += static_cast<double>(dp[ch]) * static_cast<double>(xhat);
    }
  }
}

// dx = P dz + Q (x + off) + R, the group-norm input gradient
//   r (gamma dz - mean(gamma dz) - xhat mean(gamma dz xhat))
// with P = r gamma, Q = -r^2 mean(gamma dz xhat), R = -r mean(gamma dz). Writes dx when given
// (it may alias dz) and adds dx into the per-channel sums dsum when given.
PFGM_VECTOR_CLONES
void input_grad_kernel(int64_t px, int64_t c, const float* x, const float* off, const float* pc,
                       const float* qc, const float* rc, const float* dz, float* dx,
                       double* __restrict dsum) {
  if (dsum != nullptr) std::fill(dsum, dsum + c, 0.0);
  for (int64_t p = 0; p < px; ++p) {
    const float* xp = x + p * c;
    const float* dp = dz + p * c;
    float* gp = dx != nullptr ? dx + p * c : nullptr;
    if (gp != nullptr && dsum != nullptr) {
#pragma GCC ivdep
      for (int64_t ch = 0; ch < c; ++ch) {
        const float g = pc[ch] * dp[ch] + qc[ch] * (xp[ch] + off[ch]) + rc[ch];
        gp[ch] = g;
        dsum[ch] += static_cast<double>(g);
      }
    } else if (gp != nullptr) {
#pragma GCC ivdep
      for (int64_t ch = 0; ch < c; ++ch) {
        gp[ch] = pc[ch] * dp[ch] + qc[ch] * (xp[ch] + off[ch]) + rc[ch];
      }
    } else {
      for (int64_t ch = 0; ch < c; ++ch) {
        dsum[ch] += static_cast<double>(pc[ch] * dp[ch] + qc[ch] * (xp[ch] + off[ch]) + rc[ch]);
      }
    }
  }
}

// Sums task partials [tasks, stride] of sample i, chunk by chunk in order, into out[c].
void reduce_chunks(const Tiling& t, int64_t c, int64_t i, const double* part, double* out) {
  std::fill(out, out + c, 0.0);
  for (int64_t k = 0; k < t.chunks; ++k) {
    const double* src = part + (i * t.chunks + k) * t.stride;
    for (int64_t ch = 0; ch < c; ++ch) out[ch] += src[ch];
  }
}

// A float scratch buffer per thread: OpenMP keeps its threads, so this allocates once.
float* thread_scratch(size_t count) {
  thread_local std::vector<float> buffer;
  if (buffer.size() < count) buffer.resize(count);
  return buffer.data();
}

}  // namespace

void group_norm_forward(const op::GroupNormShape& s, const float* x, const float* shift,
                        const float* gamma, const float* beta, float* y, float* mean, float* rstd) {
  if (s.n <= 0 || s.hw <= 0 || s.c <= 0) return;
  const Tiling t(s);
  const int64_t c = s.c, cg = c / s.groups;
  const double count = static_cast<double>(s.hw * cg);
  const std::vector<float> no_shift(static_cast<size_t>(c), 0.0f);
  auto shift_row = [&](int64_t i) { return shift != nullptr ? shift + i * c : no_shift.data(); };

  std::vector<double> pivot(static_cast<size_t>(s.n * c));
  for (int64_t i = 0; i < s.n; ++i) {
    for (int64_t ch = 0; ch < c; ++ch) {
      const int64_t first = ch - ch % cg;
      pivot[i * c + ch] = static_cast<double>(x[i * s.hw * c + first] + shift_row(i)[first]);
    }
  }
  std::vector<double> s1(static_cast<size_t>(t.tasks * t.stride)), s2(s1.size());
  // Per-sample, per-channel constants of the normalizing pass.
  std::vector<float> off(static_cast<size_t>(s.n * c)), scale(off.size());

  auto moments = [&](int64_t task) {
    const int64_t i = t.sample(task);
    moments_kernel(t.px(s, task), c, x + t.offset(s, task), shift_row(i), &pivot[i * c],
                   &s1[task * t.stride], &s2[task * t.stride]);
  };
  auto statistics = [&](int64_t i) {
    std::vector<double> sum1(static_cast<size_t>(c)), sum2(sum1.size());
    reduce_chunks(t, c, i, s1.data(), sum1.data());
    reduce_chunks(t, c, i, s2.data(), sum2.data());
    for (int64_t g = 0; g < s.groups; ++g) {
      double a = 0.0, b = 0.0;
      for (int64_t ch = g * cg; ch < (g + 1) * cg; ++ch) {
        a += sum1[ch];
        b += sum2[ch];
      }
      const double m = a / count;
      const double var = std::max(b / count - m * m, 0.0);
      const float mean_f = static_cast<float>(pivot[i * c + g * cg] + m);
      const float rstd_f = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(s.eps)));
      mean[i * s.groups + g] = mean_f;
      rstd[i * s.groups + g] = rstd_f;
      // From the rounded mean and rstd, exactly as the backward pass will rebuild them.
      for (int64_t ch = g * cg; ch < (g + 1) * cg; ++ch) {
        off[i * c + ch] = static_cast<float>(static_cast<double>(shift_row(i)[ch]) - mean_f);
        scale[i * c + ch] = gamma[ch] * rstd_f;
      }
    }
  };
  auto normalize = [&](int64_t task) {
    const int64_t i = t.sample(task), o = t.offset(s, task), n = t.px(s, task);
    affine_kernel(n, c, x + o, &off[i * c], &scale[i * c], beta, y + o);
    if (s.silu) silu_forward(n * c, y + o, y + o);
  };
  run_passes(s, t, moments, statistics, normalize, [](int64_t) {});
}

void group_norm_backward(const op::GroupNormShape& s, const float* x, const float* shift,
                         const float* gamma, const float* beta, const float* mean,
                         const float* rstd, const float* dy, float* dx, float* dgamma, float* dbeta,
                         float* dshift) {
  const int64_t c = s.c;
  if (s.n <= 0 || s.hw <= 0 || c <= 0) {
    if (dgamma != nullptr) std::fill(dgamma, dgamma + std::max<int64_t>(c, 0), 0.0f);
    if (dbeta != nullptr) std::fill(dbeta, dbeta + std::max<int64_t>(c, 0), 0.0f);
    if (dshift != nullptr && s.n > 0 && c > 0) std::fill(dshift, dshift + s.n * c, 0.0f);
    return;
  }
  const Tiling t(s);
  const int64_t cg = c / s.groups;
  const double count = static_cast<double>(s.hw * cg);
  const bool input_grads = dx != nullptr || dshift != nullptr;

  // Where dz = dy * silu'(z) lives between the passes: dx itself when given (overwritten in
  // place by the second pass), else a buffer only if dshift needs it.
  std::vector<float> dz_store;
  float* dz_all = dx;
  if (s.silu && dx == nullptr && dshift != nullptr) {
    dz_store.resize(static_cast<size_t>(s.n * s.hw * c));
    dz_all = dz_store.data();
  }

  // Per-sample, per-channel constants rebuilt from the saved statistics.
  std::vector<float> off(static_cast<size_t>(s.n * c)), scale(off.size()), rs(off.size());
  for (int64_t i = 0; i < s.n; ++i) {
    for (int64_t ch = 0; ch < c; ++ch) {
      const int64_t g = i * s.groups + ch / cg;
      const double sh = shift != nullptr ? static_cast<double>(shift[i * c + ch]) : 0.0;
      off[i * c + ch] = static_cast<float>(sh - mean[g]);
      scale[i * c + ch] = gamma[ch] * rstd[g];
      rs[i * c + ch] = rstd[g];
    }
  }
  std::vector<double> pa(static_cast<size_t>(t.tasks * t.stride)), pb(pa.size());
  std::vector<double> sum_a(static_cast<size_t>(s.n * c)), sum_b(sum_a.size());
  std::vector<float> pc(off.size()), qc(off.size()), rc(off.size());
  std::vector<double> pd(dshift != nullptr ? pa.size() : 0);

  auto sums = [&](int64_t task) {
    const int64_t i = t.sample(task), o = t.offset(s, task), n = t.px(s, task);
    const float* dz = dy + o;
    if (s.silu) {
      float* z = thread_scratch(static_cast<size_t>(n * c));
      affine_kernel(n, c, x + o, &off[i * c], &scale[i * c], beta, z);
      float* out = dz_all != nullptr ? dz_all + o : z;
      silu_backward(n * c, z, dy + o, out);
      dz = out;
    }
    grad_sums_kernel(n, c, x + o, &off[i * c], &rs[i * c], dz, &pa[task * t.stride],
                     &pb[task * t.stride]);
  };
  auto coefficients = [&](int64_t i) {
    double* a = &sum_a[i * c];
    double* b = &sum_b[i * c];
    reduce_chunks(t, c, i, pa.data(), a);
    reduce_chunks(t, c, i, pb.data(), b);
    if (!input_grads) return;
    for (int64_t g = 0; g < s.groups; ++g) {
      double m1 = 0.0, m2 = 0.0;
      for (int64_t ch = g * cg; ch < (g + 1) * cg; ++ch) {
        m1 += static_cast<double>(gamma[ch]) * a[ch];
        m2 += static_cast<double>(gamma[ch]) * b[ch];
      }
      m1 /= count;
      m2 /= count;
      const double r = rstd[i * s.groups + g];
      for (int64_t ch = g * cg; ch < (g + 1) * cg; ++ch) {
        pc[i * c + ch] = static_cast<float>(r * gamma[ch]);
        qc[i * c + ch] = static_cast<float>(-r * r * m2);
        rc[i * c + ch] = static_cast<float>(-r * m1);
      }
    }
  };
  auto input_grad = [&](int64_t task) {
    if (!input_grads) return;
    const int64_t i = t.sample(task), o = t.offset(s, task), n = t.px(s, task);
    const float* dz = s.silu ? dz_all + o : dy + o;
    input_grad_kernel(n, c, x + o, &off[i * c], &pc[i * c], &qc[i * c], &rc[i * c], dz,
                      dx != nullptr ? dx + o : nullptr,
                      dshift != nullptr ? &pd[task * t.stride] : nullptr);
  };
  auto shift_grad = [&](int64_t i) {
    if (dshift == nullptr) return;
    std::vector<double> d(static_cast<size_t>(c));
    reduce_chunks(t, c, i, pd.data(), d.data());
    for (int64_t ch = 0; ch < c; ++ch) dshift[i * c + ch] = static_cast<float>(d[ch]);
  };
  run_passes(s, t, sums, coefficients, input_grad, shift_grad);

  // Parameter gradients sum over the batch in sample order.
  for (int64_t ch = 0; ch < c; ++ch) {
    double a = 0.0, b = 0.0;
    for (int64_t i = 0; i < s.n; ++i) {
      a += sum_a[i * c + ch];
      b += sum_b[i * c + ch];
    }
    if (dbeta != nullptr) dbeta[ch] = static_cast<float>(a);
    if (dgamma != nullptr) dgamma[ch] = static_cast<float>(b);
  }
}

}  // namespace pfgm::cpu
