// Bilinear resize: the per-axis source indices and weights are tabulated once per call, then each
// output row blends two input rows pixel by pixel over contiguous channels.
#include "resize.h"

#include <algorithm>
#include <string>
#include <vector>

#include "../errors.h"
#include "parallel.h"

namespace pfgm::cpu {
namespace {

struct Tap {
  int64_t i0, i1;
  float w0, w1;
};

// The taps of every output index along one axis, as PyTorch's compute_indices_weights_linear.
std::vector<Tap> taps_for(int64_t in, int64_t out) {
  std::vector<Tap> taps(static_cast<size_t>(out));
  if (in == out) {  // PyTorch copies an unchanged axis rather than interpolating it
    for (int64_t d = 0; d < out; ++d) taps[d] = {d, d, 1.0f, 0.0f};
    return taps;
  }
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  for (int64_t d = 0; d < out; ++d) {
    float s = scale * (static_cast<float>(d) + 0.5f) - 0.5f;
    if (s < 0.0f) s = 0.0f;  // the first half pixel reads the edge, never outside it
    const int64_t i0 = std::min(static_cast<int64_t>(s), in - 1);
    const float l1 = std::min(std::max(s - static_cast<float>(i0), 0.0f), 1.0f);
    taps[d] = {i0, i0 + (i0 < in - 1 ? 1 : 0), 1.0f - l1, l1};
  }
  return taps;
}

}  // namespace

void resize_bilinear_forward(const op::Nhwc& in, int64_t oh, int64_t ow, const float* x, float* y) {
  if (in.n < 0 || in.h < 1 || in.w < 1 || in.c < 1 || oh < 1 || ow < 1) {
    fail(code::kShape, "resize_bilinear: input [" + std::to_string(in.n) + ", " +
                           std::to_string(in.h) + ", " + std::to_string(in.w) + ", " +
                           std::to_string(in.c) + "] (NHWC) to " + std::to_string(oh) + "x" +
                           std::to_string(ow) + ": every size must be positive");
  }
  const std::vector<Tap> ty = taps_for(in.h, oh), tx = taps_for(in.w, ow);
  const int64_t c = in.c, rows = in.n * oh;
#pragma omp parallel for schedule(static) if (rows * ow * c >= kParallelGrain && rows > 1)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t n = row / oh;
    const Tap& vy = ty[row % oh];
    const float* r0 = x + (n * in.h + vy.i0) * in.w * c;
    const float* r1 = x + (n * in.h + vy.i1) * in.w * c;
    float* out = y + row * ow * c;
    for (int64_t ox = 0; ox < ow; ++ox) {
      const Tap& vx = tx[ox];
      const float* a = r0 + vx.i0 * c;
      const float* b = r0 + vx.i1 * c;
      const float* d = r1 + vx.i0 * c;
      const float* e = r1 + vx.i1 * c;
      float* o = out + ox * c;
#pragma GCC ivdep
      for (int64_t ch = 0; ch < c; ++ch) {
        o[ch] = vy.w0 * (vx.w0 * a[ch] + vx.w1 * b[ch]) + vy.w1 * (vx.w0 * d[ch] + vx.w1 * e[ch]);
      }
    }
  }
}

}  // namespace pfgm::cpu
