// Memory-bound helpers: plain loops the compiler vectorizes, split over threads only when the
// data is large enough to repay a parallel region.
#include "elementwise.h"
#include "parallel.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "../errors.h"

namespace pfgm::cpu {
namespace {

// Pixel ranges sized so each holds about kParallelGrain floats of `width` channels.
template <typename F>
void parallel_pixels(int64_t pixels, int64_t width, F&& body) {
  const int64_t per = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(width, 1));
  const int64_t chunks = (pixels + per - 1) / per;
  if (chunks <= 1) {
    body(0, pixels);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < chunks; ++k) body(k * per, std::min(pixels, (k + 1) * per));
}

}  // namespace

void axpby(int64_t count, float alpha, const float* a, float beta, const float* b, float* y) {
  parallel_ranges(count, [=](int64_t begin, int64_t end) {
  // Elementwise, so y aliasing a or b is safe.
#pragma GCC ivdep
    for (int64_t i = begin; i < end; ++i) y[i] = alpha * a[i] + beta * b[i];
  });
}

void scale(int64_t count, float alpha, const float* a, float* y) {
  parallel_ranges(count, [=](int64_t begin, int64_t end) {
#pragma GCC ivdep
    for (int64_t i = begin; i < end; ++i) y[i] = alpha * a[i];
  });
}

void concat_channels(int64_t pixels, int64_t ca, const float* a, int64_t cb, const float* b,
                     float* y) {
  const int64_t c = ca + cb;
  parallel_pixels(pixels, c, [=](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      std::memcpy(y + p * c, a + p * ca, static_cast<size_t>(ca) * sizeof(float));
      std::memcpy(y + p * c + ca, b + p * cb, static_cast<size_t>(cb) * sizeof(float));
    }
  });
}

void check_place_channels(int64_t pixels, int64_t c, int64_t cy, int64_t offset) {
  if (pixels < 0 || c < 1 || offset < 0 || offset + c > cy) {
    fail(code::kShape, "place_channels: " + std::to_string(c) + " channels at offset " +
                           std::to_string(offset) + " of " + std::to_string(cy) + " (" +
                           std::to_string(pixels) +
                           " pixels): the part must fit inside the output's channels");
  }
}

void place_channels(int64_t pixels, int64_t c, const float* x, int64_t cy, int64_t offset,
                    float* y) {
  check_place_channels(pixels, c, cy, offset);
  parallel_pixels(pixels, c, [=](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      std::memcpy(y + p * cy + offset, x + p * c, static_cast<size_t>(c) * sizeof(float));
    }
  });
}

void split_channels(int64_t pixels, int64_t ca, float* da, int64_t cb, float* db, const float* dy) {
  const int64_t c = ca + cb;
  parallel_pixels(pixels, c, [=](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      if (da != nullptr)
        std::memcpy(da + p * ca, dy + p * c, static_cast<size_t>(ca) * sizeof(float));
      if (db != nullptr) {
        std::memcpy(db + p * cb, dy + p * c + ca, static_cast<size_t>(cb) * sizeof(float));
      }
    }
  });
}

void add_channel_bias(int64_t n, int64_t hw, int64_t c, const float* x, const float* bias,
                      float* y) {
  parallel_pixels(n * hw, c, [=](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const float* bp = bias + (p / hw) * c;
      const float* xp = x + p * c;
      float* yp = y + p * c;
#pragma GCC ivdep
      for (int64_t ch = 0; ch < c; ++ch) yp[ch] = xp[ch] + bp[ch];
    }
  });
}

// The boundary transposes see few channels (the image's 3) and run once per network call, so a
// loop per (sample, row) is enough; writes are contiguous in the output.
void nchw_to_nhwc(int64_t n, int64_t c, int64_t h, int64_t w, const float* x, float* y) {
  const int64_t hw = h * w;
#pragma omp parallel for schedule(static) if (n * c * hw >= kParallelGrain)
  for (int64_t row = 0; row < n * h; ++row) {
    const int64_t i = row / h, yy = row % h;
    const float* src = x + i * c * hw + yy * w;
    float* dst = y + row * w * c;
    for (int64_t xx = 0; xx < w; ++xx) {
      for (int64_t ch = 0; ch < c; ++ch) dst[xx * c + ch] = src[ch * hw + xx];
    }
  }
}

void nhwc_to_nchw(int64_t n, int64_t c, int64_t h, int64_t w, const float* x, float* y) {
  const int64_t hw = h * w;
#pragma omp parallel for schedule(static) if (n * c * hw >= kParallelGrain)
  for (int64_t plane = 0; plane < n * c; ++plane) {
    const int64_t i = plane / c, ch = plane % c;
    const float* src = x + i * hw * c + ch;
    float* dst = y + plane * hw;
    for (int64_t p = 0; p < hw; ++p) dst[p] = src[p * c];
  }
}

}  // namespace pfgm::cpu
