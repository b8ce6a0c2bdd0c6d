#include "eigh.h"

#include <algorithm>
#include <numeric>
#include <vector>

#include "tridiagonal.h"
#include "tridiagonal_ql.h"

namespace pfgm::linalg {

void symmetric_eigen(int64_t n, double* a, double* values, double* vectors) {
  if (n <= 0) return;
  std::vector<double> e(static_cast<size_t>(n)), tau(static_cast<size_t>(n));
  tridiagonalize(n, a, values, e.data(), tau.data());
  if (vectors != nullptr) form_qt(n, a, tau.data(), vectors);
  tridiagonal_ql(n, values, e.data(), vectors);
  // Ascending order, ties kept in place; the vector rows follow their values.
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t x, int64_t y) { return values[x] < values[y]; });
  std::vector<double> sorted(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) sorted[j] = values[order[j]];
  std::copy(sorted.begin(), sorted.end(), values);
  if (vectors == nullptr) return;
  std::vector<double> moved(static_cast<size_t>(n * n));
#pragma omp parallel for schedule(static) if (n > 256)
  for (int64_t j = 0; j < n; ++j)
    std::copy(vectors + order[j] * n, vectors + order[j] * n + n, moved.data() + j * n);
  std::copy(moved.begin(), moved.end(), vectors);
}

}  // namespace pfgm::linalg
