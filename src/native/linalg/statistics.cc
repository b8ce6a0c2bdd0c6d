// Two passes (mean, then the centred cross-products), the second through gemm over blocks of
// rows so that memory stays bounded whatever the number of samples. The centring before the
// product avoids the cancellation of E[x x^T] - mean mean^T.
#include "statistics.h"

#include <algorithm>
#include <vector>

#include "gemm.h"

namespace pfgm::linalg {
namespace {

constexpr int64_t kBlockRows = 2048;

template <typename T>
void stats(int64_t rows, int64_t dim, const T* x, double* mean, double* cov) {
  // The mean: per-block sums added in block order (the same result on any thread count).
  const int64_t blocks = (rows + kBlockRows - 1) / kBlockRows;
  std::vector<double> partial(static_cast<size_t>(blocks * dim), 0.0);
#pragma omp parallel for schedule(dynamic, 1) if (blocks > 1)
  for (int64_t b = 0; b < blocks; ++b) {
    double* acc = partial.data() + b * dim;
    const int64_t end = std::min(rows, (b + 1) * kBlockRows);
    for (int64_t i = b * kBlockRows; i < end; ++i)
      for (int64_t j = 0; j < dim; ++j) acc[j] += static_cast<double>(x[i * dim + j]);
  }
  std::fill(mean, mean + dim, 0.0);
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t j = 0; j < dim; ++j) mean[j] += partial[b * dim + j];
  for (int64_t j = 0; j < dim; ++j) mean[j] /= static_cast<double>(rows);

  std::vector<double> centred;
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t begin = b * kBlockRows, count = std::min(rows, begin + kBlockRows) - begin;
    centred.resize(static_cast<size_t>(count * dim));
#pragma omp parallel for schedule(static) if (count * dim > 65536)
    for (int64_t i = 0; i < count; ++i)
      for (int64_t j = 0; j < dim; ++j)
        centred[i * dim + j] = static_cast<double>(x[(begin + i) * dim + j]) - mean[j];
    gemm(true, false, dim, dim, count, 1.0, centred.data(), dim, centred.data(), dim,
         b == 0 ? 0.0 : 1.0, cov, dim);
  }
  const double scale = 1.0 / static_cast<double>(rows - 1);
  for (int64_t i = 0; i < dim; ++i) {
    for (int64_t j = i; j < dim; ++j) {
      const double v = cov[i * dim + j] * scale;
      cov[i * dim + j] = v;
      cov[j * dim + i] = v;
    }
  }
}

}  // namespace

void feature_stats(int64_t rows, int64_t dim, const float* x, double* mean, double* cov) {
  stats(rows, dim, x, mean, cov);
}
void feature_stats(int64_t rows, int64_t dim, const double* x, double* mean, double* cov) {
  stats(rows, dim, x, mean, cov);
}

}  // namespace pfgm::linalg
