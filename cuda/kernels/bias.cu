// Bias add and bias gradient of the convolutions and linear layers (dense.cuh). Own kernels rather
// than cuDNN's cudnnConvolutionBackwardBias so that the gradient's summation order is ours, fixed
// and documented, and the same with or without cuDNN (the linear layers use it too).
#include "kernels/dense.cuh"
#include "runtime/allocator.cuh"
#include "runtime/check.cuh"
#include "runtime/launch.cuh"

namespace pfgm::gpu {
namespace {

constexpr int kColTile = 32;  // columns per block: a warp reads 128 contiguous bytes of a row
constexpr int kRowLanes = 8;  // warps per block, each on every 8th row of the chunk
constexpr int64_t kChunkRows = 256;          // rows per block: <= 32 fp32 additions per thread
constexpr unsigned kMaxChunkBlocks = 65535;  // gridDim.y's limit; larger chunk counts loop

__global__ void add_bias_rows_kernel(int64_t count, int64_t cols, const float* __restrict__ bias,
                                     float* __restrict__ y) {
  for (int64_t i = first_index(); i < count; i += grid_stride()) y[i] = y[i] + bias[i % cols];
}

// partial[chunk, c] = the sum of dy[r, c] over the chunk's rows. blockDim = 32 x 8 (flat 256).
// Loop bounds depend only on blockIdx, so every thread of a block reaches each __syncthreads().
__global__ void column_partials_kernel(int64_t rows, int64_t cols, int64_t chunks,
                                       const float* __restrict__ dy, float* __restrict__ partial) {
  __shared__ float acc[kRowLanes][kColTile];
  const int tx = static_cast<int>(threadIdx.x) % kColTile;
  const int ty = static_cast<int>(threadIdx.x) / kColTile;
  const int64_t tiles = (cols + kColTile - 1) / kColTile;
  for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const int64_t c = tile * kColTile + tx;
    for (int64_t chunk = blockIdx.y; chunk < chunks; chunk += gridDim.y) {
      float sum = 0.0f;
      if (c < cols) {
        const int64_t r_end = min(rows, (chunk + 1) * kChunkRows);
        for (int64_t r = chunk * kChunkRows + ty; r < r_end; r += kRowLanes)
          sum += dy[r * cols + c];
      }
      acc[ty][tx] = sum;
      __syncthreads();
      if (ty == 0 && c < cols) {
        // a fixed tree over the 8 lanes
        const float s = ((acc[0][tx] + acc[1][tx]) + (acc[2][tx] + acc[3][tx])) +
                        ((acc[4][tx] + acc[5][tx]) + (acc[6][tx] + acc[7][tx]));
        partial[chunk * cols + c] = s;
      }
      __syncthreads();  // acc is rewritten by the next chunk
    }
  }
}

// out[c] = the chunks' partial sums added in double, in chunk order, rounded once.
__global__ void column_finish_kernel(int64_t cols, int64_t chunks,
                                     const float* __restrict__ partial, float* __restrict__ out) {
  for (int64_t c = first_index(); c < cols; c += grid_stride()) {
    double s = 0.0;
    for (int64_t chunk = 0; chunk < chunks; ++chunk)
      s += static_cast<double>(partial[chunk * cols + c]);
    out[c] = static_cast<float>(s);
  }
}

}  // namespace

void add_bias_rows(int64_t rows, int64_t cols, const float* bias, float* y) {
  const int64_t count = rows * cols;
  if (count <= 0 || bias == nullptr) return;
  add_bias_rows_kernel<<<grid_for(count), kThreads, 0, engine_stream()>>>(count, cols, bias, y);
  check_kernel("add_bias_rows");
}

void column_sums(int64_t rows, int64_t cols, const float* dy, float* out) {
  if (cols <= 0) return;
  if (rows <= 0) {
    check(cudaMemsetAsync(out, 0, static_cast<size_t>(cols) * sizeof(float), engine_stream()),
          "cudaMemsetAsync (bias gradient of an empty batch)");
    return;
  }
  const int64_t chunks = (rows + kChunkRows - 1) / kChunkRows;
  DeviceArray<float> partial(chunks * cols, engine_stream());
  const int64_t tiles = (cols + kColTile - 1) / kColTile;
  const dim3 grid(static_cast<unsigned>(std::min<int64_t>(tiles, kMaxBlocks)),
                  static_cast<unsigned>(std::min<int64_t>(chunks, kMaxChunkBlocks)));
  column_partials_kernel<<<grid, kColTile * kRowLanes, 0, engine_stream()>>>(rows, cols, chunks, dy,
                                                                             partial.get());
  check_kernel("column_sums (partials)");
  column_finish_kernel<<<grid_for(cols), kThreads, 0, engine_stream()>>>(cols, chunks,
                                                                         partial.get(), out);
  check_kernel("column_sums (finish)");
  // `partial` goes back to the pool here; its reuse is ordered after these kernels on the stream.
}

}  // namespace pfgm::gpu
