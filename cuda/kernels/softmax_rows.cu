// See softmax_rows.cuh.
#include "kernels/softmax_rows.cuh"

#include <algorithm>
#include <cmath>

#include "runtime/check.cuh"
#include "runtime/launch.cuh"

namespace pfgm::cuda {
namespace {

constexpr int kRowThreads = 256;
constexpr int kRowsPerBlock = kRowThreads / 32;
// Rows up to 32 kPerLane long are held in registers.
constexpr int kPerLane = 8;

__device__ __forceinline__ float warp_sum(float v) {
  for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int off = 16; off > 0; off /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}

// The row index is the same for the whole warp, so the shuffles always see 32 active lanes.
__device__ __forceinline__ int64_t first_row() {
  return static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32;
}
__device__ __forceinline__ int64_t row_stride() {
  return static_cast<int64_t>(gridDim.x) * kRowsPerBlock;
}

__global__ void __launch_bounds__(kRowThreads)
    softmax_regs_kernel(int64_t rows, int len, float* __restrict__ w) {
  const int lane = static_cast<int>(threadIdx.x % 32);
  for (int64_t r = first_row(); r < rows; r += row_stride()) {
    float* row = w + r * len;
    float x[kPerLane];
    float mx = -INFINITY;
#pragma unroll
    for (int t = 0; t < kPerLane; ++t) {
      const int j = lane + 32 * t;
      x[t] = j < len ? row[j] : -INFINITY;
      mx = fmaxf(mx, x[t]);
    }
    mx = warp_max(mx);
    float sum = 0.0f;
#pragma unroll
    for (int t = 0; t < kPerLane; ++t) {
      x[t] = lane + 32 * t < len ? expf(x[t] - mx) : 0.0f;
      sum += x[t];
    }
    sum = warp_sum(sum);
#pragma unroll
    for (int t = 0; t < kPerLane; ++t) {
      const int j = lane + 32 * t;
      if (j < len) row[j] = x[t] / sum;
    }
  }
}

__global__ void __launch_bounds__(kRowThreads)
    softmax_loop_kernel(int64_t rows, int64_t len, float* __restrict__ w) {
  const int lane = static_cast<int>(threadIdx.x % 32);
  for (int64_t r = first_row(); r < rows; r += row_stride()) {
    float* row = w + r * len;
    float mx = -INFINITY;
    for (int64_t j = lane; j < len; j += 32) mx = fmaxf(mx, row[j]);
    mx = warp_max(mx);
    float sum = 0.0f;
    for (int64_t j = lane; j < len; j += 32) {
      const float e = expf(row[j] - mx);
      row[j] = e;
      sum += e;
    }
    sum = warp_sum(sum);
    // Each lane rereads only what it wrote itself: no cross-lane hazard.
    for (int64_t j = lane; j < len; j += 32) row[j] = row[j] / sum;
  }
}

__global__ void __launch_bounds__(kRowThreads)
    softmax_backward_regs_kernel(int64_t rows, int len, const float* __restrict__ w,
                                 float* __restrict__ g, float scale) {
  const int lane = static_cast<int>(threadIdx.x % 32);
  for (int64_t r = first_row(); r < rows; r += row_stride()) {
    const float* wr = w + r * len;
    float* gr = g + r * len;
    float wv[kPerLane], gv[kPerLane];
    float dot = 0.0f;
#pragma unroll
    for (int t = 0; t < kPerLane; ++t) {
      const int j = lane + 32 * t;
      wv[t] = j < len ? wr[j] : 0.0f;
      gv[t] = j < len ? gr[j] : 0.0f;
      dot += gv[t] * wv[t];
    }
    dot = warp_sum(dot);
#pragma unroll
    for (int t = 0; t < kPerLane; ++t) {
      const int j = lane + 32 * t;
      if (j < len) gr[j] = scale * wv[t] * (gv[t] - dot);
    }
  }
}

__global__ void __launch_bounds__(kRowThreads)
    softmax_backward_loop_kernel(int64_t rows, int64_t len, const float* __restrict__ w,
                                 float* __restrict__ g, float scale) {
  const int lane = static_cast<int>(threadIdx.x % 32);
  for (int64_t r = first_row(); r < rows; r += row_stride()) {
    const float* wr = w + r * len;
    float* gr = g + r * len;
    float dot = 0.0f;
    for (int64_t j = lane; j < len; j += 32) dot += gr[j] * wr[j];
    dot = warp_sum(dot);
    for (int64_t j = lane; j < len; j += 32) gr[j] = scale * wr[j] * (gr[j] - dot);
  }
}

unsigned row_grid(int64_t rows) {
  return static_cast<unsigned>(
      std::clamp<int64_t>((rows + kRowsPerBlock - 1) / kRowsPerBlock, 1, gpu::kMaxBlocks));
}

}  // namespace

void softmax_rows(int64_t rows, int64_t len, float* w) {
  if (len <= 32 * kPerLane) {
    softmax_regs_kernel<<<row_grid(rows), kRowThreads, 0, gpu::engine_stream()>>>(
        rows, static_cast<int>(len), w);
  } else {
    softmax_loop_kernel<<<row_grid(rows), kRowThreads, 0, gpu::engine_stream()>>>(rows, len, w);
  }
  gpu::check_kernel("attention softmax kernel");
}

void softmax_rows_backward(int64_t rows, int64_t len, const float* w, float* g, float scale) {
  if (len <= 32 * kPerLane) {
    softmax_backward_regs_kernel<<<row_grid(rows), kRowThreads, 0, gpu::engine_stream()>>>(
        rows, static_cast<int>(len), w, g, scale);
  } else {
    softmax_backward_loop_kernel<<<row_grid(rows), kRowThreads, 0, gpu::engine_stream()>>>(
        rows, len, w, g, scale);
  }
  gpu::check_kernel("attention softmax backward kernel");
}

}  // namespace pfgm::cuda
