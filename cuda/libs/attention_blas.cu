// Attention on the GPU over cuBLAS (attention_blas.cuh; the CPU reference is ops/attention.cc,
// the tiled fp32 twin attention.cu): q, k, v split out of EDM's interleaved qkv, the six products
// as one strided-batched GEMM per head in the call's math mode, the shared fp32 row softmax
// (softmax_rows.cu), dqkv merged back; the same bits on every run (one stream, no atomics). The
// GEMM mapping, the math modes, determinism and scratch memory: bench/kernels/attention/README.md.
#include <algorithm>
#include <climits>
#include <cmath>
#include <mutex>
#include <string>

#include "kernels/softmax_rows.cuh"
#include "libs/attention_blas.cuh"
#include "runtime/allocator.cuh"
#include "runtime/check.cuh"
#include "runtime/launch.cuh"

#include "libs/cublas_handle.cuh"

namespace pfgm::cuda {
namespace {

std::string describe(const op::AttentionShape& s) {
  return "n=" + std::to_string(s.n) + ", hw=" + std::to_string(s.hw) +
         ", c=" + std::to_string(s.c) + ", heads=" + std::to_string(s.heads);
}

// The CPU's check (ops/attention.cc, same message), plus cuBLAS's int dimensions.
void check_shape(const op::AttentionShape& s) {
  if (s.n < 1 || s.hw < 1 || s.c < 1 || s.heads < 1 || s.c % s.heads != 0) {
    fail(code::kShape,
         "attention needs n, hw, c, heads >= 1 with heads dividing c (got " + describe(s) + ")");
  }
  if (s.n > INT_MAX || s.hw > INT_MAX || s.c > INT_MAX) {
    fail(code::kShape,
         "attention on cuBLAS needs n, hw and c below 2^31 (its int sizes), got " + describe(s));
  }
}

void check_math(MathMode math) {
  if (math != MathMode::kFp32 && math != MathMode::kTf32 && math != MathMode::kBf16) {
    fail(code::kArgument, "attention: math mode must be 0 (fp32), 1 (tf32) or 2 (bf16)");
  }
}

}  // namespace

// The kernels and their launchers need no cuBLAS; they are compiled in every CUDA build (so their
// PTX can be checked where nvcc is, test/gpu/attention-blas-parity.test.ts) and named (not in an
// anonymous namespace) so that a build without cuBLAS, which never calls them, has no unused-code
// warnings.
namespace attention_blas_detail {

// ---- split and merge: between the interleaved qkv and three [n, P, c] arrays
// ---------------------

// Element e = (b P + p) c + ch of q, k, v is component 0, 1, 2 of qkv's channel ch at row b P + p,
// i.e. qkv[3 e + j]: a warp reads 384 contiguous bytes and writes 128 to each array.
__global__ void split_kernel(int64_t count, const float* __restrict__ qkv, float q_scale,
                             float* __restrict__ q, float* __restrict__ k, float* __restrict__ v) {
  for (int64_t e = gpu::first_index(); e < count; e += gpu::grid_stride()) {
    const float* src = qkv + 3 * e;
    q[e] = q_scale * src[0];  // one rounding, as the CPU's split (q_scale = 1 is exact)
    k[e] = src[1];
    v[e] = src[2];
  }
}

__global__ void merge_kernel(int64_t count, const float* __restrict__ dq,
                             const float* __restrict__ dk, const float* __restrict__ dv,
                             float* __restrict__ dqkv) {
  for (int64_t e = gpu::first_index(); e < count; e += gpu::grid_stride()) {
    float* dst = dqkv + 3 * e;
    dst[0] = dq[e];
    dst[1] = dk[e];
    dst[2] = dv[e];
  }
}

void split(int64_t count, const float* qkv, float q_scale, float* q, float* k, float* v) {
  split_kernel<<<gpu::grid_for(count), gpu::kThreads, 0, gpu::engine_stream()>>>(count, qkv,
                                                                                 q_scale, q, k, v);
  gpu::check_kernel("attention split kernel");
}

void merge(int64_t count, const float* dq, const float* dk, const float* dv, float* dqkv) {
  merge_kernel<<<gpu::grid_for(count), gpu::kThreads, 0, gpu::engine_stream()>>>(count, dq, dk, dv,
                                                                                 dqkv);
  gpu::check_kernel("attention merge kernel");
}

}  // namespace attention_blas_detail
}  // namespace pfgm::cuda

#ifndef PFGM_HAVE_CUBLAS

namespace pfgm::cuda {

void attention_forward_blas(const op::AttentionShape& s, const float*, float*, float*,
                            MathMode math) {
  check_shape(s);
  check_math(math);
  no_cublas("attention_forward_blas");
}

void attention_backward_blas(const op::AttentionShape& s, const float*, const float*, const float*,
                             float*, MathMode math) {
  check_shape(s);
  check_math(math);
  no_cublas("attention_backward_blas");
}

}  // namespace pfgm::cuda

#else  // PFGM_HAVE_CUBLAS

namespace pfgm::cuda {
namespace {

using attention_blas_detail::merge;
using attention_blas_detail::split;

// ---- cuBLAS -------------------------------------------------------------------------------------

cublasComputeType_t compute_type(MathMode math) {
  switch (math) {
    case MathMode::kTf32: return CUBLAS_COMPUTE_32F_FAST_TF32;
    case MathMode::kBf16: return CUBLAS_COMPUTE_32F_FAST_16BF;
    case MathMode::kFp32: break;
  }
  return CUBLAS_COMPUTE_32F;
}

// A per-(sample, head) matrix in memory as cuBLAS sees it: head h of sample b starts at
// p + b * sample + h * head, with leading dimension ld.
struct Mat {
  const float* p;
  int64_t ld, sample, head;
};
struct OutMat {
  float* p;
  int64_t ld, sample, head;
};

// [n, P, c] arrays (q, k, v, their gradients, out, dout): [d, P] with ld c to cuBLAS.
Mat channels(const op::AttentionShape& s, const float* x) {
  return {x, s.c, s.hw * s.c, s.c / s.heads};
}
OutMat channels_out(const op::AttentionShape& s, float* x) {
  return {x, s.c, s.hw * s.c, s.c / s.heads};
}
// [n, heads, P, P] arrays (S = W, dW = dS): [P, P] with ld P.
Mat square(const op::AttentionShape& s, const float* w) {
  return {w, s.hw, s.heads * s.hw * s.hw, s.hw * s.hw};
}
OutMat square_out(const op::AttentionShape& s, float* w) {
  return {w, s.hw, s.heads * s.hw * s.hw, s.hw * s.hw};
}

// C = op(A) op(B) (column-major [m, nn], k deep) for every head and sample: one strided-batched
// call per head, batched over the samples. With cublas_mutex() held.
void gemm(const op::AttentionShape& s, MathMode math, cublasOperation_t ta, cublasOperation_t tb,
          int64_t m, int64_t nn, int64_t k, const Mat& a, const Mat& b, const OutMat& c,
          const char* what) {
  const float one = 1.0f, zero = 0.0f;
  const cublasComputeType_t compute = compute_type(math);
  for (int64_t h = 0; h < s.heads; ++h) {
    check_cublas(
        cublasGemmStridedBatchedEx(
            cublas_handle(), ta, tb, static_cast<int>(m), static_cast<int>(nn), static_cast<int>(k),
            &one, a.p + h * a.head, CUDA_R_32F, static_cast<int>(a.ld), a.sample, b.p + h * b.head,
            CUDA_R_32F, static_cast<int>(b.ld), b.sample, &zero, c.p + h * c.head, CUDA_R_32F,
            static_cast<int>(c.ld), c.sample, static_cast<int>(s.n), compute, CUBLAS_GEMM_DEFAULT),
        what);
  }
}

}  // namespace

void attention_forward_blas(const op::AttentionShape& s, const float* qkv, float* out,
                            float* weights, MathMode math) {
  check_shape(s);
  check_math(math);
  const cudaStream_t stream = gpu::engine_stream();
  const int64_t d = s.c / s.heads, p = s.hw, count = s.n * p * s.c, rows = s.n * s.heads * p;
  // As the CPU: q is scaled by 1 / sqrt d (that constant rounded to float) before the product.
  const float inv_sqrt_d = 1.0f / std::sqrt(static_cast<float>(d));
  gpu::DeviceArray<float> own;
  if (weights == nullptr) {  // inference: the weights are needed in between, not afterwards
    own = gpu::DeviceArray<float>(rows * p, stream);
    weights = own.get();
  }
  gpu::DeviceArray<float> q(count, stream), k(count, stream), v(count, stream);
  split(count, qkv, inv_sqrt_d, q.get(), k.get(), v.get());
  {
    std::lock_guard<std::mutex> lock(cublas_mutex());
    gemm(s, math, CUBLAS_OP_T, CUBLAS_OP_N, p, p, d, channels(s, k.get()), channels(s, q.get()),
         square_out(s, weights), "cublasGemmStridedBatchedEx (attention scores)");
  }
  softmax_rows(rows, p, weights);
  {
    std::lock_guard<std::mutex> lock(cublas_mutex());
    gemm(s, math, CUBLAS_OP_N, CUBLAS_OP_N, d, p, p, channels(s, v.get()), square(s, weights),
         channels_out(s, out), "cublasGemmStridedBatchedEx (attention weighted sum)");
  }
  // The scratch goes back to the pool now; its stream-ordered reuse comes after these kernels.
}

void attention_backward_blas(const op::AttentionShape& s, const float* qkv, const float* weights,
                             const float* dout, float* dqkv, MathMode math) {
  check_shape(s);
  check_math(math);
  if (dqkv == nullptr) return;
  if (weights == nullptr) fail(code::kArgument, "attention backward needs the forward's weights");
  const cudaStream_t stream = gpu::engine_stream();
  const int64_t d = s.c / s.heads, p = s.hw, count = s.n * p * s.c, rows = s.n * s.heads * p;
  const float inv_sqrt_d = 1.0f / std::sqrt(static_cast<float>(d));
  gpu::DeviceArray<float> q(count, stream), k(count, stream), v(count, stream), dq(count, stream);
  gpu::DeviceArray<float> ds(rows * p, stream);
  split(count, qkv, 1.0f, q.get(), k.get(), v.get());
  const Mat w = square(s, weights), dov = channels(s, dout);
  {
    std::lock_guard<std::mutex> lock(cublas_mutex());
    gemm(s, math, CUBLAS_OP_T, CUBLAS_OP_N, p, p, d, channels(s, v.get()), dov,
         square_out(s, ds.get()), "cublasGemmStridedBatchedEx (attention dW)");
  }
  // dS over dW; the logits were (q / sqrt d) k^T, so dS carries the 1 / sqrt d for dq and dk.
  softmax_rows_backward(rows, p, weights, ds.get(), inv_sqrt_d);
  {
    std::lock_guard<std::mutex> lock(cublas_mutex());
    const Mat dsm = square(s, ds.get());
    // v is spent once dW is known, k once dQ is: dV and dK take their places (stream order).
    gemm(s, math, CUBLAS_OP_N, CUBLAS_OP_T, d, p, p, dov, w, channels_out(s, v.get()),
         "cublasGemmStridedBatchedEx (attention dV)");
    gemm(s, math, CUBLAS_OP_N, CUBLAS_OP_N, d, p, p, channels(s, k.get()), dsm,
         channels_out(s, dq.get()), "cublasGemmStridedBatchedEx (attention dQ)");
    gemm(s, math, CUBLAS_OP_N, CUBLAS_OP_T, d, p, p, channels(s, q.get()), dsm,
         channels_out(s, k.get()), "cublasGemmStridedBatchedEx (attention dK)");
  }
  merge(count, dq.get(), k.get(), v.get(), dqkv);
}

}  // namespace pfgm::cuda

#endif  // PFGM_HAVE_CUBLAS
