// CUDA twins of ops/rows.cc, the per-sample helpers of the denoiser and the mapping network, plus
// fill. The coefficient arrays are device memory here (the backend uploads the host's few floats).
// scale_rows / axpby_rows round like the CPU (fp::), so they equal it bit for bit; sumsq_rows
// accumulates in double in a fixed order (deterministic, a few double ulps from the CPU's
// sequential sum; it only feeds the adaptive scale's max(), on the host or in adaptive_coefs).
// Column sums are bias.cu's gpu::column_sums, the bias gradient of the convolutions and linear
// layers.
// Like every other op they only queue work (gpu::check_kernel reports a bad launch): a
// synchronize after each would stall the host at every per-sample coefficient of every call.
#include "ops.h"
#include "ops/precond_math.h"
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

// The sum of squares of this block's row of x, in every thread: strided double partial sums, then
// a fixed shared-memory tree.
__device__ double block_row_sumsq(int64_t cols, const float* x) {
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
  return part[0];
}

// One block per row.
__global__ void sumsq_rows_kernel(int64_t cols, const float* x, double* out) {
  const double q = block_row_sumsq(cols, x);
  if (threadIdx.x == 0) out[blockIdx.x] = q;
}

// One block per row, the norm summed as sumsq_rows sums it: sampling (here) and the paths that
// still compute the coefficients on the host from sumsq_rows (training, input_vjp) agree.
__global__ void adaptive_coefs_kernel(int64_t cols, const float* x, const float* sigma,
                                      double sigma_data, double d_aware_D, float* c_in,
                                      float* c_skip, float* c_out) {
  const double q = block_row_sumsq(cols, x);
  if (threadIdx.x != 0) return;
  const int64_t i = blockIdx.x;
  const double s2 = precond::adaptive_scale2(sigma[i], q, static_cast<double>(cols), sigma_data);
  const precond::Coefs k = precond::coefs(s2, sigma_data, d_aware_D);
  c_in[i] = k.c_in;
  if (c_skip != nullptr) c_skip[i] = k.c_skip;
  if (c_out != nullptr) c_out[i] = k.c_out;
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

void scale_rows_dev(int64_t rows, int64_t cols, const float* a, const float* x, float* y) {
  scale_rows(rows, cols, a, x, y);
}

void axpby_rows_dev(int64_t rows, int64_t cols, const float* a, const float* x, const float* b,
                    const float* z, float* y) {
  axpby_rows(rows, cols, a, x, b, z, y);
}

void adaptive_coefs(int64_t rows, int64_t cols, const float* x, const float* sigma,
                    double sigma_data, double d_aware_D, float* c_in, float* c_skip, float* c_out) {
  if (rows <= 0) return;
  if (rows > 0x7fffffff) fail(code::kArgument, "adaptive_coefs: too many rows for one launch");
  adaptive_coefs_kernel<<<static_cast<unsigned>(rows), gpu::kThreads, 0, gpu::engine_stream()>>>(
      cols, x, sigma, sigma_data, d_aware_D, c_in, c_skip, c_out);
  gpu::check_kernel("adaptive_coefs");
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
