#include "modulate.h"

#include <vector>

#include "parallel.h"
#include "rounding.h"

namespace pfgm::cpu {

void modulate_forward(int64_t n, int64_t hw, int64_t c, const float* x, const float* params,
                      float* y) {
  parallel_ranges(n * hw, [=](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const float* scale = params + (p / hw) * 2 * c;
      const float* shift = scale + c;
      const float* xp = x + p * c;
      float* yp = y + p * c;
#pragma GCC ivdep
      for (int64_t ch = 0; ch < c; ++ch)
        yp[ch] = fp::add(shift[ch], fp::mul(xp[ch], fp::add(scale[ch], 1.0f)));
    }
  });
}

void modulate_backward(int64_t n, int64_t hw, int64_t c, const float* x, const float* params,
                       const float* dy, float* dx, float* dparams) {
  // One sample per iteration: its sums are private to it, so the result is the same on any
  // number of threads.
#pragma omp parallel for schedule(static) if (n * hw * c >= kParallelGrain)
  for (int64_t i = 0; i < n; ++i) {
    const float* scale = params + i * 2 * c;
    std::vector<double> dscale(static_cast<size_t>(c), 0.0), dshift(static_cast<size_t>(c), 0.0);
    for (int64_t p = 0; p < hw; ++p) {
      const int64_t at = (i * hw + p) * c;
      for (int64_t ch = 0; ch < c; ++ch) {
        const float g = dy[at + ch];
        dx[at + ch] = fp::mul(g, fp::add(scale[ch], 1.0f));
        dscale[ch] += static_cast<double>(g) * static_cast<double>(x[at + ch]);
        dshift[ch] += static_cast<double>(g);
      }
    }
    float* out = dparams + i * 2 * c;
    for (int64_t ch = 0; ch < c; ++ch) {
      out[ch] = static_cast<float>(dscale[ch]);
      out[c + ch] = static_cast<float>(dshift[ch]);
    }
  }
}

}  // namespace pfgm::cpu
