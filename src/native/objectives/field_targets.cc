// docs/method.md §2.4 (posterior weights, ideal denoiser / STF target) and §3 eq. 3.1 (PFGM's
// normalized empirical field), both in log space. See field_targets.h for the contract.
#include "field_targets.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <new>
#include <vector>

namespace pfgm::cpu {
namespace {

// The references reach the loops below as Y = double when a widened copy fits (see widen()), else
// as the caller's floats. Both give bit-identical results: float -> double is exact and the
// arithmetic is the same; double only saves the per-query conversions, which dominate the cost.

// d2[j] = ||xi - y_j||^2 for every reference, from the differences, in double (see
// field_targets.h for why not the expansion). References go four at a time: the four sums are
// independent dependency chains (one chain would wait on the adder's latency every step) and
// each x_k is loaded once for four references. The simd reductions let the compiler vectorize
// without -ffast-math; their order is fixed by the build, so results do not depend on the thread
// count.
template <typename Y>
void squared_distances(int64_t refs, int64_t n, const float* xi, const Y* y, double* d2) {
  int64_t j = 0;
  for (; j + 4 <= refs; j += 4) {
    const Y* y0 = y + j * n;
    const Y* y1 = y0 + n;
    const Y* y2 = y1 + n;
    const Y* y3 = y2 + n;
    double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
#pragma omp simd reduction(+ : a0, a1, a2, a3)
    for (int64_t k = 0; k < n; ++k) {
      const double xk = static_cast<double>(xi[k]);
      const double e0 = xk - static_cast<double>(y0[k]);
      const double e1 = xk - static_cast<double>(y1[k]);
      const double e2 = xk - static_cast<double>(y2[k]);
      const double e3 = xk - static_cast<double>(y3[k]);
      a0 += e0 * e0;
      a1 += e1 * e1;
      a2 += e2 * e2;
      a3 += e3 * e3;
    }
    d2[j] = a0;
    d2[j + 1] = a1;
    d2[j + 2] = a2;
    d2[j + 3] = a3;
  }
  for (; j < refs; ++j) {
    const Y* yj = y + j * n;
    double a = 0.0;
#pragma omp simd reduction(+ : a)
    for (int64_t k = 0; k < n; ++k) {
      const double e = static_cast<double>(xi[k]) - static_cast<double>(yj[k]);
      a += e * e;
    }
    d2[j] = a;
  }
}

// acc[k] += sum_j w[j] * (y_jk - shift_k) over the references with a nonzero weight (shift may be
// null for 0). At small sigma nearly every weight underflows to exactly 0, and skipping those makes
// the sum O(n) per surviving reference instead of O(n * refs). Surviving references are gathered
// four at a time so acc is loaded and stored once per four of them rather than once per each.
template <typename Y>
void accumulate(int64_t refs, int64_t n, const double* w, const Y* y, const float* shift,
                double* acc, int64_t* live) {
  int64_t count = 0;
  for (int64_t j = 0; j < refs; ++j) {
    if (w[j] != 0.0) live[count++] = j;
  }
  int64_t c = 0;
  for (; c + 4 <= count; c += 4) {
    const Y* y0 = y + live[c] * n;
    const Y* y1 = y + live[c + 1] * n;
    const Y* y2 = y + live[c + 2] * n;
    const Y* y3 = y + live[c + 3] * n;
    const double w0 = w[live[c]], w1 = w[live[c + 1]], w2 = w[live[c + 2]], w3 = w[live[c + 3]];
    if (shift == nullptr) {
#pragma omp simd
      for (int64_t k = 0; k < n; ++k) {
        acc[k] += w0 * static_cast<double>(y0[k]) + w1 * static_cast<double>(y1[k]) +
                  w2 * static_cast<double>(y2[k]) + w3 * static_cast<double>(y3[k]);
      }
    } else {
#pragma omp simd
      for (int64_t k = 0; k < n; ++k) {
        const double s = static_cast<double>(shift[k]);
        acc[k] += w0 * (static_cast<double>(y0[k]) - s) + w1 * (static_cast<double>(y1[k]) - s) +
                  w2 * (static_cast<double>(y2[k]) - s) + w3 * (static_cast<double>(y3[k]) - s);
      }
    }
  }
  for (; c < count; ++c) {
    const Y* yj = y + live[c] * n;
    const double wj = w[live[c]];
    if (shift == nullptr) {
#pragma omp simd
      for (int64_t k = 0; k < n; ++k) acc[k] += wj * static_cast<double>(yj[k]);
    } else {
#pragma omp simd
      for (int64_t k = 0; k < n; ++k) {
        acc[k] += wj * (static_cast<double>(yj[k]) - static_cast<double>(shift[k]));
      }
    }
  }
}

// Unnormalised docs/method.md (2.4) log-weights of query `xi` against every reference, written to
// `row`; returns the row's maximum.
//
// Finite D: -(n+D)/2 * log(d2 + r^2) = -(n+D)/2 * [log(r^2) + log1p(d2 / r^2)]. The first term is
// the same for every reference and cancels in the normalisation, so only log1p(d2 / r^2) is kept:
// at D = 1e6..1e8 the factor (n+D)/2 magnifies any absolute error of the logarithm, and log1p
// keeps full relative precision where d2 << r^2, which is where large D lives.
template <typename Y>
double posterior_row(int64_t refs, int64_t n, double D, const float* xi, const Y* y, double sigma,
                     double* row) {
  squared_distances(refs, n, xi, y, row);
  if (std::isinf(D)) {
    // -d2 / (2 sigma^2) shifted by the nearest reference's d2 (the shift cancels in the
    // normalisation): the nearest gets exactly 0, so a row never turns all -inf (NaN after the
    // softmax) even when d2 / sigma^2 overflows at a tiny sigma. Dividing by sigma twice keeps
    // sigma^2 from underflowing first.
    const double nearest = *std::min_element(row, row + refs);
    for (int64_t j = 0; j < refs; ++j) row[j] = 0.5 * ((nearest - row[j]) / sigma) / sigma;
    return 0.0;
  }
  // u = d2 / r^2 = (d2 / sigma^2) / D, never forming r^2 = sigma^2 D: that product overflows
  // for D near the double range (the weights would turn uniform instead of Gaussian) and
  // underflows for tiny D.
  const double inv_s2 = 1.0 / (sigma * sigma);
  // Where u overflows (tiny sigma or tiny D), log(1 + u) is log(d2) - log(r^2) to double
  // precision, and that form stays finite.
  const double log_inv_r2 = -(2.0 * std::log(sigma) + std::log(D));
  const double power = -0.5 * (static_cast<double>(n) + D);
  double best = -std::numeric_limits<double>::infinity();
  for (int64_t j = 0; j < refs; ++j) {
    const double d2 = row[j];
    const double u = d2 * inv_s2 / D;
    // d2 = 0 first: with inv_s2 = inf (sigma^2 underflowed) 0 * inf would be NaN.
    const double l = d2 == 0.0 ? 0.0 : std::isfinite(u) ? std::log1p(u) : std::log(d2) + log_inv_r2;
    row[j] = power * l;
    best = std::max(best, row[j]);
  }
  return best;
}

// Replaces row[j] by exp(row[j] - best) and returns their sum (>= 1: the maximum contributes 1).
double exponentiate(int64_t refs, double best, double* row) {
  double sum = 0.0;
  for (int64_t j = 0; j < refs; ++j) {
    row[j] = std::exp(row[j] - best);
    sum += row[j];
  }
  return sum;
}

// Per-thread scratch: a row of weights plus an n-vector of sums (doubles) and a row of indices
// for each OpenMP thread, allocated before the parallel region so an allocation failure throws
// here (and reaches JS as an error) instead of terminating inside OpenMP.
struct Scratch {
  Scratch(int64_t refs, int64_t n)
      : refs(refs),
        n(n),
        threads(omp_get_max_threads()),
        doubles(static_cast<size_t>((refs + n) * threads)),
        indices(static_cast<size_t>(refs * threads)) {}
  double* row() { return doubles.data() + (refs + n) * omp_get_thread_num(); }
  double* sums() { return row() + refs; }
  int64_t* live() { return indices.data() + refs * omp_get_thread_num(); }
  int64_t refs, n, threads;
  std::vector<double> doubles;
  std::vector<int64_t> indices;
};

// Threads pay off only past a few tens of thousands of multiply-adds.
bool worth_threads(int64_t queries, int64_t refs, int64_t n) {
  return queries > 1 && static_cast<double>(queries) * refs * n >= 32768.0;
}

// A double copy of the references for the loops above, converted once per call in parallel.
// Empty (use the floats) when the copy would pass the calling thread's limit (128 MiB unless a
// test lowers it), or cannot be had: the float path gives the same results, only slower.
thread_local int64_t widen_limit = kDefaultWidenLimit;

std::vector<double> widen(int64_t count, const float* y) {
  std::vector<double> wide;
  if (count > widen_limit) return wide;
  try {
    wide.resize(static_cast<size_t>(count));
  } catch (const std::bad_alloc&) {
    return {};
  }
#pragma omp parallel for simd schedule(static) if (count >= (1 << 18))
  for (int64_t i = 0; i < count; ++i) wide[static_cast<size_t>(i)] = static_cast<double>(y[i]);
  return wide;
}

template <typename Y>
void log_weights_impl(int64_t queries, int64_t refs, int64_t n, double D, const float* x,
                      const Y* y, const double* sigma, double* logw) {
  // Rows are computed in place in the output, so no scratch is needed.
#pragma omp parallel for schedule(static) if (worth_threads(queries, refs, n))
  for (int64_t i = 0; i < queries; ++i) {
    double* row = logw + i * refs;
    const double best = posterior_row(refs, n, D, x + i * n, y, sigma[i], row);
    double sum = 0.0;
    for (int64_t j = 0; j < refs; ++j) sum += std::exp(row[j] - best);
    const double log_z = best + std::log(sum);
    for (int64_t j = 0; j < refs; ++j) row[j] -= log_z;
  }
}

template <typename Y>
void mean_impl(int64_t queries, int64_t refs, int64_t n, double D, const float* x, const Y* y,
               const double* sigma, float* out) {
  Scratch scratch(refs, n);
#pragma omp parallel if (worth_threads(queries, refs, n))
  {
    double* row = scratch.row();
    double* acc = scratch.sums();
    int64_t* live = scratch.live();
#pragma omp for schedule(static)
    for (int64_t i = 0; i < queries; ++i) {
      const double best = posterior_row(refs, n, D, x + i * n, y, sigma[i], row);
      const double sum = exponentiate(refs, best, row);
      std::fill(acc, acc + n, 0.0);
      accumulate(refs, n, row, y, nullptr, acc, live);
      const double inv = 1.0 / sum;
      float* o = out + i * n;
      for (int64_t k = 0; k < n; ++k) o[k] = static_cast<float>(acc[k] * inv);
    }
  }
}

template <typename Y>
void field_impl(int64_t queries, int64_t refs, int64_t n, const float* x, const float* z,
                const Y* y, double gamma, float* out) {
  Scratch scratch(refs, n);
  // docs/method.md (3.1): w_j ∝ d_j^-(n+1), i.e. log w_j = -(n+1)/2 * log(d_j^2). The reference
  // code's (min_k d_k / d_j)^(n+1) is the same after normalisation; in log space the min is not
  // needed.
  const double power = -0.5 * (static_cast<double>(n) + 1.0);
  const double sqrt_n = std::sqrt(static_cast<double>(n));
#pragma omp parallel if (worth_threads(queries, refs, n))
  {
    double* row = scratch.row();
    double* e = scratch.sums();
    int64_t* live = scratch.live();
#pragma omp for schedule(static)
    for (int64_t i = 0; i < queries; ++i) {
      const float* xi = x + i * n;
      const double zi = static_cast<double>(z[i]);
      float* o = out + i * (n + 1);
      squared_distances(refs, n, xi, y, row);
      double best = -std::numeric_limits<double>::infinity();
      bool on_reference = false;
      for (int64_t j = 0; j < refs; ++j) {
        const double d2 = row[j] + zi * zi;
        // d2 is exactly 0 only when z = 0 and x equals y_j bit for bit (squares of float
        // differences cannot underflow in double). log(0) = -inf gives that reference weight +inf:
        // all the weight sits on coincident references, each at distance 0, so E = 0 and v = 0.
        if (d2 == 0.0) {
          on_reference = true;
          break;
        }
        row[j] = power * std::log(d2);
        best = std::max(best, row[j]);
      }
      if (on_reference) {
        std::fill(o, o + n + 1, 0.0f);
        continue;
      }
      const double sum = exponentiate(refs, best, row);
      // Differences before weighting: E is small next to the data, and sum_j w_j y_j - x would
      // cancel there.
      std::fill(e, e + n, 0.0);
      accumulate(refs, n, row, y, xi, e, live);
      const double inv = 1.0 / sum;
      // The z component of E is -z: the weights sum to 1 and every reference has z = 0.
      double norm2 = zi * zi;
      for (int64_t k = 0; k < n; ++k) {
        e[k] *= inv;
        norm2 += e[k] * e[k];
      }
      const double denom = std::sqrt(norm2) + gamma;
      // denom = 0 only for E = 0 with gamma = 0: the field vanishes, and so does its direction.
      const double scale = denom > 0.0 ? sqrt_n / denom : 0.0;
      for (int64_t k = 0; k < n; ++k) o[k] = static_cast<float>(scale * e[k]);
      o[n] = static_cast<float>(-scale * zi);
    }
  }
}

}  // namespace

int64_t set_widen_limit(int64_t values) {
  const int64_t previous = widen_limit;
  widen_limit = values;
  return previous;
}

void posterior_log_weights(int64_t queries, int64_t refs, int64_t n, double D, const float* x,
                           const float* y, const double* sigma, double* logw) {
  const std::vector<double> wide = widen(refs * n, y);
  if (!wide.empty()) {
    log_weights_impl(queries, refs, n, D, x, wide.data(), sigma, logw);
  } else {
    log_weights_impl(queries, refs, n, D, x, y, sigma, logw);
  }
}

void posterior_mean(int64_t queries, int64_t refs, int64_t n, double D, const float* x,
                    const float* y, const double* sigma, float* out) {
  const std::vector<double> wide = widen(refs * n, y);
  if (!wide.empty()) {
    mean_impl(queries, refs, n, D, x, wide.data(), sigma, out);
  } else {
    mean_impl(queries, refs, n, D, x, y, sigma, out);
  }
}

void pfgm_field_target(int64_t queries, int64_t refs, int64_t n, const float* x, const float* z,
                       const float* y, double gamma, float* out) {
  const std::vector<double> wide = widen(refs * n, y);
  if (!wide.empty()) {
    field_impl(queries, refs, n, x, z, wide.data(), gamma, out);
  } else {
    field_impl(queries, refs, n, x, z, y, gamma, out);
  }
}

}  // namespace pfgm::cpu
