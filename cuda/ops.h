// The CUDA twins of the CPU engine's ops, declared with the CPU references' signatures
// (src/native/ops/*.h, optim/optim.h, sample/sampler.h); every pointer is device memory. Kernels
// are queued on gpu::engine_stream(); functions that return a host value (the loss, the gradient
// statistics) synchronize, the others do not.
//
// Only CUDA sources include this header for now. When engine code compiled into both addons calls
// these, add refusing stubs to src/native/gpu_absent.cc as for the physics kernels.
#pragma once

#include <cstdint>

#include "ops/activation.h"
#include "ops/group_norm.h"
#include "optim/optim.h"
#include "physics/noise.h"

namespace pfgm::cuda {

// elementwise.cu (ops/elementwise.h): bit-identical to the CPU.
void axpby(int64_t count, float alpha, const float* a, float beta, const float* b, float* y);
void scale(int64_t count, float alpha, const float* a, float* y);
void concat_channels(int64_t pixels, int64_t ca, const float* a, int64_t cb, const float* b,
                     float* y);
void split_channels(int64_t pixels, int64_t ca, float* da, int64_t cb, float* db, const float* dy);
void add_channel_bias(int64_t n, int64_t hw, int64_t c, const float* x, const float* bias,
                      float* y);
void nchw_to_nhwc(int64_t n, int64_t c, int64_t h, int64_t w, const float* x, float* y);
void nhwc_to_nchw(int64_t n, int64_t c, int64_t h, int64_t w, const float* x, float* y);

// activation.cu (ops/activation.h): SiLU within a few ulp, dropout bit-identical.
void silu_forward(int64_t count, const float* x, float* y);
void silu_backward(int64_t count, const float* x, const float* dy, float* dx);
void dropout_forward(const op::DropoutSpec& s, const float* x, float* y);
void dropout_backward(const op::DropoutSpec& s, const float* dy, float* dx);

// group_norm.cu (ops/group_norm.h): fp32 reductions, see docs/cuda.md for the tolerance.
void group_norm_forward(const op::GroupNormShape& s, const float* x, const float* shift,
                        const float* gamma, const float* beta, float* y, float* mean, float* rstd);
void group_norm_backward(const op::GroupNormShape& s, const float* x, const float* shift,
                         const float* gamma, const float* beta, const float* mean,
                         const float* rstd, const float* dy, float* dx, float* dgamma,
                         float* dbeta, float* dshift);

// loss.cu (ops/loss.h). Forward synchronizes (it returns the mean); backward is bit-identical.
double weighted_mse_forward(int64_t samples, int64_t per_sample, const float* pred,
                            const float* target, const float* weight, float* per_sample_loss);
void weighted_mse_backward(int64_t samples, int64_t per_sample, const float* pred,
                           const float* target, const float* weight, float* dpred);

// optim.cu (optim/optim.h): Adam, EMA and axpy bit-identical; grad_stats in a fixed order.
optim::GradStats grad_stats(int64_t count, const float* g);
void adam_step(int64_t count, float* p, const float* g, float* m, float* v, double lr,
               double beta1, double beta2, double eps, int64_t t, float grad_scale,
               float* ema = nullptr, double ema_beta = 0);
void axpy(int64_t count, float alpha, const float* x, float* y);
void ema_update(int64_t count, float* ema, const float* p, double beta);

// sampler.cu (sample/sampler.h). `coefs` and the `inputs` array live on the host, the arrays
// they point to on the device; streams.seeds, when set, on the device.
void linear_combination_f32(int64_t n, int terms, const double* coefs, const float* const* inputs,
                            float* out);
void churn_noise_f32(const float* x, float* out, int64_t count, int64_t n, double scale,
                     const SampleStreams& streams);
void rademacher_f32(float* out, int64_t count, int64_t n, const SampleStreams& streams);

}  // namespace pfgm::cuda

// rows.cu (ops/rows.h; coefficient arrays on the device): scale_rows / axpby_rows bit-identical,
// sumsq_rows in double in a fixed order (sum_columns is dense.cuh's gpu::column_sums). fill:
// y[0:count] = value.
namespace pfgm::cuda {
void scale_rows(int64_t rows, int64_t cols, const float* a, const float* x, float* y);
void axpby_rows(int64_t rows, int64_t cols, const float* a, const float* x, const float* b,
                const float* z, float* y);
void sumsq_rows(int64_t rows, int64_t cols, const float* x, double* out);
void swap_halves(int64_t rows, int64_t cols, const float* x, float* y);
void fill(int64_t count, float value, float* y);
}  // namespace pfgm::cuda

// ---- attention, FIR resampling and the embeddings (cuda/attention.cu, resample.cu, embedding.cu)
#include "ops/attention.h"
#include "ops/embedding.h"
#include "ops/resample.h"

namespace pfgm::cuda {

// attention.cu (ops/attention.h): own tiled kernels (no cuBLAS), fp32 accumulation, no atomics
// (the same bits on every run). weights may be null for inference.
void attention_forward(const op::AttentionShape& s, const float* qkv, float* out, float* weights);
void attention_backward(const op::AttentionShape& s, const float* qkv, const float* weights,
                        const float* dout, float* dqkv);

// resample.cu (ops/resample.h): gathers, no atomics. s.f points to HOST memory (<= 8 taps; more
// is ERR_PFGM_ARGUMENT); x, y, dx, dy are device memory.
void fir_down_forward(const op::ResampleShape& s, const float* x, float* y);
void fir_down_backward(const op::ResampleShape& s, const float* dy, float* dx);
void fir_up_forward(const op::ResampleShape& s, const float* x, float* y);
void fir_up_backward(const op::ResampleShape& s, const float* dy, float* dx);

// embedding.cu (ops/embedding.h): x, freqs, y, labels, out device memory. The embeddings round
// like the CPU (double pow / cos / sin rounded once to float); label_input is bit-identical.
void positional_embedding(int64_t n, int64_t channels, double max_positions, bool endpoint,
                          const float* x, float* y);
void fourier_embedding(int64_t n, int64_t channels, const float* freqs, const float* x, float* y);
void label_input(const op::LabelInputSpec& s, const float* labels, float* out);
}  // namespace pfgm::cuda

// ---- conv.cu / linear.cu (issue 6): cuDNN convolutions, cuBLAS linear layers, math modes -------
#include "ops/conv.h"
#include "ops/linear.h"

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

// conv.cu (ops/conv.h): NHWC x [n, h, w, cin], PyTorch's weight [cout, cin, k, k], bias [cout]
// (nullable), y [n, oh, ow, cout]. Backward writes any of dx, dweight, dbias (each nullable).
// Without cuDNN in the build these refuse with ERR_PFGM_DEVICE.
void conv2d_forward(const op::Conv2dShape& s, const float* x, const float* weight, const float* bias,
                    float* y, MathMode math = MathMode::kFp32);
void conv2d_backward(const op::Conv2dShape& s, const float* x, const float* weight, const float* dy,
                     float* dx, float* dweight, float* dbias, MathMode math = MathMode::kFp32);

// The cached cuDNN plan of a (shape, math mode): descriptors and, per direction (forward,
// backward data, backward filter), the candidates from cuDNN's heuristics in the order they are
// tried; the first call of a direction keeps the first candidate that runs (conv.cu's header).
// conv2d_plan makes the plan when there is none (`created`) and reports what has been kept so
// far: algo / variant -1 for a direction no call has run yet. An empty batch has no plan. Tests
// and diagnostics; the ops find plans themselves.
struct ConvPlanInfo {
  bool created = false;
  int algo[3] = {-1, -1, -1};      // cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t kept
  int variant[3] = {-1, -1, -1};   // 0 NHWC in the mode's type, 1 NHWC fp32 on bf16-rounded
                                   // operands (bf16 only), 2 NCHW fp32 (conv.cu's header)
  bool deterministic[3] = {false, false, false};
  int rejected[3] = {0, 0, 0};     // candidates that refused to run in the choice
  float milliseconds[3] = {-1, -1, -1};  // the kept one's time when the choice was timed, else -1
  int candidates[3] = {0, 0, 0};   // candidates the heuristics offered
  double workspace_bytes[3] = {0, 0, 0};
  int64_t plans = 0;               // plans in the cache after this call
};
ConvPlanInfo conv2d_plan(const op::Conv2dShape& s, MathMode math);

// linear.cu (ops/linear.h): y [rows, out] = x [rows, in] weight[out, in]^T + bias. Without
// cuBLAS in the build these refuse with ERR_PFGM_DEVICE.
void linear_forward(const op::LinearShape& s, const float* x, const float* weight, const float* bias,
                    float* y, MathMode math = MathMode::kFp32);
void linear_backward(const op::LinearShape& s, const float* x, const float* weight, const float* dy,
                     float* dx, float* dweight, float* dbias, MathMode math = MathMode::kFp32);

}  // namespace pfgm::cuda
