// CUDA twins of ops/rows.cc, the per-sample helpers of the denoiser and the mapping network, plus
// fill. The coefficient arrays are device memory here (the backend uploads the host's few floats).
// scale_rows / axpby_rows round like the CPU (fp::), so they equal it bit for bit; sumsq_rows
// accumulates in double in a fixed order (deterministic, a few double ulps from the CPU's
// sequential sum; it only feeds the adaptive scale's max()). Column sums are bias.cu's
// gpu::column_sums, the bias gradient of the convolutions and linear layers.
// Like every other op they only queue work (gpu::check_kernel reports a bad launch): a
// synchronize after each would stall the host at every per-sample coefficient of every call.
#include "ops.h"
#include "ops/rounding.h"
#include "runtime/check.cuh"
#include "runtime/launch.cuh"

namespace pfgm::cuda {
namespace {

using gpu::first_index;
using gpu::grid_stride;

__global__ void scale_rows_kernel(int64_t rows, int64_t cols, const float* a, const float* x,
                                  float* y) {
  for (int64_t k = first_index(); k < rows * cols; k += grid_stride())
    y[k] = fp::mul(a[k / cols], x[k]);
}

__global__ void axpby_rows_kernel(int64_t rows, int64_t cols, const float* a, const float* x,
                                  const float* b, const float* z, float* y) {
  for (int64_t k = first_index(); k < rows * cols; k += grid_stride()) {
    const int64_t i = k / cols;
    y[k] = fp::add(fp::mul(a[i], x[k]), fp::mul(b[i], z[k]));
  }
}

// One block per row: strided double partial sums, then a fixed shared-memory tree.
__global__ void sumsq_rows_kernel(int64_t cols, const float* x, double* out) {
  __shared__ double part[gpu::kThreads];
  const float* r = x + static_cast<int64_t>(blockIdx.x) * cols;
  double q = 0;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) q += static_cast<double>(r[j]) * r[j];
  part[threadIdx.x] = q;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (static_cast<int>(threadIdx.x) < s) part[threadIdx.x] += part[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = part[0];
}

__global__ void swap_halves_kernel(int64_t rows, int64_t cols, const float* x, float* y) {
  const int64_t half = cols / 2;
  for (int64_t k = first_index(); k < rows * cols; k += grid_stride()) {
    const int64_t i = k / cols, j = k % cols;
    // y[i, j] = x[i, (j + half) mod cols] for the even widths the embeddings have.
    y[k] = x[i * cols + (j < cols - half ? j + half : j - (cols - half))];
  }
}

__global__ void fill_kernel(int64_t count, float value, float* y) {
  for (int64_t k = first_index(); k < count; k += grid_stride()) y[k] = value;
}

}  // namespace

void scale_rows(int64_t rows, int64_t cols, const float* a, const float* x, float* y) {
  if (rows * cols <= 0) return;
  scale_rows_kernel<<<gpu::grid_for(rows * cols), gpu::kThreads, 0, gpu::engine_stream()>>>(
      rows, cols, a, x, y);
  gpu::check_kernel("scale_rows");
}

void axpby_rows(int64_t rows, int64_t cols, const float* a, const float* x, const float* b,
                const float* z, float* y) {
  if (rows * cols <= 0) return;
  axpby_rows_kernel<<<gpu::grid_for(rows * cols), gpu::kThreads, 0, gpu::engine_stream()>>>(
      rows, cols, a, x, b, z, y);
  gpu::check_kernel("axpby_rows");
}

void sumsq_rows(int64_t rows, int64_t cols, const float* x, double* out) {
  if (rows <= 0) return;
  if (rows > 0x7fffffff) fail(code::kArgument, "sumsq_rows: too many rows for one launch");
  sumsq_rows_kernel<<<static_cast<unsigned>(rows), gpu::kThreads, 0, gpu::engine_stream()>>>(
      cols, x, out);
  gpu::check_kernel("sumsq_rows");
}

void swap_halves(int64_t rows, int64_t cols, const float* x, float* y) {
  if (rows * cols <= 0) return;
  swap_halves_kernel<<<gpu::grid_for(rows * cols), gpu::kThreads, 0, gpu::engine_stream()>>>(
      rows, cols, x, y);
  gpu::check_kernel("swap_halves");
}

void fill(int64_t count, float value, float* y) {
  if (count <= 0) return;
  fill_kernel<<<gpu::grid_for(count), gpu::kThreads, 0, gpu::engine_stream()>>>(count, value, y);
  gpu::check_kernel("fill");
}

}  // namespace pfgm::cuda
