// The fake-CUDA test addon's device: what cuda/backend.cu calls (the CUDA runtime's copies,
// memsets and synchronisation, the caching allocator, and every pfgm::cuda:: op) implemented on
// the guarded device's memory (src/native/nn/guarded.h) with the CPU ops.
//
// It checks the one piece of GPU glue that the guarded backend cannot: cuda/backend.cu itself
// (which op it forwards to, with which arguments; its uploads of per-sample coefficients, loss
// weights and sigma into device scratch; its synchronizing downloads; the precision reaching the
// heavy ops). Every pointer a cuda:: op receives must be device memory of the size the op will
// touch (ops.h: the CUDA twins take device pointers; only FIR taps travel by value), every copy
// must go in the direction it claims, and host code touching device memory ends the process with
// status 86. The arithmetic is the CPU engine's, so a network on this device must match the CPU
// network bit for bit (test/native/network-fakecuda.test.ts). The kernels themselves are checked
// on a GPU by test/gpu/.
#include <cuda_runtime_api.h>

#include <cstring>
#include <string>

#include "../../../cuda/allocator.cuh"
#include "../../../cuda/attention_blas.cuh"
#include "../../../cuda/dense.cuh"
#include "../../../cuda/ops.h"
#include "device.h"
#include "errors.h"
#include "nn/backend.h"
#include "nn/guarded.h"
#include "ops/loss.h"
#include "ops/rows.h"
#include "physics/physics.h"

using pfgm::nn::guarded::Access;

namespace {
constexpr int64_t F = sizeof(float);
}  // namespace

// --- the CUDA runtime ----------------------------------------------------------------------------
extern "C" {
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t) {
  Access a("cudaMemcpyAsync");
  const int64_t b = static_cast<int64_t>(bytes);
  switch (kind) {
    case cudaMemcpyHostToDevice: a.host(src, "src (host)"); a.device(dst, b, "dst"); break;
    case cudaMemcpyDeviceToHost: a.device(src, b, "src"); a.host(dst, "dst (host)"); break;
    case cudaMemcpyDeviceToDevice: a.device(src, b, "src"); a.device(dst, b, "dst"); break;
    default: return cudaErrorInvalidMemcpyDirection;
  }
  if (bytes > 0) std::memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t) {
  Access a("cudaMemsetAsync");
  a.device(p, static_cast<int64_t>(bytes), "dst");
  if (bytes > 0) std::memset(p, value, bytes);
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaGetLastError(void) { return cudaSuccess; }
const char* cudaGetErrorName(cudaError_t) { return "cudaErrorFake"; }
const char* cudaGetErrorString(cudaError_t) { return "an error of the fake CUDA runtime"; }
}

namespace pfgm::gpu {

Info query() {
  Info info;
  info.compiled = true;
  info.available = true;
  info.reason = "the fake-CUDA test addon: cuda/backend.cu over the guarded CPU device";
  info.name = "fake CUDA (guarded CPU memory)";
  info.device_count = 1;
  info.cudnn = true;
  info.cublas = true;
  return info;
}
void* allocate(size_t bytes) { return nn::guarded::allocate(bytes); }
void release(void* p) { nn::guarded::release(p); }
void* pool_allocate(size_t bytes, cudaStream_t) {
  return bytes == 0 ? nullptr : nn::guarded::allocate(bytes);
}
bool pool_release(void* p) {
  nn::guarded::release(p);
  return true;
}
void copy_to_device(void* dst, const void* src, size_t bytes) {
  cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, nullptr);
}
void copy_to_host(void* dst, const void* src, size_t bytes) {
  cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, nullptr);
}
void copy_on_device(void* dst, const void* src, size_t bytes) {
  cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, nullptr);
}
void synchronize() {}

void column_sums(int64_t rows, int64_t cols, const float* dy, float* out) {
  nn::guarded_backend().sum_columns(rows, cols, dy, out);
}

}  // namespace pfgm::gpu

namespace pfgm::cuda {
namespace {
// The ops whose CUDA contract is the backend interface's (device pointers; FIR taps on the host,
// travelling by value): the guarded backend checks exactly that, then runs the CPU op.
nn::Backend& be() { return nn::guarded_backend(); }
}  // namespace

void axpby(int64_t n, float alpha, const float* a, float beta, const float* b, float* y) {
  be().axpby(n, alpha, a, beta, b, y);
}
void scale(int64_t n, float alpha, const float* a, float* y) { be().scale(n, alpha, a, y); }
void concat_channels(int64_t p, int64_t ca, const float* a, int64_t cb, const float* b, float* y) {
  be().concat_channels(p, ca, a, cb, b, y);
}
void split_channels(int64_t p, int64_t ca, float* da, int64_t cb, float* db, const float* dy) {
  be().split_channels(p, ca, da, cb, db, dy);
}
void add_channel_bias(int64_t n, int64_t hw, int64_t ch, const float* x, const float* bias,
                      float* y) {
  be().add_channel_bias(n, hw, ch, x, bias, y);
}
void nchw_to_nhwc(int64_t n, int64_t ch, int64_t h, int64_t w, const float* x, float* y) {
  be().nchw_to_nhwc(n, ch, h, w, x, y);
}
void nhwc_to_nchw(int64_t n, int64_t ch, int64_t h, int64_t w, const float* x, float* y) {
  be().nhwc_to_nchw(n, ch, h, w, x, y);
}
void silu_forward(int64_t n, const float* x, float* y) { be().silu_forward(n, x, y); }
void silu_backward(int64_t n, const float* x, const float* dy, float* dx) {
  be().silu_backward(n, x, dy, dx);
}
void dropout_forward(const op::DropoutSpec& s, const float* x, float* y) {
  be().dropout_forward(s, x, y);
}
void dropout_backward(const op::DropoutSpec& s, const float* dy, float* dx) {
  be().dropout_backward(s, dy, dx);
}
void group_norm_forward(const op::GroupNormShape& s, const float* x, const float* shift,
                        const float* gamma, const float* beta, float* y, float* mean, float* rstd) {
  be().group_norm_forward(s, x, shift, gamma, beta, y, mean, rstd);
}
void group_norm_backward(const op::GroupNormShape& s, const float* x, const float* shift,
                         const float* gamma, const float* beta, const float* mean,
                         const float* rstd, const float* dy, float* dx, float* dgamma,
                         float* dbeta, float* dshift) {
  be().group_norm_backward(s, x, shift, gamma, beta, mean, rstd, dy, dx, dgamma, dbeta, dshift);
}
optim::GradStats grad_stats(int64_t n, const float* g) { return be().grad_stats(n, g); }
void adam_step(int64_t n, float* p, const float* g, float* m, float* v, double lr, double beta1,
               double beta2, double eps, int64_t t, float grad_scale, float* ema, double ema_beta) {
  be().adam_step(n, p, g, m, v, lr, beta1, beta2, eps, t, grad_scale, ema, ema_beta);
}
void axpy(int64_t n, float alpha, const float* x, float* y) { be().axpy(n, alpha, x, y); }
void swap_halves(int64_t rows, int64_t cols, const float* x, float* y) {
  be().swap_halves(rows, cols, x, y);
}
void fill(int64_t n, float value, float* y) { be().fill(n, value, y); }
void attention_forward(const op::AttentionShape& s, const float* qkv, float* out, float* w) {
  be().attention_forward(s, qkv, out, w);
}
void attention_backward(const op::AttentionShape& s, const float* qkv, const float* w,
                        const float* dout, float* dqkv) {
  be().attention_backward(s, qkv, w, dout, dqkv);
}
void attention_forward_blas(const op::AttentionShape& s, const float* qkv, float* out, float* w,
                            MathMode) {
  be().attention_forward(s, qkv, out, w);
}
void attention_backward_blas(const op::AttentionShape& s, const float* qkv, const float* w,
                             const float* dout, float* dqkv, MathMode) {
  be().attention_backward(s, qkv, w, dout, dqkv);
}
void fir_down_forward(const op::ResampleShape& s, const float* x, float* y) {
  be().fir_down_forward(s, x, y);
}
void fir_down_backward(const op::ResampleShape& s, const float* dy, float* dx) {
  be().fir_down_backward(s, dy, dx);
}
void fir_up_forward(const op::ResampleShape& s, const float* x, float* y) {
  be().fir_up_forward(s, x, y);
}
void fir_up_backward(const op::ResampleShape& s, const float* dy, float* dx) {
  be().fir_up_backward(s, dy, dx);
}
void positional_embedding(int64_t n, int64_t ch, double max_positions, bool endpoint,
                          const float* x, float* y) {
  be().positional_embedding(n, ch, max_positions, endpoint, x, y);
}
void fourier_embedding(int64_t n, int64_t ch, const float* freqs, const float* x, float* y) {
  be().fourier_embedding(n, ch, freqs, x, y);
}
void label_input(const op::LabelInputSpec& s, const float* labels, float* out) {
  be().label_input(s, labels, out);
}
// The math mode changes the GPU's rounding, not which values an op reads and writes.
void conv2d_forward(const op::Conv2dShape& s, const float* x, const float* w, const float* b,
                    float* y, MathMode) {
  be().conv2d_forward(s, x, w, b, y);
}
void conv2d_backward(const op::Conv2dShape& s, const float* x, const float* w, const float* dy,
                     float* dx, float* dw, float* db, MathMode) {
  be().conv2d_backward(s, x, w, dy, dx, dw, db);
}
void linear_forward(const op::LinearShape& s, const float* x, const float* w, const float* b,
                    float* y, MathMode) {
  be().linear_forward(s, x, w, b, y);
}
void linear_backward(const op::LinearShape& s, const float* x, const float* w, const float* dy,
                     float* dx, float* dw, float* db, MathMode) {
  be().linear_backward(s, x, w, dy, dx, dw, db);
}

// The ops that take on the device what the backend interface takes on the host (per-row
// coefficients, loss weights, per-row sums, sigma): checked here against the CUDA contract.
void scale_rows(int64_t rows, int64_t cols, const float* a, const float* x, float* y) {
  Access c("cuda::scale_rows");
  c.device(a, rows * F, "a (per-row coefficients, uploaded)");
  c.device(x, rows * cols * F, "x");
  c.device(y, rows * cols * F, "y");
  cpu::scale_rows(rows, cols, a, x, y);
}
void axpby_rows(int64_t rows, int64_t cols, const float* a, const float* x, const float* b,
                const float* z, float* y) {
  Access c("cuda::axpby_rows");
  c.device(a, rows * F, "a (per-row coefficients, uploaded)");
  c.device(b, rows * F, "b (per-row coefficients, uploaded)");
  c.device(x, rows * cols * F, "x");
  c.device(z, rows * cols * F, "z");
  c.device(y, rows * cols * F, "y");
  cpu::axpby_rows(rows, cols, a, x, b, z, y);
}
void sumsq_rows(int64_t rows, int64_t cols, const float* x, double* out) {
  Access c("cuda::sumsq_rows");
  c.device(x, rows * cols * F, "x");
  c.device(out, rows * 8, "out");
  cpu::sumsq_rows(rows, cols, x, out);
}
double weighted_mse_forward(int64_t samples, int64_t per, const float* pred, const float* target,
                            const float* weight, float* per_sample) {
  Access c("cuda::weighted_mse_forward");
  c.device(pred, samples * per * F, "pred");
  c.device(target, samples * per * F, "target");
  c.device(weight, samples * F, "weight");
  c.device(per_sample, samples * F, "per_sample", true);
  return cpu::weighted_mse_forward(samples, per, pred, target, weight, per_sample);
}
void weighted_mse_backward(int64_t samples, int64_t per, const float* pred, const float* target,
                           const float* weight, float* dpred) {
  Access c("cuda::weighted_mse_backward");
  c.device(pred, samples * per * F, "pred");
  c.device(target, samples * per * F, "target");
  c.device(weight, samples * F, "weight");
  c.device(dpred, samples * per * F, "dpred");
  cpu::weighted_mse_backward(samples, per, pred, target, weight, dpred);
}
void student_t_noise_f32(const float* y, float* out, const NoiseSpec& spec) {
  Access c("cuda::student_t_noise_f32");
  c.device(y, spec.count * spec.n * F, "y", true);
  c.device(out, spec.count * spec.n * F, "out");
  c.device(spec.sigma, spec.count * 8, "spec.sigma", true);
  cpu::student_t_noise_f32(y, out, spec);
}

// The rest of the physics twins: not used by networks, so not in this device.
namespace {
[[noreturn]] void absent(const char* what) {
  fail(code::kDevice, std::string(what) + " is not part of the fake-CUDA test addon");
}
}  // namespace
void student_t_noise_f64(const double*, double*, const NoiseSpec&) { absent("student_t_noise_f64"); }
void pfgm_perturb_f32(const float*, float*, float*, const PfgmSpec&) { absent("pfgm_perturb_f32"); }
void pfgm_perturb_f64(const double*, double*, double*, const PfgmSpec&) { absent("pfgm_perturb_f64"); }
void training_sigma_f32(float*, int64_t, double, double, const SampleStreams&) {
  absent("training_sigma_f32");
}
void training_sigma_f64(double*, int64_t, double, double, const SampleStreams&) {
  absent("training_sigma_f64");
}

}  // namespace pfgm::cuda
