// Householder tridiagonalisation (GVL §8.3.1) in the fused form: the rank-2 update of step k and
// the symmetric matrix-vector product of step k + 1 share one pass over the trailing matrix, so
// each step reads and writes the (upper) triangle once. At n = 2048 that triangle is 16 MB and
// mostly stays in the last-level cache; the product is split into fixed row chunks with their own
// partial sums, added in chunk order, so results do not depend on the thread count.
#include "tridiagonal.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../ops/parallel.h"
#include "gemm.h"

namespace pfgm::linalg {
namespace {

// Reflector H = I - tau u u^T, u[0] = 1, with H x = beta e_1 (GVL Alg. 5.1.1, LAPACK's sign
// choice beta = -sign(x0) ||x|| so that no cancellation occurs). x[1 ..] becomes u[1 ..].
double householder(int64_t len, double* x, double* tau) {
  const double alpha = x[0];
  double scale = 0;
  for (int64_t j = 1; j < len; ++j) scale = std::max(scale, std::fabs(x[j]));
  if (scale == 0) {
    *tau = 0;
    return alpha;
  }
  double ss = 0;
  for (int64_t j = 1; j < len; ++j) ss += (x[j] / scale) * (x[j] / scale);
  const double beta = -std::copysign(std::hypot(alpha, scale * std::sqrt(ss)), alpha);
  *tau = (beta - alpha) / beta;
  const double inv = 1.0 / (alpha - beta);
  for (int64_t j = 1; j < len; ++j) x[j] *= inv;
  return beta;
}

// One row of the fused pass: row[j] -= u_i w_j + w_i u_j for j >= i (the rank-2 update of the
// previous step), then the row's share of y = A v (upper storage: row i holds A[i][j], j >= i,
// which also stands for A[j][i]).
PFGM_VECTOR_CLONES
void update_row(int64_t i, int64_t n, double* row, const double* u, const double* w,
                const double* v, double* y) {
  const double ui = u[i], wi = w[i], vi = v[i];
  row[i] -= 2 * ui * wi;
  double acc = row[i] * vi;
#pragma omp simd reduction(+ : acc)
  for (int64_t j = i + 1; j < n; ++j) {
    const double x = row[j] - ui * w[j] - wi * u[j];
    row[j] = x;
    acc += x * v[j];
    y[j] += x * vi;
  }
  y[i] += acc;
}

// Chunks of the trailing rows [s, n) with about equal triangle area; their number depends only on
// the size, never on the threads.
std::vector<int64_t> row_chunks(int64_t s, int64_t n) {
  const int64_t m = n - s;
  // Below ~300 rows a pass takes microseconds: one chunk, no thread hand-off.
  const int64_t count = m < 320 ? 1 : std::min<int64_t>(m / 96, 16);
  std::vector<int64_t> bounds{s};
  const double total = 0.5 * static_cast<double>(m) * static_cast<double>(m + 1);
  double area = 0;
  int64_t next = 1;
  for (int64_t r = 0; r < m && next < count; ++r) {
    area += static_cast<double>(m - r);
    if (area >= total * static_cast<double>(next) / static_cast<double>(count)) {
      bounds.push_back(s + r + 1);
      ++next;
    }
  }
  bounds.push_back(n);
  return bounds;
}

// Rows [s, n): applies the rank-2 update (u, w) and returns y = A[s:, s:] v in y[s ..].
void fused_pass(int64_t n, int64_t s, double* a, const double* u, const double* w, const double* v,
                double* y, std::vector<double>& partial) {
  const std::vector<int64_t> bounds = row_chunks(s, n);
  const int64_t chunks = static_cast<int64_t>(bounds.size()) - 1;
  partial.assign(static_cast<size_t>(chunks * n), 0.0);
#pragma omp parallel for schedule(dynamic, 1) if (chunks > 1)
  for (int64_t c = 0; c < chunks; ++c) {
    double* yc = partial.data() + c * n;
    for (int64_t i = bounds[c]; i < bounds[c + 1]; ++i) update_row(i, n, a + i * n, u, w, v, yc);
  }
  for (int64_t j = s; j < n; ++j) {
    double sum = 0;
    for (int64_t c = 0; c < chunks; ++c) sum += partial[c * n + j];
    y[j] = sum;
  }
}

// u (absolute indices): zero before `start`, 1 at `start`, the stored reflector after it.
void load_reflector(int64_t n, int64_t start, const double* row, double* u) {
  std::fill(u, u + start, 0.0);
  u[start] = 1.0;
  for (int64_t j = start + 1; j < n; ++j) u[j] = row[j];
}

}  // namespace

void tridiagonalize(int64_t n, double* a, double* d, double* e, double* tau) {
  std::fill(tau, tau + n, 0.0);
  d[0] = a[0];
  if (n == 1) return;
  if (n == 2) {
    e[0] = a[1];
    d[1] = a[3];
    return;
  }
  std::vector<double> u(n), w(n, 0.0), next(n), y(n), zero(n, 0.0), partial;
  e[0] = householder(n - 1, a + 1, &tau[0]);
  load_reflector(n, 1, a, u.data());
  fused_pass(n, 1, a, zero.data(), zero.data(), u.data(), y.data(), partial);
  for (int64_t k = 0;; ++k) {
    // Step k: p = tau A22 u, w = p - (tau / 2)(p . u) u, and A22 -= u w^T + w u^T (GVL (8.3.2)).
    const double t = tau[k];
    double pu = 0;
    for (int64_t j = k + 1; j < n; ++j) pu += t * y[j] * u[j];
    const double alpha = -0.5 * t * pu;
    for (int64_t j = k + 1; j < n; ++j) w[j] = t * y[j] + alpha * u[j];
    // Row k + 1 is updated first: the next reflector is built from it.
    double* row = a + (k + 1) * n;
    for (int64_t j = k + 1; j < n; ++j) row[j] -= u[k + 1] * w[j] + w[k + 1] * u[j];
    d[k + 1] = row[k + 1];
    if (k + 1 == n - 2) {
      e[n - 2] = row[n - 1];
      double& last = a[(n - 1) * n + n - 1];
      last -= 2 * u[n - 1] * w[n - 1];
      d[n - 1] = last;
      return;
    }
    e[k + 1] = householder(n - k - 2, row + k + 2, &tau[k + 1]);
    load_reflector(n, k + 2, row, next.data());
    fused_pass(n, k + 2, a, u.data(), w.data(), next.data(), y.data(), partial);
    std::swap(u, next);
  }
}

void form_qt(int64_t n, const double* a, const double* tau, double* qt) {
  std::fill(qt, qt + n * n, 0.0);
  for (int64_t i = 0; i < n; ++i) qt[i * n + i] = 1.0;
  // Q^T = H_{n-3} ... H_0 = I H_{n-3} ... H_0: blocks of reflectors from the last one down, each
  // applied from the right as W <- W P with P = H_{k1-1} ... H_{k0}. P^T = H_{k0} ... H_{k1-1} =
  // I - Y T Y^T (compact WY, T upper triangular; Schreiber & Van Loan 1989), so W <- W - (W Y) T^T Y^T.
  // Before a block, W is the identity outside rows and columns >= k0 + 1.
  constexpr int64_t kBlock = 32;
  std::vector<double> Y, T, X, X2, z;
  for (int64_t k1 = n - 2; k1 > 0;) {
    const int64_t k0 = std::max<int64_t>(0, k1 - kBlock), b = k1 - k0;
    const int64_t r0 = k0 + 1, r = n - r0;
    Y.assign(static_cast<size_t>(r * b), 0.0);
    for (int64_t j = 0; j < b; ++j) {
      const int64_t k = k0 + j;
      Y[(k + 1 - r0) * b + j] = 1.0;
      for (int64_t i = k + 2; i < n; ++i) Y[(i - r0) * b + j] = a[k * n + i];
    }
    T.assign(static_cast<size_t>(b * b), 0.0);
    z.assign(static_cast<size_t>(b), 0.0);
    for (int64_t j = 0; j < b; ++j) {
      const double tj = tau[k0 + j];
      T[j * b + j] = tj;
      if (j == 0 || tj == 0) continue;
      for (int64_t l = 0; l < j; ++l) z[l] = 0;
      for (int64_t i = 0; i < r; ++i) {
        const double yij = Y[i * b + j];
        if (yij == 0) continue;
        for (int64_t l = 0; l < j; ++l) z[l] += Y[i * b + l] * yij;
      }
      for (int64_t l = 0; l < j; ++l) {
        double s = 0;
        for (int64_t q = l; q < j; ++q) s += T[l * b + q] * z[q];
        T[l * b + j] = -tj * s;
      }
    }
    double* wsub = qt + r0 * n + r0;
    X.resize(static_cast<size_t>(r * b));
    gemm(false, false, r, b, r, 1.0, wsub, n, Y.data(), b, 0.0, X.data(), b);
    X2.assign(static_cast<size_t>(r * b), 0.0);
    for (int64_t i = 0; i < r; ++i)
      for (int64_t j = 0; j < b; ++j) {
        double s = 0;
        for (int64_t l = j; l < b; ++l) s += X[i * b + l] * T[j * b + l];
        X2[i * b + j] = s;
      }
    gemm(false, true, r, r, b, -1.0, X2.data(), b, Y.data(), b, 1.0, wsub, n);
    k1 = k0;
  }
}

}  // namespace pfgm::linalg
