// CUDA twins of ops/rows.cc, the per-sample helpers of the denoiser and the mapping network, plus
// fill. The coefficient arrays are device memory here (the backend uploads the host's few floats).
// scale_rows / axpby_rows round like the CPU (fp::), so they equal it bit for bit; the two
// reductions accumulate in double in a fixed order, so they are deterministic and differ from the
// CPU's sequential double sums by a few double ulps at most (invisible after the float rounding of
// sum_columns; sumsq_rows only feeds the adaptive scale's max()).
#include "allocator.cuh"
#include "check.cuh"
#include "launch.cuh"
#include "ops.h"
#include "ops/rounding.h"

namespace pfgm::cuda {
namespace {

using gpu::first_index;
using gpu::grid_stride;

__global__ void scale_rows_kernel(int64_t rows, int64_t cols, const float* a, const float* x,
                                  float* y) {
  for (int64_t k = first_index(); k < rows * cols; k += grid_stride()) y[k] = fp::mul(a[k / cols], x[k]);
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

// Column sums in two passes: chunk c of kRowsPerChunk rows writes partial[c, j] (one thread per
// column, rows in order, so reads are coalesced across the warp), then one thread per column adds
// the chunks in order and rounds once.
constexpr int64_t kRowsPerChunk = 256;

__global__ void column_partials_kernel(int64_t rows, int64_t cols, const float* x, double* partial) {
  const int64_t chunk = blockIdx.y;
  const int64_t r0 = chunk * kRowsPerChunk, r1 = min(rows, r0 + kRowsPerChunk);
  for (int64_t j = first_index(); j < cols; j += grid_stride()) {
    double acc = 0;
    for (int64_t i = r0; i < r1; ++i) acc += x[i * cols + j];
    partial[chunk * cols + j] = acc;
  }
}

__global__ void column_finish_kernel(int64_t chunks, int64_t cols, const double* partial, float* out) {
  for (int64_t j = first_index(); j < cols; j += grid_stride()) {
    double acc = 0;
    for (int64_t c = 0; c < chunks; ++c) acc += partial[c * cols + j];
    out[j] = static_cast<float>(acc);
  }
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
  scale_rows_kernel<<<gpu::grid_for(rows * cols), gpu::kThreads, 0, gpu::engine_stream()>>>(rows, cols, a, x, y);
  gpu::check_launch("scale_rows");
}

void axpby_rows(int64_t rows, int64_t cols, const float* a, const float* x, const float* b,
                const float* z, float* y) {
  if (rows * cols <= 0) return;
  axpby_rows_kernel<<<gpu::grid_for(rows * cols), gpu::kThreads, 0, gpu::engine_stream()>>>(rows, cols, a, x, b, z, y);
  gpu::check_launch("axpby_rows");
}

void sumsq_rows(int64_t rows, int64_t cols, const float* x, double* out) {
  if (rows <= 0) return;
  if (rows > 0x7fffffff) fail(code::kArgument, "sumsq_rows: too many rows for one launch");
  sumsq_rows_kernel<<<static_cast<unsigned>(rows), gpu::kThreads, 0, gpu::engine_stream()>>>(cols, x, out);
  gpu::check_launch("sumsq_rows");
}

void sum_columns(int64_t rows, int64_t cols, const float* x, float* out) {
  if (cols <= 0) return;
  const int64_t chunks = rows > 0 ? (rows + kRowsPerChunk - 1) / kRowsPerChunk : 0;
  if (chunks == 0) {
    fill(cols, 0.0f, out);
    return;
  }
  if (chunks > 65535) fail(code::kArgument, "sum_columns: more than 65535 * 256 rows");
  gpu::DeviceArray<double> partial(chunks * cols, gpu::engine_stream());
  const dim3 grid(gpu::grid_for(cols), static_cast<unsigned>(chunks));
  column_partials_kernel<<<grid, gpu::kThreads, 0, gpu::engine_stream()>>>(rows, cols, x, partial.get());
  gpu::check_launch("sum_columns (partials)");
  column_finish_kernel<<<gpu::grid_for(cols), gpu::kThreads, 0, gpu::engine_stream()>>>(chunks, cols, partial.get(), out);
  gpu::check_launch("sum_columns");
}

void swap_halves(int64_t rows, int64_t cols, const float* x, float* y) {
  if (rows * cols <= 0) return;
  swap_halves_kernel<<<gpu::grid_for(rows * cols), gpu::kThreads, 0, gpu::engine_stream()>>>(rows, cols, x, y);
  gpu::check_launch("swap_halves");
}

void fill(int64_t count, float value, float* y) {
  if (count <= 0) return;
  fill_kernel<<<gpu::grid_for(count), gpu::kThreads, 0, gpu::engine_stream()>>>(count, value, y);
  gpu::check_launch("fill");
}

}  // namespace pfgm::cuda
