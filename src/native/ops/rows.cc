#include "rows.h"

#include <algorithm>
#include <vector>

#include "elementwise.h"

namespace pfgm::cpu {

void scale_rows(int64_t rows, int64_t cols, const float* a, const float* x, float* y) {
  for (int64_t i = 0; i < rows; ++i) scale(cols, a[i], x + i * cols, y + i * cols);
}

void axpby_rows(int64_t rows, int64_t cols, const float* a, const float* x, const float* b,
                const float* z, float* y) {
  for (int64_t i = 0; i < rows; ++i) axpby(cols, a[i], x + i * cols, b[i], z + i * cols, y + i * cols);
}

void sumsq_rows(int64_t rows, int64_t cols, const float* x, double* out) {
  for (int64_t i = 0; i < rows; ++i) {
    const float* r = x + i * cols;
    double q = 0;
    for (int64_t j = 0; j < cols; ++j) q += static_cast<double>(r[j]) * r[j];
    out[i] = q;
  }
}

void sum_columns(int64_t rows, int64_t cols, const float* x, float* out) {
  std::vector<double> acc(static_cast<size_t>(cols), 0.0);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) acc[j] += x[i * cols + j];
  for (int64_t j = 0; j < cols; ++j) out[j] = static_cast<float>(acc[j]);
}

void swap_halves(int64_t rows, int64_t cols, const float* x, float* y) {
  const int64_t half = cols / 2;
  for (int64_t i = 0; i < rows; ++i) {
    std::copy(x + i * cols + half, x + (i + 1) * cols, y + i * cols);
    std::copy(x + i * cols, x + i * cols + half, y + i * cols + half);
  }
}

}  // namespace pfgm::cpu
