// Blocks of 256 query rows against all reference rows: one gemm gives the block's dot products
// (2.56e10 flops for 10k x 10k x 128, about a second on two cores), then each row is scanned
// in parallel. Squared distances throughout; radii are reported as distances.
#include "knn.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "gemm.h"

namespace pfgm::linalg {
namespace {

constexpr int64_t kBlock = 256;

std::vector<double> squared_norms(int64_t rows, int64_t dim, const double* x) {
  std::vector<double> out(static_cast<size_t>(rows));
#pragma omp parallel for schedule(static) if (rows > 1024)
  for (int64_t i = 0; i < rows; ++i) {
    double s = 0;
    for (int64_t j = 0; j < dim; ++j) s += x[i * dim + j] * x[i * dim + j];
    out[i] = s;
  }
  return out;
}

// For each block of rows of q: calls visit(i, d2_row) with the squared distances from q_i to
// every row of r (clamped at 0: the expansion can round below it).
template <typename Visit>
void for_each_distance_row(int64_t nq, int64_t nr, int64_t dim, const double* q, const double* r,
                           Visit&& visit) {
  const std::vector<double> qn = squared_norms(nq, dim, q), rn = squared_norms(nr, dim, r);
  std::vector<double> g(static_cast<size_t>(kBlock * nr));
  for (int64_t b = 0; b < nq; b += kBlock) {
    const int64_t rows = std::min(kBlock, nq - b);
    gemm(false, true, rows, nr, dim, 1.0, q + b * dim, dim, r, dim, 0.0, g.data(), nr);
#pragma omp parallel for schedule(dynamic, 8)
    for (int64_t i = 0; i < rows; ++i) {
      double* row = g.data() + i * nr;
      const double a = qn[b + i];
      for (int64_t j = 0; j < nr; ++j) row[j] = std::max(0.0, a + rn[j] - 2 * row[j]);
      visit(b + i, row);
    }
  }
}

}  // namespace

void knn_radii(int64_t rows, int64_t dim, const double* x, int64_t k, double* radius) {
  for_each_distance_row(rows, rows, dim, x, x, [&](int64_t i, const double* d2) {
    // The k smallest squared distances to other points, kept sorted (k is small: 3 by default).
    std::vector<double> best(static_cast<size_t>(k), INFINITY);
    for (int64_t j = 0; j < rows; ++j) {
      if (j == i || d2[j] >= best[k - 1]) continue;
      int64_t p = k - 1;
      while (p > 0 && best[p - 1] > d2[j]) {
        best[p] = best[p - 1];
        --p;
      }
      best[p] = d2[j];
    }
    radius[i] = std::sqrt(best[k - 1]);
  });
}

Coverage manifold_coverage(int64_t n_real, int64_t n_fake, int64_t dim, const double* real,
                           const double* fake, const double* real_radius, const double* fake_radius,
                           uint8_t* fake_in_real, uint8_t* real_in_fake) {
  std::vector<double> fake_r2(static_cast<size_t>(n_fake));
  for (int64_t j = 0; j < n_fake; ++j) fake_r2[j] = fake_radius[j] * fake_radius[j];
  std::vector<uint8_t> real_hit(static_cast<size_t>(n_real), 0);
  // Fake j is covered when any real row's ball holds it: rows run in parallel, and each only ever
  // stores 1 (a relaxed atomic store: idempotent and race-free).
  std::vector<uint8_t> fake_hit(static_cast<size_t>(n_fake), 0);
  for_each_distance_row(n_real, n_fake, dim, real, fake, [&](int64_t i, const double* d2) {
    const double r2 = real_radius[i] * real_radius[i];
    bool covered = false;
    for (int64_t j = 0; j < n_fake; ++j) {
      if (d2[j] <= fake_r2[j]) covered = true;
      if (d2[j] <= r2) __atomic_store_n(&fake_hit[j], static_cast<uint8_t>(1), __ATOMIC_RELAXED);
    }
    real_hit[i] = covered ? 1 : 0;
  });
  Coverage c{0, 0};
  for (int64_t j = 0; j < n_fake; ++j) c.precision_hits += fake_hit[j];
  for (int64_t i = 0; i < n_real; ++i) c.recall_hits += real_hit[i];
  if (fake_in_real != nullptr) std::copy(fake_hit.begin(), fake_hit.end(), fake_in_real);
  if (real_in_fake != nullptr) std::copy(real_hit.begin(), real_hit.end(), real_in_fake);
  return c;
}

}  // namespace pfgm::linalg
