// fp32 <-> bf16 conversion for the bf16 autocast of the convolutions and linear layers, and the
// weights' OIHW <-> OHWI transposes (dense.cuh). The rounding is ops/bf16_math.h's, the code the
// CPU op case `bf16_round` runs, so it is checked on any machine.
#include "kernels/dense.cuh"
#include "ops/bf16_math.h"
#include "runtime/check.cuh"
#include "runtime/launch.cuh"

namespace pfgm::gpu {
namespace {

__global__ void f32_to_bf16_kernel(int64_t count, const float* __restrict__ x,
                                   uint16_t* __restrict__ y) {
  for (int64_t i = first_index(); i < count; i += grid_stride()) y[i] = bf16::from_float(x[i]);
}

// y = float(bf16(x)). Not __restrict__: it also runs in place (y == x).
__global__ void round_bf16_kernel(int64_t count, const float* x, float* y) {
  for (int64_t i = first_index(); i < count; i += grid_stride())
    y[i] = bf16::to_float(bf16::from_float(x[i]));
}

__global__ void bf16_to_f32_bias_kernel(int64_t count, int64_t cols, const uint16_t* __restrict__ x,
                                        const float* __restrict__ bias, float* __restrict__ y) {
  for (int64_t i = first_index(); i < count; i += grid_stride()) {
    const float v = bf16::to_float(x[i]);
    y[i] = bias != nullptr ? v + bias[i % cols] : v;
  }
}

// Indexed by the output element, so writes are coalesced; reads stride by kk (weights are small,
// a few MiB at most, and this runs once per call).
template <typename Out, typename Convert>
__global__ void oihw_to_ohwi_kernel(int64_t o, int64_t i, int64_t kk, const float* __restrict__ w,
                                    Out* __restrict__ out, Convert convert) {
  const int64_t count = o * i * kk;
  for (int64_t e = first_index(); e < count; e += grid_stride()) {
    const int64_t ci = e % i;  // out is [o][kk][i]
    const int64_t k = (e / i) % kk;
    const int64_t co = e / (i * kk);
    out[e] = convert(w[(co * i + ci) * kk + k]);
  }
}

template <typename In, typename Convert>
__global__ void ohwi_to_oihw_kernel(int64_t o, int64_t i, int64_t kk, const In* __restrict__ w,
                                    float* __restrict__ out, Convert convert) {
  const int64_t count = o * i * kk;
  for (int64_t e = first_index(); e < count; e += grid_stride()) {
    const int64_t k = e % kk;  // out is [o][i][kk]
    const int64_t ci = (e / kk) % i;
    const int64_t co = e / (i * kk);
    out[e] = convert(w[(co * kk + k) * i + ci]);
  }
}

struct Same {
  __device__ float operator()(float v) const { return v; }
};
struct ToBf16 {
  __device__ uint16_t operator()(float v) const { return bf16::from_float(v); }
};
struct FromBf16 {
  __device__ float operator()(uint16_t v) const { return bf16::to_float(v); }
};

}  // namespace

void f32_to_bf16(int64_t count, const float* x, uint16_t* y) {
  if (count <= 0) return;
  f32_to_bf16_kernel<<<grid_for(count), kThreads, 0, engine_stream()>>>(count, x, y);
  check_kernel("f32_to_bf16");
}

void round_bf16(int64_t count, const float* x, float* y) {
  if (count <= 0) return;
  round_bf16_kernel<<<grid_for(count), kThreads, 0, engine_stream()>>>(count, x, y);
  check_kernel("round_bf16");
}

void bf16_to_f32_bias(int64_t rows, int64_t cols, const uint16_t* x, const float* bias, float* y) {
  const int64_t count = rows * cols;
  if (count <= 0) return;
  bf16_to_f32_bias_kernel<<<grid_for(count), kThreads, 0, engine_stream()>>>(count, cols, x, bias,
                                                                             y);
  check_kernel("bf16_to_f32_bias");
}

void oihw_to_ohwi(int64_t o, int64_t i, int64_t kk, const float* w, float* out) {
  const int64_t count = o * i * kk;
  if (count <= 0) return;
  oihw_to_ohwi_kernel<<<grid_for(count), kThreads, 0, engine_stream()>>>(o, i, kk, w, out, Same{});
  check_kernel("oihw_to_ohwi");
}

void oihw_to_ohwi_bf16(int64_t o, int64_t i, int64_t kk, const float* w, uint16_t* out) {
  const int64_t count = o * i * kk;
  if (count <= 0) return;
  oihw_to_ohwi_kernel<<<grid_for(count), kThreads, 0, engine_stream()>>>(o, i, kk, w, out,
                                                                         ToBf16{});
  check_kernel("oihw_to_ohwi_bf16");
}

void ohwi_to_oihw(int64_t o, int64_t i, int64_t kk, const float* w, float* out) {
  const int64_t count = o * i * kk;
  if (count <= 0) return;
  ohwi_to_oihw_kernel<<<grid_for(count), kThreads, 0, engine_stream()>>>(o, i, kk, w, out, Same{});
  check_kernel("ohwi_to_oihw");
}

void ohwi_bf16_to_oihw(int64_t o, int64_t i, int64_t kk, const uint16_t* w, float* out) {
  const int64_t count = o * i * kk;
  if (count <= 0) return;
  ohwi_to_oihw_kernel<<<grid_for(count), kThreads, 0, engine_stream()>>>(o, i, kk, w, out,
                                                                         FromBf16{});
  check_kernel("ohwi_bf16_to_oihw");
}

}  // namespace pfgm::gpu
