#include "rows.h"

#include <algorithm>

#include "elementwise.h"

namespace pfgm::cpu {

void scale_rows(int64_t rows, int64_t cols, const float* a, const float* x, float* y) {
  for (int64_t i = 0; i < rows; ++i) scale(cols, a[i], x + i * cols, y + i * cols);
}

void axpby_rows(int64_t rows, int64_t cols, const float* a, const float* x, const float* b,
                const float* z, float* y) {
  for (int64_t i = 0; i < rows; ++i)
    axpby(cols, a[i], x + i * cols, b[i], z + i * cols, y + i * cols);
}

void sumsq_rows(int64_t rows, int64_t cols, const float* x, double* out) {
  for (int64_t i = 0; i < rows; ++i) {
    const float* r = x + i * cols;
    double q = 0;
    for (int64_t j = 0; j < cols; ++j) q += static_cast<double>(r[j]) * r[j];
    out[i] = q;
  }
}

// Columns split among threads in blocks, each column's rows summed in double in row order, so the
// result does not depend on the thread count and loses nothing over thousands of rows.
void sum_columns(int64_t rows, int64_t cols, const float* x, float* out) {
  constexpr int64_t kBlock = 64;
  const int64_t blocks = (cols + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (rows * cols > (1 << 16))
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t begin = blk * kBlock;
    const int64_t end = std::min(cols, begin + kBlock);
    double acc[kBlock] = {};
    for (int64_t i = 0; i < rows; ++i) {
      const float* row = x + i * cols;
      for (int64_t j = begin; j < end; ++j) acc[j - begin] += row[j];
    }
    for (int64_t j = begin; j < end; ++j) out[j] = static_cast<float>(acc[j - begin]);
  }
}

void swap_halves(int64_t rows, int64_t cols, const float* x, float* y) {
  const int64_t half = cols / 2;
  for (int64_t i = 0; i < rows; ++i) {
    std::copy(x + i * cols + half, x + (i + 1) * cols, y + i * cols);
    std::copy(x + i * cols, x + i * cols + half, y + i * cols + half);
  }
}

}  // namespace pfgm::cpu
