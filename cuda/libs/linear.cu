// Fully connected layers on the GPU through cuBLAS (ops.h; the CPU reference is ops/linear.cc):
// y = x W^T + b, dx = dy W, dW = dy^T x, each product one cublasGemmEx computed transposed (cuBLAS
// is column-major) with the math mode's compute type; bias add and bias gradient are bias.cu's
// kernels. bf16 GEMMs need compute capability 8.0: an older GPU multiplies the same bf16-rounded
// operands in fp32 (the same numerics, slower). The mapping and the modes in detail:
// bench/kernels/linear/README.md.
#include <climits>
#include <mutex>
#include <string>

#include "kernels/dense.cuh"
#include "ops.h"
#include "runtime/allocator.cuh"
#include "runtime/check.cuh"
#include "runtime/launch.cuh"

#include "libs/cublas_handle.cuh"

namespace pfgm::cuda {
namespace {

std::string describe(const op::LinearShape& s) {
  return "linear rows=" + std::to_string(s.rows) + " in=" + std::to_string(s.in) +
         " out=" + std::to_string(s.out);
}

// The CPU's checks (ops/linear.cc), plus cuBLAS's int dimensions.
void check_shape(const op::LinearShape& s) {
  if (s.rows < 0 || s.in < 1 || s.out < 1) {
    fail(code::kShape, describe(s) + ": in and out must be positive, rows >= 0");
  }
  if (s.rows > INT_MAX || s.in > INT_MAX || s.out > INT_MAX) {
    fail(
        code::kShape,
        describe(s) + ": a dimension of 2^31 or more is beyond cuBLAS's int sizes; split the rows");
  }
}

}  // namespace
}  // namespace pfgm::cuda

#ifndef PFGM_HAVE_CUBLAS

namespace pfgm::cuda {

void linear_forward(const op::LinearShape& s, const float*, const float*, const float*, float*,
                    MathMode) {
  check_shape(s);
  no_cublas("linear_forward");
}

void linear_backward(const op::LinearShape& s, const float*, const float*, const float*, float*,
                     float*, float*, MathMode) {
  check_shape(s);
  no_cublas("linear_backward");
}

}  // namespace pfgm::cuda

#else  // PFGM_HAVE_CUBLAS

namespace pfgm::cuda {
namespace {

MathMode checked(MathMode math) {
  if (math != MathMode::kFp32 && math != MathMode::kTf32 && math != MathMode::kBf16) {
    fail(code::kArgument, "linear: math mode must be 0 (fp32), 1 (tf32) or 2 (bf16)");
  }
  return math;
}

// Whether this GPU has bf16 GEMMs (the header). Asked once: the engine uses one device.
bool bf16_gemm() {
  static const bool yes = [] {
    int device = 0, major = 0;
    gpu::check(cudaGetDevice(&device), "cudaGetDevice");
    gpu::check(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device),
               "cudaDeviceGetAttribute (compute capability)");
    return major >= 8;
  }();
  return yes;
}

// C[m, n] (column-major, ldc = m) = op(A) op(B), with beta = 0 (C is not read). `a` and `b` are
// fp32, or bf16 bits when math is kBf16 (and the GPU has bf16 GEMMs); C is always fp32. Host
// pointer mode (the handle's default): alpha and beta are read from the host when the call is made.
void gemm(const op::LinearShape& s, MathMode math, cublasOperation_t ta, cublasOperation_t tb,
          int64_t m, int64_t n, int64_t k, const void* a, int64_t lda, const void* b, int64_t ldb,
          float* c, const char* what) {
  const float one = 1.0f, zero = 0.0f;
  const cudaDataType_t in_type = math == MathMode::kBf16 && bf16_gemm() ? CUDA_R_16BF : CUDA_R_32F;
  const cublasComputeType_t compute =
      math == MathMode::kTf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  const cublasStatus_t status = cublasGemmEx(
      cublas_handle(), ta, tb, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), &one,
      a, in_type, static_cast<int>(lda), b, in_type, static_cast<int>(ldb), &zero, c, CUDA_R_32F,
      static_cast<int>(m), compute, CUBLAS_GEMM_DEFAULT);
  if (status !=
      CUBLAS_STATUS_SUCCESS) {  // the message only when needed: this runs per layer and step
    check_cublas(status, std::string("cublasGemmEx (") + what + ", " + describe(s) +
                             ", math mode " + std::to_string(static_cast<int>(math)) + ")");
  }
}

// An fp32 operand as the mode wants it: the buffer itself, or its bf16 rounding in `scratch` (bf16
// bits, or fp32 values without bf16 GEMMs).
const void* operand(MathMode math, int64_t count, const float* p,
                    gpu::DeviceArray<unsigned char>& scratch) {
  if (math != MathMode::kBf16) return p;
  if (bf16_gemm()) {
    scratch = gpu::DeviceArray<unsigned char>(count * static_cast<int64_t>(sizeof(uint16_t)),
                                              gpu::engine_stream());
    gpu::f32_to_bf16(count, p, reinterpret_cast<uint16_t*>(scratch.get()));
  } else {
    scratch = gpu::DeviceArray<unsigned char>(count * static_cast<int64_t>(sizeof(float)),
                                              gpu::engine_stream());
    gpu::round_bf16(count, p, reinterpret_cast<float*>(scratch.get()));
  }
  return scratch.get();
}

}  // namespace

void linear_forward(const op::LinearShape& s, const float* x, const float* weight,
                    const float* bias, float* y, MathMode math) {
  check_shape(s);
  checked(math);
  if (s.rows == 0) return;
  std::lock_guard<std::mutex> lock(cublas_mutex());
  gpu::DeviceArray<unsigned char> xb, wb;
  const void* xa = operand(math, s.rows * s.in, x, xb);
  const void* wa = operand(math, s.out * s.in, weight, wb);
  gemm(s, math, CUBLAS_OP_T, CUBLAS_OP_N, s.out, s.rows, s.in, wa, s.in, xa, s.in, y, "forward");
  gpu::add_bias_rows(s.rows, s.out, bias, y);
}

void linear_backward(const op::LinearShape& s, const float* x, const float* weight, const float* dy,
                     float* dx, float* dweight, float* dbias, MathMode math) {
  check_shape(s);
  checked(math);
  const cudaStream_t stream = gpu::engine_stream();
  if (s.rows == 0) {  // an empty batch: the parameter gradients are sums over nothing
    if (dweight != nullptr) {
      gpu::check(
          cudaMemsetAsync(dweight, 0, static_cast<size_t>(s.out * s.in) * sizeof(float), stream),
          "cudaMemsetAsync (linear dweight of an empty batch)");
    }
    if (dbias != nullptr) gpu::column_sums(0, s.out, dy, dbias);
    return;
  }
  if (dbias != nullptr) gpu::column_sums(s.rows, s.out, dy, dbias);  // from fp32 dy in every mode
  if (dx == nullptr && dweight == nullptr) return;
  std::lock_guard<std::mutex> lock(cublas_mutex());
  gpu::DeviceArray<unsigned char> dyb, wb, xb;
  const void* dya = operand(math, s.rows * s.out, dy, dyb);
  if (dx != nullptr) {
    const void* wa = operand(math, s.out * s.in, weight, wb);
    gemm(s, math, CUBLAS_OP_N, CUBLAS_OP_N, s.in, s.rows, s.out, wa, s.in, dya, s.out, dx,
         "backward data");
  }
  if (dweight != nullptr) {
    const void* xa = operand(math, s.rows * s.in, x, xb);
    gemm(s, math, CUBLAS_OP_N, CUBLAS_OP_T, s.in, s.out, s.rows, xa, s.in, dya, s.out, dweight,
         "backward weights");
  }
}

}  // namespace pfgm::cuda

#endif  // PFGM_HAVE_CUBLAS
