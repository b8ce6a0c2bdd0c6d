// CUDA twins of ops/modulate.cc (EDM's adaptive scale). The elementwise parts round like the CPU's
// (fp::), so they return its bits; the per-(sample, channel) sums of the backward are taken in
// double like the CPU's, over a fixed split of the positions, so they are deterministic and agree
// with the CPU's to the last bit or so.
#include "ops.h"
#include "ops/rounding.h"
#include "runtime/check.cuh"
#include "runtime/launch.cuh"

namespace pfgm::cuda {
namespace {

using gpu::first_index;
using gpu::grid_stride;

constexpr int kColTile = 32;  // channels per block: a warp reads 128 contiguous bytes of a pixel
constexpr int kRowLanes = 8;  // warps per block, each on every 8th position

__global__ void modulate_forward_kernel(int64_t n, int64_t hw, int64_t c, const float* x,
                                        const float* params, float* y) {
  for (int64_t k = first_index(); k < n * hw * c; k += grid_stride()) {
    const int64_t i = k / (hw * c), ch = k % c;
    const float* scale = params + i * 2 * c;
    y[k] = fp::add(scale[c + ch], fp::mul(x[k], fp::add(scale[ch], 1.0f)));
  }
}

__global__ void modulate_dx_kernel(int64_t n, int64_t hw, int64_t c, const float* params,
                                   const float* dy, float* dx) {
  for (int64_t k = first_index(); k < n * hw * c; k += grid_stride()) {
    const int64_t i = k / (hw * c), ch = k % c;
    dx[k] = fp::mul(dy[k], fp::add(params[i * 2 * c + ch], 1.0f));
  }
}

// One block per (sample, tile of 32 channels); blockDim = 32 x 8 (flat 256). Loop bounds depend
// only on blockIdx, so every thread of a block reaches each __syncthreads().
__global__ void modulate_dparams_kernel(int64_t n, int64_t hw, int64_t c, const float* x,
                                        const float* dy, float* dparams) {
  __shared__ double acc_scale[kRowLanes][kColTile];
  __shared__ double acc_shift[kRowLanes][kColTile];
  const int tx = static_cast<int>(threadIdx.x) % kColTile;
  const int ty = static_cast<int>(threadIdx.x) / kColTile;
  const int64_t tiles = (c + kColTile - 1) / kColTile;
  for (int64_t block = blockIdx.x; block < n * tiles; block += gridDim.x) {
    const int64_t i = block / tiles, ch = (block % tiles) * kColTile + tx;
    double s_scale = 0.0, s_shift = 0.0;
    if (ch < c) {
      for (int64_t p = ty; p < hw; p += kRowLanes) {
        const int64_t k = (i * hw + p) * c + ch;
        s_scale += static_cast<double>(dy[k]) * static_cast<double>(x[k]);
        s_shift += static_cast<double>(dy[k]);
      }
    }
    acc_scale[ty][tx] = s_scale;
    acc_shift[ty][tx] = s_shift;
    __syncthreads();
    if (ty == 0 && ch < c) {
      double a = 0.0, b = 0.0;
      for (int l = 0; l < kRowLanes; ++l) {
        a += acc_scale[l][tx];
        b += acc_shift[l][tx];
      }
      dparams[i * 2 * c + ch] = static_cast<float>(a);
      dparams[i * 2 * c + c + ch] = static_cast<float>(b);
    }
    __syncthreads();  // the accumulators are rewritten by the block's next tile
  }
}

}  // namespace

void modulate_forward(int64_t n, int64_t hw, int64_t c, const float* x, const float* params,
                      float* y) {
  const int64_t total = n * hw * c;
  if (total <= 0) return;
  modulate_forward_kernel<<<gpu::grid_for(total), gpu::kThreads, 0, gpu::engine_stream()>>>(
      n, hw, c, x, params, y);
  gpu::check_kernel("modulate_forward_kernel");
}

void modulate_backward(int64_t n, int64_t hw, int64_t c, const float* x, const float* params,
                       const float* dy, float* dx, float* dparams) {
  if (n * c <= 0) return;
  const int64_t total = n * hw * c;
  if (total > 0) {
    modulate_dx_kernel<<<gpu::grid_for(total), gpu::kThreads, 0, gpu::engine_stream()>>>(
        n, hw, c, params, dy, dx);
    gpu::check_kernel("modulate_dx_kernel");
  }
  const int64_t blocks = n * ((c + kColTile - 1) / kColTile);
  const unsigned grid = static_cast<unsigned>(std::min<int64_t>(blocks, gpu::kMaxBlocks));
  modulate_dparams_kernel<<<grid, kColTile * kRowLanes, 0, gpu::engine_stream()>>>(n, hw, c, x, dy,
                                                                                   dparams);
  gpu::check_kernel("modulate_dparams_kernel");
}

}  // namespace pfgm::cuda
