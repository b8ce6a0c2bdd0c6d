// CUDA twin of ops/resize.cc: bilinear resizing (align_corners=False), one thread per output
// element. Each thread computes its two axes' taps as the CPU tabulates them (PyTorch's float
// formula) and blends in the CPU's order with rounding helpers that forbid contraction, so the
// result is the CPU's bit for bit.
#include <string>

#include "ops.h"
#include "ops/rounding.h"
#include "runtime/check.cuh"
#include "runtime/launch.cuh"

namespace pfgm::cuda {
namespace {

using gpu::first_index;
using gpu::grid_stride;

struct Tap {
  int64_t i0, i1;
  float w0, w1;
};

// Output index d of an axis of `in` -> `out` pixels (ops/resize.cc's taps_for, one entry).
__device__ Tap tap(int64_t d, int64_t in, int64_t out) {
  if (in == out) return {d, d, 1.0f, 0.0f};  // PyTorch copies an unchanged axis
  const float scale = fp::div(static_cast<float>(in), static_cast<float>(out));
  float s = fp::sub(fp::mul(scale, fp::add(static_cast<float>(d), 0.5f)), 0.5f);
  if (s < 0.0f) s = 0.0f;
  const int64_t t = static_cast<int64_t>(s);
  const int64_t i0 = t < in - 1 ? t : in - 1;
  float l1 = fp::sub(s, static_cast<float>(i0));
  l1 = l1 < 0.0f ? 0.0f : (l1 > 1.0f ? 1.0f : l1);
  return {i0, i0 + (i0 < in - 1 ? 1 : 0), fp::sub(1.0f, l1), l1};
}

__global__ void resize_bilinear_kernel(op::Nhwc in, int64_t oh, int64_t ow, const float* x,
                                       float* y) {
  const int64_t c = in.c, count = in.n * oh * ow * c;
  for (int64_t k = first_index(); k < count; k += grid_stride()) {
    const int64_t ch = k % c, ox = (k / c) % ow, oy = (k / (c * ow)) % oh, n = k / (c * ow * oh);
    const Tap vy = tap(oy, in.h, oh), vx = tap(ox, in.w, ow);
    const float* r0 = x + (n * in.h + vy.i0) * in.w * c;
    const float* r1 = x + (n * in.h + vy.i1) * in.w * c;
    const float a = r0[vx.i0 * c + ch], b = r0[vx.i1 * c + ch];
    const float d = r1[vx.i0 * c + ch], e = r1[vx.i1 * c + ch];
    const float top = fp::add(fp::mul(vx.w0, a), fp::mul(vx.w1, b));
    const float bottom = fp::add(fp::mul(vx.w0, d), fp::mul(vx.w1, e));
    y[k] = fp::add(fp::mul(vy.w0, top), fp::mul(vy.w1, bottom));
  }
}

}  // namespace

void resize_bilinear_forward(const op::Nhwc& in, int64_t oh, int64_t ow, const float* x, float* y) {
  if (in.n < 0 || in.h < 1 || in.w < 1 || in.c < 1 || oh < 1 || ow < 1) {
    fail(code::kShape, "resize_bilinear: input [" + std::to_string(in.n) + ", " +
                           std::to_string(in.h) + ", " + std::to_string(in.w) + ", " +
                           std::to_string(in.c) + "] (NHWC) to " + std::to_string(oh) + "x" +
                           std::to_string(ow) + ": every size must be positive");
  }
  const int64_t count = in.n * oh * ow * in.c;
  if (count == 0) return;
  resize_bilinear_kernel<<<gpu::grid_for(count), gpu::kThreads, 0, gpu::engine_stream()>>>(
      in, oh, ow, x, y);
  gpu::check_kernel("resize_bilinear_kernel");
}

}  // namespace pfgm::cuda
