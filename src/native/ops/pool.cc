// Pooling as plain loops: channels-last makes the innermost loop run over contiguous channels,
// which the compiler vectorizes, and every output pixel is computed on its own, so the result does
// not depend on the thread count. Work is split over output rows (n * oh) when there is enough of
// it to repay a parallel region.
#include "pool.h"

#include <algorithm>
#include <limits>
#include <string>

#include "../errors.h"
#include "parallel.h"

namespace pfgm::cpu {
namespace {

std::string describe(const Pool2dShape& s) {
  return "pool2d input [" + std::to_string(s.in.n) + ", " + std::to_string(s.in.h) + ", " +
         std::to_string(s.in.w) + ", " + std::to_string(s.in.c) + "] (NHWC) kernel " +
         std::to_string(s.kh) + "x" + std::to_string(s.kw) + " stride " +
         std::to_string(s.stride_h) + "x" + std::to_string(s.stride_w) + " padding " +
         std::to_string(s.pad_h) + "x" + std::to_string(s.pad_w);
}

// Runs body(row) for every output row (sample, oy), in parallel when `work` (multiply-adds or
// comparisons in all) is large enough.
template <typename F>
void for_rows(int64_t rows, int64_t work, F&& body) {
#pragma omp parallel for schedule(static) if (work >= kParallelGrain && rows > 1)
  for (int64_t r = 0; r < rows; ++r) body(r);
}

// The window of output index o along an axis of size `size`: [begin, end) clipped to the input.
struct Span {
  int64_t begin, end;
};

Span window(int64_t o, int64_t stride, int64_t pad, int64_t kernel, int64_t size) {
  const int64_t start = o * stride - pad;
  return {std::max<int64_t>(start, 0), std::min(start + kernel, size)};
}

// out[ch] = max of plane[iy, ix, ch] over the window (`width` pixels per row of the plane). Written
// as a select, not a conditional store, so that it vectorizes; PyTorch's NaN rule: a NaN wins and
// then stays (NaN > anything is false, and v != v only for NaN).
PFGM_VECTOR_CLONES
void max_window(const float* plane, int64_t width, Span ys, Span xs, int64_t c,
                float* __restrict out) {
  std::fill_n(out, c, -std::numeric_limits<float>::infinity());
  for (int64_t iy = ys.begin; iy < ys.end; ++iy) {
    for (int64_t ix = xs.begin; ix < xs.end; ++ix) {
      const float* in = plane + (iy * width + ix) * c;
      for (int64_t ch = 0; ch < c; ++ch) {
        const float v = in[ch], m = out[ch];
        out[ch] = (v > m || v != v) ? v : m;
      }
    }
  }
}

// out[ch] = (sum of plane[iy, ix, ch] over the window) / divisor, summed in window order.
PFGM_VECTOR_CLONES
void mean_window(const float* plane, int64_t width, Span ys, Span xs, int64_t c, float divisor,
                 float* __restrict out) {
  std::fill_n(out, c, 0.0f);
  for (int64_t iy = ys.begin; iy < ys.end; ++iy) {
    for (int64_t ix = xs.begin; ix < xs.end; ++ix) {
      const float* in = plane + (iy * width + ix) * c;
      for (int64_t ch = 0; ch < c; ++ch) out[ch] += in[ch];
    }
  }
  for (int64_t ch = 0; ch < c; ++ch) out[ch] /= divisor;
}

}  // namespace

void check_pool_shape(const Pool2dShape& s) {
  const bool positive = s.in.n >= 0 && s.in.h >= 1 && s.in.w >= 1 && s.in.c >= 1 && s.kh >= 1 &&
                        s.kw >= 1 && s.stride_h >= 1 && s.stride_w >= 1 && s.pad_h >= 0 &&
                        s.pad_w >= 0;
  if (!positive)
    fail(code::kShape, describe(s) + ": sizes, kernel and stride must be positive, padding >= 0");
  if (2 * s.pad_h > s.kh || 2 * s.pad_w > s.kw) {
    fail(code::kShape,
         describe(s) +
             ": padding may be at most half the kernel (as in PyTorch), so that every "
             "window overlaps the input");
  }
  if (s.in.h + 2 * s.pad_h < s.kh || s.in.w + 2 * s.pad_w < s.kw) {
    fail(code::kShape, describe(s) + ": the padded input is smaller than the kernel");
  }
}

void max_pool2d_forward(const Pool2dShape& s, const float* x, float* y) {
  check_pool_shape(s);
  const int64_t oh = s.oh(), ow = s.ow(), c = s.in.c;
  for_rows(s.in.n * oh, s.in.n * oh * ow * c * s.kh * s.kw, [&](int64_t row) {
    const int64_t n = row / oh, oy = row % oh;
    const Span ys = window(oy, s.stride_h, s.pad_h, s.kh, s.in.h);
    const float* plane = x + n * s.in.h * s.in.w * c;
    for (int64_t ox = 0; ox < ow; ++ox) {
      const Span xs = window(ox, s.stride_w, s.pad_w, s.kw, s.in.w);
      max_window(plane, s.in.w, ys, xs, c, y + (row * ow + ox) * c);
    }
  });
}

void avg_pool2d_forward(const Pool2dShape& s, bool count_include_pad, const float* x, float* y) {
  check_pool_shape(s);
  const int64_t oh = s.oh(), ow = s.ow(), c = s.in.c;
  for_rows(s.in.n * oh, s.in.n * oh * ow * c * s.kh * s.kw, [&](int64_t row) {
    const int64_t n = row / oh, oy = row % oh;
    const Span ys = window(oy, s.stride_h, s.pad_h, s.kh, s.in.h);
    const float* plane = x + n * s.in.h * s.in.w * c;
    for (int64_t ox = 0; ox < ow; ++ox) {
      const Span xs = window(ox, s.stride_w, s.pad_w, s.kw, s.in.w);
      // With floor-mode output sizes a window never reaches past the padding, so "including the
      // padding" divides by the whole kernel; otherwise by the pixels inside the input.
      const int64_t divisor =
          count_include_pad ? s.kh * s.kw : (ys.end - ys.begin) * (xs.end - xs.begin);
      mean_window(plane, s.in.w, ys, xs, c, static_cast<float>(divisor), y + (row * ow + ox) * c);
    }
  });
}

void adaptive_avg_pool2d_forward(const op::Nhwc& in, int64_t oh, int64_t ow, const float* x,
                                 float* y) {
  if (in.n < 0 || in.h < 1 || in.w < 1 || in.c < 1 || oh < 1 || ow < 1) {
    fail(code::kShape, "adaptive_avg_pool2d: input [" + std::to_string(in.n) + ", " +
                           std::to_string(in.h) + ", " + std::to_string(in.w) + ", " +
                           std::to_string(in.c) + "] to " + std::to_string(oh) + "x" +
                           std::to_string(ow) + ": every size must be positive");
  }
  const int64_t c = in.c;
  for_rows(in.n * oh, in.n * in.h * in.w * c, [&](int64_t row) {
    const int64_t n = row / oh, oy = row % oh;
    // PyTorch's adaptive windows: start = floor(o * in / out), end = ceil((o + 1) * in / out).
    const Span ys{oy * in.h / oh, ((oy + 1) * in.h + oh - 1) / oh};
    const float* plane = x + n * in.h * in.w * c;
    for (int64_t ox = 0; ox < ow; ++ox) {
      const Span xs{ox * in.w / ow, ((ox + 1) * in.w + ow - 1) / ow};
      const float divisor = static_cast<float>((ys.end - ys.begin) * (xs.end - xs.begin));
      mean_window(plane, in.w, ys, xs, c, divisor, y + (row * ow + ox) * c);
    }
  });
}

}  // namespace pfgm::cpu
