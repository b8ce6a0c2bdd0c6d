// The CUDA twins of the CPU engine's ops, declared with the CPU references' signatures
// (src/native/ops/*.h, optim/optim.h, sample/sampler.h); every pointer is device memory. Kernels
// are queued on gpu::engine_stream(); functions that return a host value (the loss, the gradient
// statistics) synchronize, the others do not.
//
// The twins of the backend's ops are declared from the list of ops (src/native/nn/backend_ops.h),
// each with its CPU reference's signature (plus the math mode, for the MATH kind); only the twins
// whose contract differs from the backend's (the list's CUDA_CUSTOM and CUSTOM kinds: coefficient
// arrays on the device, not the host) and the ops no backend entry reaches are declared by hand.
// What the twins promise against the CPU:
//   elementwise.cu, rows.cu, loss.cu backward, optim.cu (Adam, EMA, axpy), activation.cu's
//     dropout, embedding.cu's label_input: bit-identical.
//   activation.cu's SiLU: within a few ulp. group_norm.cu: fp32 reductions (docs/cuda.md has the
//     tolerance). loss.cu forward, optim.cu's grad_stats, rows.cu's sumsq_rows: fixed order.
//   attention.cu: own tiled kernels (no cuBLAS), fp32 accumulation, no atomics (the same bits on
//     every run); weights may be null for inference. attention_blas.cuh has the cuBLAS twins.
//   resample.cu: gathers, no atomics. s.f points to HOST memory (<= 8 taps; more is
//     ERR_PFGM_ARGUMENT).
//   embedding.cu: the embeddings round like the CPU (double pow / cos / sin rounded once).
//   conv.cu / linear.cu (the layouts of ops/conv.h, ops/linear.h): the math modes below; they
//     refuse with ERR_PFGM_DEVICE without cuDNN / cuBLAS in the build.
//   pool.cu, resize.cu, elementwise.cu's place_channels (the FID Inception's ops): bit-identical.
//     conv_inference.cu: a patch matrix and linear.cu's GEMM (its math modes; cuBLAS needed).
//
// Only CUDA sources include this header for now. When engine code compiled into both addons calls
// these, add refusing stubs to src/native/gpu_absent.cc as for the physics kernels.
#pragma once

#include <cstdint>

#include "nn/backend_ops.h"
#include "sample/sampler.h"

namespace pfgm::cuda {

// How the products of a convolution or linear layer are computed. Inputs, outputs, weights and
// every gradient stay fp32 in memory in all three modes (fp32 master weights; bias add and bias
// gradient are fp32 kernels with a fixed summation order in every mode). Expected error of one
// K-term dot product against exact arithmetic, relative to sqrt(sum of squared products) (random
// signs; the worst case replaces sqrt(K) by K):
//   kFp32  IEEE fp32 FMAs (cuDNN CUDNN_FMA_MATH, FFT/Winograd only when no other algorithm
//          runs, which conv2d_plan shows; cuBLAS CUBLAS_COMPUTE_32F): ~ sqrt(K) 2^-24, the CPU
//          engine's own order of error.
//   kTf32  TF32 tensor cores (cuDNN CUDNN_DEFAULT_MATH, which permits them on Ampere and later;
//          cuBLAS CUBLAS_COMPUTE_32F_FAST_TF32): 10 mantissa bits kept from each input, fp32
//          accumulation; each product off by <= 2^-10 relative (2^-11 when the inputs are
//          rounded, not truncated), so ~ 2^-10 of the result's scale, ~1e-3.
//   kBf16  autocast: x, weights and dy rounded to bf16 (ops/bf16_math.h, nearest-even, 8
//          significant bits, 2^-9 relative each) in pooled scratch, products accumulated in
//          fp32, results returned in fp32: ~ 2 * 2^-9 of the result's scale (~4e-3) per output;
//          cuDNN's bf16 convolutions also round their output to bf16 (another 2^-9) before it
//          is widened, cuBLAS writes fp32 directly. Where cuDNN runs no bf16 algorithm for a
//          shape, the same rounded operands go through an fp32 convolution (no output rounding).
enum class MathMode { kFp32 = 0, kTf32 = 1, kBf16 = 2 };

// --- the twins of the backend's ops (PLAIN, MATH, ATTENTION in backend_ops.h) -----------------
#define PFGM_CUDA_DECLARE_PLAIN(ret, name, params) ret name params;
#define PFGM_CUDA_DECLARE_MATH(ret, name, params) \
  ret name(PFGM_OP_UNPAREN params, MathMode math = MathMode::kFp32);
#define PFGM_CUDA_DECLARE_ATTENTION PFGM_CUDA_DECLARE_PLAIN
#define PFGM_CUDA_DECLARE_CUDA_CUSTOM(ret, name, params)
#define PFGM_CUDA_DECLARE_CUSTOM(ret, name, params)
#define PFGM_CUDA_DECLARE(kind, ret, name, label, params, args, checks) \
  PFGM_CUDA_DECLARE_##kind(ret, name, params)
PFGM_BACKEND_OPS(PFGM_CUDA_DECLARE)
#undef PFGM_CUDA_DECLARE
#undef PFGM_CUDA_DECLARE_CUSTOM
#undef PFGM_CUDA_DECLARE_CUDA_CUSTOM
#undef PFGM_CUDA_DECLARE_ATTENTION
#undef PFGM_CUDA_DECLARE_MATH
#undef PFGM_CUDA_DECLARE_PLAIN

// --- the twins whose contract differs from the backend's (CUDA_CUSTOM, CUSTOM) -----------------
// rows.cu (ops/rows.h), coefficient arrays and per-row sums on the device (sum_columns is
// dense.cuh's gpu::column_sums).
void scale_rows(int64_t rows, int64_t cols, const float* a, const float* x, float* y);
void axpby_rows(int64_t rows, int64_t cols, const float* a, const float* x, const float* b,
                const float* z, float* y);
void sumsq_rows(int64_t rows, int64_t cols, const float* x, double* out);
// sigma: one float per row, in device memory.
void adaptive_coefs(int64_t rows, int64_t cols, const float* x, const float* sigma,
                    double sigma_data, double d_aware_D, float* c_in, float* c_skip, float* c_out);
// loss.cu (ops/loss.h): weights on the device. Forward synchronizes (it returns the mean).
double weighted_mse_forward(int64_t samples, int64_t per_sample, const float* pred,
                            const float* target, const float* weight, float* per_sample_loss);
void weighted_mse_backward(int64_t samples, int64_t per_sample, const float* pred,
                           const float* target, const float* weight, float* dpred);
void weighted_mse_accumulate(int64_t samples, int64_t per_sample, const float* pred,
                             const float* target, const float* weight, double share, double* total);
// optim.cu (optim/optim.h): the step's constants on the device.
void adam_step_checked(int64_t count, float* p, const float* g, float* m, float* v,
                       const optim::AdamStep* step, const double* stats, float* ema);
// student_t_noise_f32 and the other physics twins: physics/physics.h.

// --- ops that no backend entry reaches -----------------------------------------------------------
// y[0:count] = value (the backends' fill).
void fill(int64_t count, float value, float* y);
// optim.cu (optim/optim.h): bit-identical.
void ema_update(int64_t count, float* ema, const float* p, double beta);

// sampler.cu: declared in sample/sampler.h (both namespaces).

// The cached cuDNN plan of a (shape, math mode): descriptors and, per direction (forward,
// backward data, backward filter), the candidates from cuDNN's heuristics in the order they are
// tried; the first call of a direction keeps the first candidate that runs (conv.cu's header).
// conv2d_plan makes the plan when there is none (`created`) and reports what has been kept so
// far: algo / variant -1 for a direction no call has run yet. An empty batch has no plan. Tests
// and diagnostics; the ops find plans themselves.
struct ConvPlanInfo {
  bool created = false;
  int algo[3] = {-1, -1, -1};     // cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t kept
  int variant[3] = {-1, -1, -1};  // 0 NHWC in the mode's type, 1 NHWC fp32 on bf16-rounded
                                  // operands (bf16 only), 2 NCHW fp32 (conv.cu's header)
  bool deterministic[3] = {false, false, false};
  int rejected[3] = {0, 0, 0};           // candidates that refused to run in the choice
  float milliseconds[3] = {-1, -1, -1};  // the kept one's time when the choice was timed, else -1
  int candidates[3] = {0, 0, 0};         // candidates the heuristics offered
  double workspace_bytes[3] = {0, 0, 0};
  int64_t plans = 0;  // plans in the cache after this call
};
ConvPlanInfo conv2d_plan(const op::Conv2dShape& s, MathMode math);

}  // namespace pfgm::cuda
