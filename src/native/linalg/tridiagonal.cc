// Householder tridiagonalisation (GVL §8.3.1), blocked as LAPACK's dsytrd: half of the work is
// matrix products (gemm.h), the other half one symmetric matrix-vector product per column, which
// reads the upper triangle once (16 MB at n = 2048, mostly served by the last-level cache). That
// product is split into fixed row chunks with their own partial sums, added in chunk order, so
// results do not depend on the thread count.
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

// One row's share of y = A v for a symmetric A in upper storage (row i holds A[i][j], j >= i,
// which also stands for A[j][i]): y[i] += A[i, i:] . v[i:], y[j] += A[i][j] v[i] for j > i.
PFGM_VECTOR_CLONES
void symv_row(int64_t i, int64_t n, const double* row, const double* v, double* y) {
  const double vi = v[i];
  double acc = row[i] * vi;
#pragma omp simd reduction(+ : acc)
  for (int64_t j = i + 1; j < n; ++j) {
    acc += row[j] * v[j];
    y[j] += row[j] * vi;
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

// y[s ..] = A[s:, s:] v, reading the upper triangle once. Per-chunk partial sums are added in
// chunk order.
void symv_upper(int64_t n, int64_t s, const double* a, const double* v, double* y,
                std::vector<double>& partial) {
  const std::vector<int64_t> bounds = row_chunks(s, n);
  const int64_t chunks = static_cast<int64_t>(bounds.size()) - 1;
  partial.assign(static_cast<size_t>(chunks * n), 0.0);
#pragma omp parallel for schedule(dynamic, 1) if (chunks > 1)
  for (int64_t c = 0; c < chunks; ++c) {
    double* yc = partial.data() + c * n;
    for (int64_t i = bounds[c]; i < bounds[c + 1]; ++i) symv_row(i, n, a + i * n, v, yc);
  }
  for (int64_t j = s; j < n; ++j) {
    double sum = 0;
    for (int64_t c = 0; c < chunks; ++c) sum += partial[c * n + j];
    y[j] = sum;
  }
}

}  // namespace

// The blocked reduction of LAPACK's dsytrd / dlatrd (Dongarra, Sorensen & Hammarling 1989): a panel
// of kPanel reflectors is built with the trailing matrix left as it was, each new column first
// receiving the panel's pending updates, and each product A v corrected by them:
//   A v - V (W^T v) - W (V^T v);
// then the trailing matrix takes the whole panel at once, A -= V W^T + W V^T, as two gemm calls.
// Per reflector the trailing triangle is only read (by the product); it is written once per panel.
void tridiagonalize(int64_t n, double* a, double* d, double* e, double* tau) {
  std::fill(tau, tau + n, 0.0);
  if (n == 1) {
    d[0] = a[0];
    return;
  }
  constexpr int64_t kPanel = 32;
  std::vector<double> V(static_cast<size_t>(n * kPanel)), W(static_cast<size_t>(n * kPanel));
  std::vector<double> v(static_cast<size_t>(n)), y(static_cast<size_t>(n)), partial;
  std::vector<double> sw(kPanel), sv(kPanel);
  for (int64_t k0 = 0; k0 < n - 1; k0 += kPanel) {
    const int64_t k1 = std::min(k0 + kPanel, n - 1), jb = k1 - k0;
    std::fill(V.begin(), V.end(), 0.0);
    std::fill(W.begin(), W.end(), 0.0);
    for (int64_t j = 0; j < jb; ++j) {
      const int64_t k = k0 + j;
      double* row = a + k * n;
      // Row k (which stands for column k) receives the pending updates of columns k0 .. k - 1.
      // (Loops run over c outside and p inside: V and W rows are contiguous in p.)
      if (j > 0) {
        const double* vk = V.data() + k * kPanel;
        const double* wk = W.data() + k * kPanel;
        for (int64_t c = k; c < n; ++c) {
          const double* vc = V.data() + c * kPanel;
          const double* wc = W.data() + c * kPanel;
          double u = 0;
          for (int64_t p = 0; p < j; ++p) u += vk[p] * wc[p] + wk[p] * vc[p];
          row[c] -= u;
        }
      }
      d[k] = row[k];
      const int64_t len = n - k - 1;
      if (len == 1) {  // the last column: nothing below the subdiagonal to annihilate
        e[k] = row[k + 1];
        continue;
      }
      e[k] = householder(len, row + k + 1, &tau[k]);
      const double t = tau[k];
      std::fill(v.begin(), v.end(), 0.0);
      v[k + 1] = 1.0;
      for (int64_t c = k + 2; c < n; ++c) v[c] = row[c];
      // y = A22 v with A22 as it was before the panel, then the panel's corrections.
      symv_upper(n, k + 1, a, v.data(), y.data(), partial);
      std::fill(sw.begin(), sw.end(), 0.0);
      std::fill(sv.begin(), sv.end(), 0.0);
      for (int64_t c = k + 1; c < n && j > 0; ++c) {
        const double* vc = V.data() + c * kPanel;
        const double* wc = W.data() + c * kPanel;
        for (int64_t p = 0; p < j; ++p) {
          sw[p] += wc[p] * v[c];
          sv[p] += vc[p] * v[c];
        }
      }
      for (int64_t c = k + 1; c < n && j > 0; ++c) {
        const double* vc = V.data() + c * kPanel;
        const double* wc = W.data() + c * kPanel;
        double corr = 0;
        for (int64_t p = 0; p < j; ++p) corr += vc[p] * sw[p] + wc[p] * sv[p];
        y[c] -= corr;
      }
      // w = tau y - (tau^2 / 2)(y . v) v  (GVL (8.3.2)), stored with v for the update.
      double yv = 0;
      for (int64_t c = k + 1; c < n; ++c) yv += y[c] * v[c];
      const double alpha = -0.5 * t * t * yv;
      for (int64_t c = k + 1; c < n; ++c) {
        V[c * kPanel + j] = v[c];
        W[c * kPanel + j] = t * y[c] + alpha * v[c];
      }
    }
    // The trailing matrix (rows and columns >= k1) takes the panel: A -= V W^T + W V^T. Both
    // triangles are written; only the upper one is ever read.
    const int64_t m = n - k1;
    double* trail = a + k1 * n + k1;
    const double* vp = V.data() + k1 * kPanel;
    const double* wp = W.data() + k1 * kPanel;
    gemm(false, true, m, m, jb, -1.0, vp, kPanel, wp, kPanel, 1.0, trail, n);
    gemm(false, true, m, m, jb, -1.0, wp, kPanel, vp, kPanel, 1.0, trail, n);
  }
  d[n - 1] = a[(n - 1) * n + n - 1];
}

void form_qt(int64_t n, const double* a, const double* tau, double* qt) {
  std::fill(qt, qt + n * n, 0.0);
  for (int64_t i = 0; i < n; ++i) qt[i * n + i] = 1.0;
  // Q^T = H_{n-3} ... H_0 = I H_{n-3} ... H_0: blocks of reflectors from the last one down, each
  // applied from the right as W <- W P with P = H_{k1-1} ... H_{k0}. P^T = H_{k0} ... H_{k1-1} =
  // I - Y T Y^T (compact WY, T upper triangular; Schreiber & Van Loan 1989), so
  // W <- W - (W Y) T^T Y^T.
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
