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

#include <algorithm>
#include <cstring>
#include <string>

#include "../../../cuda/allocator.cuh"
#include "../../../cuda/attention_blas.cuh"
#include "../../../cuda/dense.cuh"
#include "../../../cuda/ops.h"
#include "device.h"
#include "errors.h"
#include "nn/guarded.h"
#include "ops/activation.h"
#include "ops/attention.h"
#include "ops/conv.h"
#include "ops/elementwise.h"
#include "ops/embedding.h"
#include "ops/group_norm.h"
#include "ops/linear.h"
#include "ops/loss.h"
#include "ops/resample.h"
#include "ops/rows.h"
#include "optim/optim.h"
#include "physics/physics.h"

using pfgm::nn::guarded::Access;

namespace {
constexpr int64_t F = sizeof(float);
int64_t nhwc(const pfgm::cpu::Nhwc& t) { return t.n * t.h * t.w * t.c; }
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
  Access a("gpu::column_sums");
  a.device(dy, rows * cols * F, "dy");
  a.device(out, cols * F, "out");
  cpu::sum_columns(rows, cols, dy, out);
}

}  // namespace pfgm::gpu

namespace pfgm::cuda {

void axpby(int64_t n, float alpha, const float* a, float beta, const float* b, float* y) {
  Access c("cuda::axpby");
  c.device(a, n * F, "a");
  c.device(b, n * F, "b");
  c.device(y, n * F, "y");
  cpu::axpby(n, alpha, a, beta, b, y);
}
void scale(int64_t n, float alpha, const float* a, float* y) {
  Access c("cuda::scale");
  c.device(a, n * F, "a");
  c.device(y, n * F, "y");
  cpu::scale(n, alpha, a, y);
}
void concat_channels(int64_t p, int64_t ca, const float* a, int64_t cb, const float* b, float* y) {
  Access c("cuda::concat_channels");
  c.device(a, p * ca * F, "a");
  c.device(b, p * cb * F, "b");
  c.device(y, p * (ca + cb) * F, "y");
  cpu::concat_channels(p, ca, a, cb, b, y);
}
void split_channels(int64_t p, int64_t ca, float* da, int64_t cb, float* db, const float* dy) {
  Access c("cuda::split_channels");
  c.device(da, p * ca * F, "da", true);
  c.device(db, p * cb * F, "db", true);
  c.device(dy, p * (ca + cb) * F, "dy");
  cpu::split_channels(p, ca, da, cb, db, dy);
}
void add_channel_bias(int64_t n, int64_t hw, int64_t ch, const float* x, const float* bias,
                      float* y) {
  Access c("cuda::add_channel_bias");
  c.device(x, n * hw * ch * F, "x");
  c.device(bias, n * ch * F, "bias");
  c.device(y, n * hw * ch * F, "y");
  cpu::add_channel_bias(n, hw, ch, x, bias, y);
}
void nchw_to_nhwc(int64_t n, int64_t ch, int64_t h, int64_t w, const float* x, float* y) {
  Access c("cuda::nchw_to_nhwc");
  c.device(x, n * ch * h * w * F, "x");
  c.device(y, n * ch * h * w * F, "y");
  cpu::nchw_to_nhwc(n, ch, h, w, x, y);
}
void nhwc_to_nchw(int64_t n, int64_t ch, int64_t h, int64_t w, const float* x, float* y) {
  Access c("cuda::nhwc_to_nchw");
  c.device(x, n * ch * h * w * F, "x");
  c.device(y, n * ch * h * w * F, "y");
  cpu::nhwc_to_nchw(n, ch, h, w, x, y);
}
void silu_forward(int64_t n, const float* x, float* y) {
  Access c("cuda::silu_forward");
  c.device(x, n * F, "x");
  c.device(y, n * F, "y");
  cpu::silu_forward(n, x, y);
}
void silu_backward(int64_t n, const float* x, const float* dy, float* dx) {
  Access c("cuda::silu_backward");
  c.device(x, n * F, "x");
  c.device(dy, n * F, "dy");
  c.device(dx, n * F, "dx");
  cpu::silu_backward(n, x, dy, dx);
}
void dropout_forward(const cpu::DropoutSpec& s, const float* x, float* y) {
  Access c("cuda::dropout_forward");
  c.device(x, s.samples * s.per_sample * F, "x");
  c.device(y, s.samples * s.per_sample * F, "y");
  cpu::dropout_forward(s, x, y);
}
void dropout_backward(const cpu::DropoutSpec& s, const float* dy, float* dx) {
  Access c("cuda::dropout_backward");
  c.device(dy, s.samples * s.per_sample * F, "dy");
  c.device(dx, s.samples * s.per_sample * F, "dx");
  cpu::dropout_backward(s, dy, dx);
}
void group_norm_forward(const cpu::GroupNormShape& s, const float* x, const float* shift,
                        const float* gamma, const float* beta, float* y, float* mean, float* rstd) {
  Access c("cuda::group_norm_forward");
  const int64_t size = s.n * s.hw * s.c * F;
  c.device(x, size, "x");
  c.device(shift, s.n * s.c * F, "shift", true);
  c.device(gamma, s.c * F, "gamma");
  c.device(beta, s.c * F, "beta");
  c.device(y, size, "y");
  c.device(mean, s.n * s.groups * F, "mean");
  c.device(rstd, s.n * s.groups * F, "rstd");
  cpu::group_norm_forward(s, x, shift, gamma, beta, y, mean, rstd);
}
void group_norm_backward(const cpu::GroupNormShape& s, const float* x, const float* shift,
                         const float* gamma, const float* beta, const float* mean,
                         const float* rstd, const float* dy, float* dx, float* dgamma,
                         float* dbeta, float* dshift) {
  Access c("cuda::group_norm_backward");
  const int64_t size = s.n * s.hw * s.c * F;
  c.device(x, size, "x");
  c.device(shift, s.n * s.c * F, "shift", true);
  c.device(gamma, s.c * F, "gamma");
  c.device(beta, s.c * F, "beta");
  c.device(mean, s.n * s.groups * F, "mean");
  c.device(rstd, s.n * s.groups * F, "rstd");
  c.device(dy, size, "dy");
  c.device(dx, size, "dx");
  c.device(dgamma, s.c * F, "dgamma", true);
  c.device(dbeta, s.c * F, "dbeta", true);
  c.device(dshift, s.n * s.c * F, "dshift", true);
  cpu::group_norm_backward(s, x, shift, gamma, beta, mean, rstd, dy, dx, dgamma, dbeta, dshift);
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
optim::GradStats grad_stats(int64_t n, const float* g) {
  Access c("cuda::grad_stats");
  c.device(g, n * F, "g");
  return optim::grad_stats(n, g);
}
void adam_step(int64_t n, float* p, const float* g, float* m, float* v, double lr, double beta1,
               double beta2, double eps, int64_t t, float grad_scale, float* ema, double ema_beta) {
  Access c("cuda::adam_step");
  c.device(p, n * F, "param");
  c.device(g, n * F, "grad");
  c.device(m, n * F, "m");
  c.device(v, n * F, "v");
  c.device(ema, n * F, "ema", true);
  optim::adam_step(n, p, g, m, v, lr, beta1, beta2, eps, t, grad_scale, ema, ema_beta);
}
void axpy(int64_t n, float alpha, const float* x, float* y) {
  Access c("cuda::axpy");
  c.device(x, n * F, "x");
  c.device(y, n * F, "y");
  optim::axpy(n, alpha, x, y);
}
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
void swap_halves(int64_t rows, int64_t cols, const float* x, float* y) {
  Access c("cuda::swap_halves");
  c.device(x, rows * cols * F, "x");
  c.device(y, rows * cols * F, "y");
  cpu::swap_halves(rows, cols, x, y);
}
void fill(int64_t n, float value, float* y) {
  Access c("cuda::fill");
  c.device(y, n * F, "y");
  std::fill(y, y + n, value);
}
void attention_forward(const cpu::AttentionShape& s, const float* qkv, float* out, float* w) {
  Access c("cuda::attention_forward");
  c.device(qkv, s.n * s.hw * 3 * s.c * F, "qkv");
  c.device(out, s.n * s.hw * s.c * F, "out");
  c.device(w, s.n * s.heads * s.hw * s.hw * F, "weights", true);
  cpu::attention_forward(s, qkv, out, w);
}
void attention_backward(const cpu::AttentionShape& s, const float* qkv, const float* w,
                        const float* dout, float* dqkv) {
  Access c("cuda::attention_backward");
  c.device(qkv, s.n * s.hw * 3 * s.c * F, "qkv");
  c.device(w, s.n * s.heads * s.hw * s.hw * F, "weights");
  c.device(dout, s.n * s.hw * s.c * F, "dout");
  c.device(dqkv, s.n * s.hw * 3 * s.c * F, "dqkv");
  cpu::attention_backward(s, qkv, w, dout, dqkv);
}
void attention_forward_blas(const cpu::AttentionShape& s, const float* qkv, float* out, float* w,
                            MathMode) {
  cuda::attention_forward(s, qkv, out, w);
}
void attention_backward_blas(const cpu::AttentionShape& s, const float* qkv, const float* w,
                             const float* dout, float* dqkv, MathMode) {
  cuda::attention_backward(s, qkv, w, dout, dqkv);
}
void fir_down_forward(const cpu::ResampleShape& s, const float* x, float* y) {
  Access c("cuda::fir_down_forward");
  c.host(s.f, "taps (copied by value into the kernel's arguments)");
  c.device(x, nhwc(s.in) * F, "x");
  c.device(y, s.in.n * s.down_h() * s.down_w() * s.in.c * F, "y");
  cpu::fir_down_forward(s, x, y);
}
void fir_down_backward(const cpu::ResampleShape& s, const float* dy, float* dx) {
  Access c("cuda::fir_down_backward");
  c.host(s.f, "taps (copied by value into the kernel's arguments)");
  c.device(dy, s.in.n * s.down_h() * s.down_w() * s.in.c * F, "dy");
  c.device(dx, nhwc(s.in) * F, "dx");
  cpu::fir_down_backward(s, dy, dx);
}
void fir_up_forward(const cpu::ResampleShape& s, const float* x, float* y) {
  Access c("cuda::fir_up_forward");
  c.host(s.f, "taps (copied by value into the kernel's arguments)");
  c.device(x, nhwc(s.in) * F, "x");
  c.device(y, s.in.n * s.up_h() * s.up_w() * s.in.c * F, "y");
  cpu::fir_up_forward(s, x, y);
}
void fir_up_backward(const cpu::ResampleShape& s, const float* dy, float* dx) {
  Access c("cuda::fir_up_backward");
  c.host(s.f, "taps (copied by value into the kernel's arguments)");
  c.device(dy, s.in.n * s.up_h() * s.up_w() * s.in.c * F, "dy");
  c.device(dx, nhwc(s.in) * F, "dx");
  cpu::fir_up_backward(s, dy, dx);
}
void positional_embedding(int64_t n, int64_t ch, double max_positions, bool endpoint,
                          const float* x, float* y) {
  Access c("cuda::positional_embedding");
  c.device(x, n * F, "x");
  c.device(y, n * ch * F, "y");
  cpu::positional_embedding(n, ch, max_positions, endpoint, x, y);
}
void fourier_embedding(int64_t n, int64_t ch, const float* freqs, const float* x, float* y) {
  Access c("cuda::fourier_embedding");
  c.device(freqs, ch / 2 * F, "freqs");
  c.device(x, n * F, "x");
  c.device(y, n * ch * F, "y");
  cpu::fourier_embedding(n, ch, freqs, x, y);
}
void label_input(const cpu::LabelInputSpec& s, const float* labels, float* out) {
  Access c("cuda::label_input");
  c.device(labels, s.n * s.label_dim * F, "labels", true);
  c.device(out, s.n * s.label_dim * F, "out");
  cpu::label_input(s, labels, out);
}
// The math mode changes the GPU's rounding, not which values an op reads and writes: the CPU op
// here, after the same checks.
void conv2d_forward(const cpu::Conv2dShape& s, const float* x, const float* w, const float* b,
                    float* y, MathMode) {
  Access c("cuda::conv2d_forward");
  c.device(x, s.n * s.h * s.w * s.cin * F, "x");
  c.device(w, s.cout * s.cin * s.k * s.k * F, "weight");
  c.device(b, s.cout * F, "bias", true);
  c.device(y, s.n * s.oh() * s.ow() * s.cout * F, "y");
  cpu::conv2d_forward(s, x, w, b, y);
}
void conv2d_backward(const cpu::Conv2dShape& s, const float* x, const float* w, const float* dy,
                     float* dx, float* dw, float* db, MathMode) {
  Access c("cuda::conv2d_backward");
  c.device(x, s.n * s.h * s.w * s.cin * F, "x", true);
  c.device(w, s.cout * s.cin * s.k * s.k * F, "weight");
  c.device(dy, s.n * s.oh() * s.ow() * s.cout * F, "dy");
  c.device(dx, s.n * s.h * s.w * s.cin * F, "dx", true);
  c.device(dw, s.cout * s.cin * s.k * s.k * F, "dweight", true);
  c.device(db, s.cout * F, "dbias", true);
  cpu::conv2d_backward(s, x, w, dy, dx, dw, db);
}
void linear_forward(const cpu::LinearShape& s, const float* x, const float* w, const float* b,
                    float* y, MathMode) {
  Access c("cuda::linear_forward");
  c.device(x, s.rows * s.in * F, "x");
  c.device(w, s.out * s.in * F, "weight");
  c.device(b, s.out * F, "bias", true);
  c.device(y, s.rows * s.out * F, "y");
  cpu::linear_forward(s, x, w, b, y);
}
void linear_backward(const cpu::LinearShape& s, const float* x, const float* w, const float* dy,
                     float* dx, float* dw, float* db, MathMode) {
  Access c("cuda::linear_backward");
  c.device(x, s.rows * s.in * F, "x");
  c.device(w, s.out * s.in * F, "weight");
  c.device(dy, s.rows * s.out * F, "dy");
  c.device(dx, s.rows * s.in * F, "dx", true);
  c.device(dw, s.out * s.in * F, "dweight", true);
  c.device(db, s.out * F, "dbias", true);
  cpu::linear_backward(s, x, w, dy, dx, dw, db);
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
