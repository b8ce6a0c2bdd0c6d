// CUDA twins of ops/pool.cc (forward only, for the FID Inception). One thread per output element,
// indexed by the output so writes are coalesced over channels; each sums or compares its window in
// the CPU's order (rows, then columns) with rounding helpers that forbid contraction, so the
// results are the CPU's bit for bit.
#include <cmath>
#include <string>

#include "ops.h"
#include "ops/rounding.h"
#include "runtime/check.cuh"
#include "runtime/launch.cuh"

namespace pfgm::cuda {
namespace {

using gpu::first_index;
using gpu::grid_stride;

struct Span {
  int64_t begin, end;
};

__device__ Span window(int64_t o, int64_t stride, int64_t pad, int64_t kernel, int64_t size) {
  const int64_t start = o * stride - pad;
  return {start > 0 ? start : 0, start + kernel < size ? start + kernel : size};
}

// mode 0: max (a NaN wins, as PyTorch); 1: mean over the whole kernel; 2: mean over the pixels
// inside the input.
__global__ void pool_kernel(op::Pool2dShape s, int64_t oh, int64_t ow, int mode, const float* x,
                            float* y) {
  const int64_t c = s.in.c, count = s.in.n * oh * ow * c;
  for (int64_t k = first_index(); k < count; k += grid_stride()) {
    const int64_t ch = k % c, ox = (k / c) % ow, oy = (k / (c * ow)) % oh, n = k / (c * ow * oh);
    const Span ys = window(oy, s.stride_h, s.pad_h, s.kh, s.in.h);
    const Span xs = window(ox, s.stride_w, s.pad_w, s.kw, s.in.w);
    const float* plane = x + n * s.in.h * s.in.w * c;
    float acc = mode == 0 ? -INFINITY : 0.0f;
    for (int64_t iy = ys.begin; iy < ys.end; ++iy) {
      for (int64_t ix = xs.begin; ix < xs.end; ++ix) {
        const float v = plane[(iy * s.in.w + ix) * c + ch];
        if (mode == 0) {
          acc = (v > acc || v != v) ? v : acc;
        } else {
          acc = fp::add(acc, v);
        }
      }
    }
    if (mode != 0) {
      const int64_t divisor = mode == 1 ? s.kh * s.kw : (ys.end - ys.begin) * (xs.end - xs.begin);
      acc = fp::div(acc, static_cast<float>(divisor));
    }
    y[k] = acc;
  }
}

// PyTorch's adaptive windows: start = floor(o * in / out), end = ceil((o + 1) * in / out).
__global__ void adaptive_avg_kernel(op::Nhwc in, int64_t oh, int64_t ow, const float* x, float* y) {
  const int64_t c = in.c, count = in.n * oh * ow * c;
  for (int64_t k = first_index(); k < count; k += grid_stride()) {
    const int64_t ch = k % c, ox = (k / c) % ow, oy = (k / (c * ow)) % oh, n = k / (c * ow * oh);
    const Span ys{oy * in.h / oh, ((oy + 1) * in.h + oh - 1) / oh};
    const Span xs{ox * in.w / ow, ((ox + 1) * in.w + ow - 1) / ow};
    const float* plane = x + n * in.h * in.w * c;
    float acc = 0.0f;
    for (int64_t iy = ys.begin; iy < ys.end; ++iy) {
      for (int64_t ix = xs.begin; ix < xs.end; ++ix)
        acc = fp::add(acc, plane[(iy * in.w + ix) * c + ch]);
    }
    y[k] = fp::div(acc, static_cast<float>((ys.end - ys.begin) * (xs.end - xs.begin)));
  }
}

void pool(const op::Pool2dShape& s, int mode, const float* x, float* y, const char* name) {
  cpu::check_pool_shape(s);
  const int64_t count = s.in.n * s.oh() * s.ow() * s.in.c;
  if (count == 0) return;
  pool_kernel<<<gpu::grid_for(count), gpu::kThreads, 0, gpu::engine_stream()>>>(s, s.oh(), s.ow(),
                                                                                mode, x, y);
  gpu::check_kernel(name);
}

}  // namespace

void max_pool2d_forward(const op::Pool2dShape& s, const float* x, float* y) {
  pool(s, 0, x, y, "max_pool2d_forward");
}

void avg_pool2d_forward(const op::Pool2dShape& s, bool count_include_pad, const float* x,
                        float* y) {
  pool(s, count_include_pad ? 1 : 2, x, y, "avg_pool2d_forward");
}

void adaptive_avg_pool2d_forward(const op::Nhwc& in, int64_t oh, int64_t ow, const float* x,
                                 float* y) {
  if (in.n < 0 || in.h < 1 || in.w < 1 || in.c < 1 || oh < 1 || ow < 1) {
    fail(code::kShape, "adaptive_avg_pool2d: input [" + std::to_string(in.n) + ", " +
                           std::to_string(in.h) + ", " + std::to_string(in.w) + ", " +
                           std::to_string(in.c) + "] to " + std::to_string(oh) + "x" +
                           std::to_string(ow) + ": every size must be positive");
  }
  const int64_t count = in.n * oh * ow * in.c;
  if (count == 0) return;
  adaptive_avg_kernel<<<gpu::grid_for(count), gpu::kThreads, 0, gpu::engine_stream()>>>(in, oh, ow,
                                                                                        x, y);
  gpu::check_kernel("adaptive_avg_pool2d_forward");
}

}  // namespace pfgm::cuda
