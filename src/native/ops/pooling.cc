#include "pooling.h"

#include <cstddef>
#include <vector>

namespace pfgm::cpu {

void global_avg_pool_forward(const op::Nhwc& s, const float* x, float* y) {
  const int64_t hw = s.h * s.w;
  const double scale = 1.0 / static_cast<double>(hw);
#pragma omp parallel for schedule(static) if (s.numel() > (int64_t{1} << 16))
  for (int64_t n = 0; n < s.n; ++n) {
    std::vector<double> acc(static_cast<size_t>(s.c), 0.0);
    const float* xn = x + n * hw * s.c;
    for (int64_t p = 0; p < hw; ++p)
      for (int64_t c = 0; c < s.c; ++c) acc[c] += xn[p * s.c + c];
    for (int64_t c = 0; c < s.c; ++c) y[n * s.c + c] = static_cast<float>(acc[c] * scale);
  }
}

void global_avg_pool_backward(const op::Nhwc& s, const float* dy, float* dx) {
  const int64_t hw = s.h * s.w;
  const float scale = static_cast<float>(1.0 / static_cast<double>(hw));
#pragma omp parallel for schedule(static) if (s.numel() > (int64_t{1} << 16))
  for (int64_t n = 0; n < s.n; ++n) {
    float* dxn = dx + n * hw * s.c;
    const float* g = dy + n * s.c;
    for (int64_t p = 0; p < hw; ++p)
      for (int64_t c = 0; c < s.c; ++c) dxn[p * s.c + c] = g[c] * scale;
  }
}

}  // namespace pfgm::cpu
