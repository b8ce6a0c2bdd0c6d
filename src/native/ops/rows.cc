#include "rows.h"

#include <algorithm>
#include <vector>

#include "elementwise.h"
#include "precond_math.h"

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

void scale_rows_dev(int64_t rows, int64_t cols, const float* a, const float* x, float* y) {
  scale_rows(rows, cols, a, x, y);
}

void axpby_rows_dev(int64_t rows, int64_t cols, const float* a, const float* x, const float* b,
                    const float* z, float* y) {
  axpby_rows(rows, cols, a, x, b, z, y);
}

void adaptive_coefs(int64_t rows, int64_t cols, const float* x, const float* sigma,
                    double sigma_data, double d_aware_D, float* c_in, float* c_skip, float* c_out) {
  std::vector<double> q(static_cast<size_t>(rows > 0 ? rows : 0));
  sumsq_rows(rows, cols, x, q.data());
  for (int64_t i = 0; i < rows; ++i) {
    const double s2 =
        precond::adaptive_scale2(sigma[i], q[i], static_cast<double>(cols), sigma_data);
    const precond::Coefs k = precond::coefs(s2, sigma_data, d_aware_D);
    c_in[i] = k.c_in;
    if (c_skip != nullptr) c_skip[i] = k.c_skip;
    if (c_out != nullptr) c_out[i] = k.c_out;
  }
}

// Rows cut into fixed chunks and columns into blocks; each (chunk, block) sums its rows in double
// in row order, and the chunks' sums are added in chunk order. The cuts do not depend on the thread
// count, so neither does the result, and both threads have work when the columns are few (a
// 32- or 64-channel bias gradient is a single block, which alone would leave one core idle).
void sum_columns(int64_t rows, int64_t cols, const float* x, float* out) {
  constexpr int64_t kBlock = 64, kChunkRows = 2048;
  const int64_t blocks = (cols + kBlock - 1) / kBlock;
  const int64_t chunks = std::max<int64_t>(1, (rows + kChunkRows - 1) / kChunkRows);
  std::vector<double> partial(static_cast<size_t>(chunks * cols));
#pragma omp parallel for schedule(static) collapse(2) if (rows * cols > (1 << 16))
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int64_t begin = blk * kBlock;
      const int64_t end = std::min(cols, begin + kBlock);
      double acc[kBlock] = {};
      for (int64_t i = chunk * kChunkRows; i < std::min(rows, (chunk + 1) * kChunkRows); ++i) {
        const float* row = x + i * cols;
        for (int64_t j = begin; j < end; ++j) acc[j - begin] += row[j];
      }
      std::copy(acc, acc + (end - begin), &partial[static_cast<size_t>(chunk * cols + begin)]);
    }
  }
  for (int64_t j = 0; j < cols; ++j) {
    double sum = 0;
    for (int64_t chunk = 0; chunk < chunks; ++chunk) {
      sum += partial[static_cast<size_t>(chunk * cols + j)];
    }
    out[j] = static_cast<float>(sum);
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
