// CUDA twins of ops/resample.cc, EDM's FIR resampling (depthwise, NHWC): all four functions are
// one gather, every output written by exactly one thread (no atomics, no zeroing), consecutive
// threads on consecutive channels; agreement with the CPU to a few ulp of sum |w x|. Details:
// bench/kernels/resample/README.md.
#include <string>

#include "ops.h"
#include "ops/rounding.h"
#include "runtime/check.cuh"
#include "runtime/launch.cuh"

namespace pfgm::cuda {
namespace {

using gpu::first_index;
using gpu::grid_stride;

constexpr int kMaxTaps = 8;

// The 1-D weights by value: a kernel argument, so every thread reads them from constant bank
// memory without a copy.
struct Taps {
  float w[kMaxTaps];
  int count;
};

// Which input indices an output index reads along one axis:
//   strided:    i = 2 o - pad + a                          (down forward, up backward)
//   transposed: i = (o + pad - a) / 2 when that is even    (up forward, down backward)
enum class Axis : int { kStrided = 0, kTransposed = 1 };

struct Geometry {
  int64_t n, in_h, in_w, out_h, out_w, c, pad;
};

// Input index for output o and tap a, or -1 when it falls in the padding (or between the
// stride-2 positions of a transposed correlation).
__device__ __forceinline__ int64_t source(Axis axis, int64_t o, int a, int64_t pad,
                                          int64_t in_len) {
  if (axis == Axis::kStrided) {
    const int64_t i = 2 * o - pad + a;
    return i >= 0 && i < in_len ? i : -1;
  }
  const int64_t twice = o + pad - a;
  if (twice < 0 || (twice & 1) != 0) return -1;
  const int64_t i = twice / 2;
  return i < in_len ? i : -1;
}

__global__ void fir_gather_kernel(Geometry g, Axis axis, Taps taps, const float* x, float* y) {
  const int64_t total = g.n * g.out_h * g.out_w * g.c;
  for (int64_t t = first_index(); t < total; t += grid_stride()) {
    const int64_t ch = t % g.c;
    const int64_t q = (t / g.c) % g.out_w;
    const int64_t p = (t / (g.c * g.out_w)) % g.out_h;
    const int64_t b = t / (g.c * g.out_w * g.out_h);
    const float* xb = x + b * g.in_h * g.in_w * g.c + ch;
    float acc = 0.0f;
    // Unrolled to kMaxTaps so taps.w is indexed by constants: a runtime index would copy the
    // struct to local memory (ptxas reported a 40-byte stack frame before).
#pragma unroll
    for (int a = 0; a < kMaxTaps; ++a) {
      if (a >= taps.count) break;
      const int64_t i = source(axis, p, a, g.pad, g.in_h);
      if (i < 0) continue;
      const float* row = xb + i * g.in_w * g.c;
#pragma unroll
      for (int a2 = 0; a2 < kMaxTaps; ++a2) {
        if (a2 >= taps.count) break;
        const int64_t j = source(axis, q, a2, g.pad, g.in_w);
        if (j < 0) continue;
        acc = fp::add(acc, fp::mul(fp::mul(taps.w[a], taps.w[a2]), row[j * g.c]));
      }
    }
    y[t] = acc;
  }
}

// The CPU's shape checks (ops/resample.cc), so a bad shape is the same ERR_PFGM_SHAPE here.
void check(const op::ResampleShape& s, bool down, int64_t out_h, int64_t out_w, const char* op) {
  const op::Nhwc& in = s.in;
  const bool too_small = down && (in.h + 2 * s.pad < s.taps || in.w + 2 * s.pad < s.taps);
  if (in.n < 1 || in.h < 1 || in.w < 1 || in.c < 1 || s.taps < 1 || s.pad < 0 || s.f == nullptr ||
      too_small || out_h < 1 || out_w < 1) {
    fail(code::kShape, std::string(op) + ": input [" + std::to_string(in.n) + ", " +
                           std::to_string(in.h) + ", " + std::to_string(in.w) + ", " +
                           std::to_string(in.c) + "] with " + std::to_string(s.taps) +
                           " taps and pad " + std::to_string(s.pad) + " gives no output");
  }
  if (s.taps > kMaxTaps) {
    fail(code::kArgument, std::string(op) + " on CUDA takes at most " + std::to_string(kMaxTaps) +
                              " filter taps, got " + std::to_string(s.taps) +
                              " (EDM uses 2 or 4; resample on the CPU for longer filters)");
  }
}

// gain * f[a] / sum f, summed and rounded on the host exactly as the CPU does (its inverse_sum).
Taps host_taps(const op::ResampleShape& s, float gain_factor, const char* op) {
  float sum = 0.0f;
  for (int64_t a = 0; a < s.taps; ++a) sum += s.f[a];
  if (sum == 0.0f) fail(code::kArgument, std::string(op) + ": resample filter taps sum to zero");
  const float g = gain_factor * (1.0f / sum);
  Taps t{};
  t.count = static_cast<int>(s.taps);
  for (int64_t a = 0; a < s.taps; ++a) t.w[a] = g * s.f[a];
  return t;
}

void launch(const Geometry& g, Axis axis, const Taps& taps, const float* x, float* y,
            const char* what) {
  const int64_t total = g.n * g.out_h * g.out_w * g.c;
  fir_gather_kernel<<<gpu::grid_for(total), gpu::kThreads, 0, gpu::engine_stream()>>>(g, axis, taps,
                                                                                      x, y);
  gpu::check_kernel(what);
}

}  // namespace

void fir_down_forward(const op::ResampleShape& s, const float* x, float* y) {
  const int64_t oh = s.down_h(), ow = s.down_w();
  check(s, true, oh, ow, "fir_down");
  const Taps t = host_taps(s, 1.0f, "fir_down");
  launch({s.in.n, s.in.h, s.in.w, oh, ow, s.in.c, s.pad}, Axis::kStrided, t, x, y,
         "fir_down forward kernel");
}

void fir_down_backward(const op::ResampleShape& s, const float* dy, float* dx) {
  const int64_t oh = s.down_h(), ow = s.down_w();
  check(s, true, oh, ow, "fir_down");
  if (dx == nullptr) return;
  const Taps t = host_taps(s, 1.0f, "fir_down");
  launch({s.in.n, oh, ow, s.in.h, s.in.w, s.in.c, s.pad}, Axis::kTransposed, t, dy, dx,
         "fir_down backward kernel");
}

// Up multiplies the filter by 4 (a quarter of the stride-2 positions are nonzero): 2 per axis.
void fir_up_forward(const op::ResampleShape& s, const float* x, float* y) {
  const int64_t oh = s.up_h(), ow = s.up_w();
  check(s, false, oh, ow, "fir_up");
  const Taps t = host_taps(s, 2.0f, "fir_up");
  launch({s.in.n, s.in.h, s.in.w, oh, ow, s.in.c, s.pad}, Axis::kTransposed, t, x, y,
         "fir_up forward kernel");
}

void fir_up_backward(const op::ResampleShape& s, const float* dy, float* dx) {
  const int64_t oh = s.up_h(), ow = s.up_w();
  check(s, false, oh, ow, "fir_up");
  if (dx == nullptr) return;
  const Taps t = host_taps(s, 2.0f, "fir_up");
  launch({s.in.n, oh, ow, s.in.h, s.in.w, s.in.c, s.pad}, Axis::kStrided, t, dy, dx,
         "fir_up backward kernel");
}

}  // namespace pfgm::cuda
