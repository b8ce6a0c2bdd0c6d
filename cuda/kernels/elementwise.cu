// CUDA twins of ops/elementwise.cc. Each output element is one thread of a grid-stride loop,
// indexed by the output so writes are coalesced. Arithmetic rounds like the CPU's (fp::), so the
// results are the CPU's bit for bit.
#include "ops.h"
#include "ops/elementwise.h"
#include "ops/rounding.h"
#include "runtime/check.cuh"
#include "runtime/launch.cuh"

namespace pfgm::cuda {
namespace {

using gpu::first_index;
using gpu::grid_stride;

__global__ void axpby_kernel(int64_t count, float alpha, const float* a, float beta, const float* b,
                             float* y) {
  for (int64_t i = first_index(); i < count; i += grid_stride()) {
    y[i] = fp::add(fp::mul(alpha, a[i]), fp::mul(beta, b[i]));
  }
}

__global__ void scale_kernel(int64_t count, float alpha, const float* a, float* y) {
  for (int64_t i = first_index(); i < count; i += grid_stride()) y[i] = fp::mul(alpha, a[i]);
}

__global__ void concat_kernel(int64_t pixels, int64_t ca, const float* a, int64_t cb,
                              const float* b, float* y) {
  const int64_t c = ca + cb;
  for (int64_t k = first_index(); k < pixels * c; k += grid_stride()) {
    const int64_t p = k / c, ch = k % c;
    y[k] = ch < ca ? a[p * ca + ch] : b[p * cb + (ch - ca)];
  }
}

__global__ void place_kernel(int64_t pixels, int64_t c, const float* x, int64_t cy, int64_t offset,
                             float* y) {
  for (int64_t k = first_index(); k < pixels * c; k += grid_stride()) {
    y[(k / c) * cy + offset + k % c] = x[k];
  }
}

__global__ void split_kernel(int64_t pixels, int64_t ca, float* da, int64_t cb, float* db,
                             const float* dy) {
  const int64_t c = ca + cb;
  for (int64_t k = first_index(); k < pixels * c; k += grid_stride()) {
    const int64_t p = k / c, ch = k % c;
    if (ch < ca) {
      if (da != nullptr) da[p * ca + ch] = dy[k];
    } else if (db != nullptr) {
      db[p * cb + (ch - ca)] = dy[k];
    }
  }
}

__global__ void add_channel_bias_kernel(int64_t n, int64_t hw, int64_t c, const float* x,
                                        const float* bias, float* y) {
  for (int64_t k = first_index(); k < n * hw * c; k += grid_stride()) {
    const int64_t i = k / (hw * c), ch = k % c;
    y[k] = fp::add(x[k], bias[i * c + ch]);
  }
}

// y[i, p, ch] = x[i, ch, p]: writes coalesced, reads strided (a boundary op on 1-3 channels).
__global__ void nchw_to_nhwc_kernel(int64_t n, int64_t c, int64_t hw, const float* x, float* y) {
  for (int64_t k = first_index(); k < n * hw * c; k += grid_stride()) {
    const int64_t ch = k % c, p = (k / c) % hw, i = k / (c * hw);
    y[k] = x[(i * c + ch) * hw + p];
  }
}

__global__ void nhwc_to_nchw_kernel(int64_t n, int64_t c, int64_t hw, const float* x, float* y) {
  for (int64_t k = first_index(); k < n * c * hw; k += grid_stride()) {
    const int64_t p = k % hw, ch = (k / hw) % c, i = k / (hw * c);
    y[k] = x[(i * hw + p) * c + ch];
  }
}

}  // namespace

void axpby(int64_t count, float alpha, const float* a, float beta, const float* b, float* y) {
  if (count <= 0) return;
  axpby_kernel<<<gpu::grid_for(count), gpu::kThreads, 0, gpu::engine_stream()>>>(count, alpha, a,
                                                                                 beta, b, y);
  gpu::check_kernel("axpby_kernel");
}

void scale(int64_t count, float alpha, const float* a, float* y) {
  if (count <= 0) return;
  scale_kernel<<<gpu::grid_for(count), gpu::kThreads, 0, gpu::engine_stream()>>>(count, alpha, a,
                                                                                 y);
  gpu::check_kernel("scale_kernel");
}

void concat_channels(int64_t pixels, int64_t ca, const float* a, int64_t cb, const float* b,
                     float* y) {
  const int64_t total = pixels * (ca + cb);
  if (total <= 0) return;
  concat_kernel<<<gpu::grid_for(total), gpu::kThreads, 0, gpu::engine_stream()>>>(pixels, ca, a, cb,
                                                                                  b, y);
  gpu::check_kernel("concat_kernel");
}

void place_channels(int64_t pixels, int64_t c, const float* x, int64_t cy, int64_t offset,
                    float* y) {
  cpu::check_place_channels(pixels, c, cy, offset);
  const int64_t total = pixels * c;
  if (total <= 0) return;
  place_kernel<<<gpu::grid_for(total), gpu::kThreads, 0, gpu::engine_stream()>>>(pixels, c, x, cy,
                                                                                 offset, y);
  gpu::check_kernel("place_kernel");
}

void split_channels(int64_t pixels, int64_t ca, float* da, int64_t cb, float* db, const float* dy) {
  const int64_t total = pixels * (ca + cb);
  if (total <= 0) return;
  split_kernel<<<gpu::grid_for(total), gpu::kThreads, 0, gpu::engine_stream()>>>(pixels, ca, da, cb,
                                                                                 db, dy);
  gpu::check_kernel("split_kernel");
}

void add_channel_bias(int64_t n, int64_t hw, int64_t c, const float* x, const float* bias,
                      float* y) {
  const int64_t total = n * hw * c;
  if (total <= 0) return;
  add_channel_bias_kernel<<<gpu::grid_for(total), gpu::kThreads, 0, gpu::engine_stream()>>>(
      n, hw, c, x, bias, y);
  gpu::check_kernel("add_channel_bias_kernel");
}

void nchw_to_nhwc(int64_t n, int64_t c, int64_t h, int64_t w, const float* x, float* y) {
  const int64_t total = n * c * h * w;
  if (total <= 0) return;
  nchw_to_nhwc_kernel<<<gpu::grid_for(total), gpu::kThreads, 0, gpu::engine_stream()>>>(n, c, h * w,
                                                                                        x, y);
  gpu::check_kernel("nchw_to_nhwc_kernel");
}

void nhwc_to_nchw(int64_t n, int64_t c, int64_t h, int64_t w, const float* x, float* y) {
  const int64_t total = n * c * h * w;
  if (total <= 0) return;
  nhwc_to_nchw_kernel<<<gpu::grid_for(total), gpu::kThreads, 0, gpu::engine_stream()>>>(n, c, h * w,
                                                                                        x, y);
  gpu::check_kernel("nhwc_to_nchw_kernel");
}

}  // namespace pfgm::cuda
