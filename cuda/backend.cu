// The CUDA backend of the network modules (nn/backend.h): each call forwards to the pfgm::cuda::
// twin of the CPU op, queued on the engine stream. Host-side arguments of the interface (per-sample
// coefficients, loss weights, sigma) are uploaded to pooled scratch first; results that return to
// the host (the loss, gradient statistics, per-row norms) synchronize. Convolutions and matrix
// products run in the backend's precision (fp32, TF32, or bf16 autocast with fp32 accumulation);
// everything else, and every parameter, gradient and optimizer state, stays fp32.
#include <cuda_runtime.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "allocator.cuh"
#include "attention_blas.cuh"
#include "check.cuh"
#include "dense.cuh"
#include "device.h"
#include "launch.cuh"
#include "nn/backend.h"
#include "nn/profile.h"
#include "ops.h"
#include "physics/physics.h"

namespace pfgm::nn {
namespace {

// Attention's products through cuBLAS (attention_blas.cu: tensor cores in tf32 / bf16, about
// twice the tiled kernel's speed in fp32 by estimate) whenever cuBLAS is linked in; the tiled
// fp32 kernel (attention.cu) otherwise, or with PFGM_ATTENTION=tiled, which lets a GPU session
// compare the two or step around a cuBLAS refusal without rebuilding. Read once.
bool attention_through_cublas() {
#ifdef PFGM_HAVE_CUBLAS
  static const bool blas = [] {
    const char* v = std::getenv("PFGM_ATTENTION");
    return v == nullptr || std::string(v) != "tiled";
  }();
  return blas;
#else
  return false;
#endif
}

cuda::MathMode math_mode(Precision p) {
  switch (p) {
    case Precision::kFp32: return cuda::MathMode::kFp32;
    case Precision::kTf32: return cuda::MathMode::kTf32;
    case Precision::kBf16: return cuda::MathMode::kBf16;
  }
  return cuda::MathMode::kFp32;
}

// Host (pageable) memory to the device, done with `host` when this returns. The callers' host
// arrays are temporaries (the per-sample coefficients are std::vectors that die with the call),
// and for a pageable source CUDA documents only that cudaMemcpyAsync "might be synchronous"
// (runtime API, "API synchronization behavior"); waiting for the stream makes it so. The cost is
// small: pageable copies already wait for the stream in practice, and these run where the host
// waits anyway (before a network call, or next to the loss's synchronizing read).
void upload_pageable(void* dst, const void* host, size_t bytes, const char* what) {
  if (bytes == 0) return;
  gpu::check(cudaMemcpyAsync(dst, host, bytes, cudaMemcpyHostToDevice, gpu::engine_stream()), what);
  gpu::check(cudaStreamSynchronize(gpu::engine_stream()), what);
}

// A host array of T placed in pooled device memory for the duration of one call. The caching
// pool orders reuse on the engine stream, so freeing it right after queuing the kernel is safe.
template <typename T>
gpu::DeviceArray<T> to_device(const T* host, int64_t count) {
  gpu::DeviceArray<T> d(count, gpu::engine_stream());
  if (count > 0) {
    upload_pageable(d.get(), host, static_cast<size_t>(count) * sizeof(T),
                    "cudaMemcpyAsync (coefficients to the GPU)");
  }
  return d;
}

// PFGM_PROFILE=1 (nn/profile.h, bench/gpu-profile.mjs): each op's time on the GPU, under its
// name (and shape, for the convolutions and matrix products). The stream is drained before and
// after the op so that the host clock measures that op's GPU work alone, launch included: the
// step gets slower, but the shares show where its time goes. Off: one branch per op.
class OpTimer {
 public:
  explicit OpTimer(const char* op) {
    if (profile::enabled()) begin(op);
  }
  OpTimer(const char* op, const op::Conv2dShape& s) {
    if (!profile::enabled()) return;
    begin(std::string(op) + " k" + std::to_string(s.k) + " s" + std::to_string(s.stride) + " " +
          std::to_string(s.cin) + "->" + std::to_string(s.cout) + " @" + std::to_string(s.h) + "x" +
          std::to_string(s.w));
  }
  OpTimer(const char* op, const op::LinearShape& s) {
    if (!profile::enabled()) return;
    begin(std::string(op) + " " + std::to_string(s.in) + "->" + std::to_string(s.out) + " x" +
          std::to_string(s.rows));
  }
  ~OpTimer() {
    if (name_.empty()) return;
    cudaStreamSynchronize(gpu::engine_stream());  // errors surface at the op's own next check
    const auto d = std::chrono::steady_clock::now() - start_;
    profile::totals_ms()[name_] += std::chrono::duration<double, std::milli>(d).count();
  }
  OpTimer(const OpTimer&) = delete;
  OpTimer& operator=(const OpTimer&) = delete;

 private:
  void begin(std::string name) {
    cudaStreamSynchronize(gpu::engine_stream());
    name_ = std::move(name);
    start_ = std::chrono::steady_clock::now();
  }
  std::string name_;
  std::chrono::steady_clock::time_point start_;
};

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(Precision p) : precision_(p), math_(math_mode(p)) {}
  Device device() const override { return Device::cuda; }
  Precision precision() const override { return precision_; }

  float* allocate(int64_t count) override {
    OpTimer timer("gpu:allocate (zero-filled)");
    float* p = static_cast<float*>(gpu::allocate(static_cast<size_t>(count) * sizeof(float)));
    gpu::check(cudaMemsetAsync(p, 0, static_cast<size_t>(count) * sizeof(float), gpu::engine_stream()),
               "cudaMemsetAsync (a new activation)");
    return p;
  }
  void release(float* p) override { gpu::release(p); }
  void copy(int64_t count, const float* src, float* dst) override {
    if (count <= 0 || src == dst) return;
    OpTimer timer("gpu:copy");
    gpu::check(cudaMemcpyAsync(dst, src, static_cast<size_t>(count) * sizeof(float),
                               cudaMemcpyDeviceToDevice, gpu::engine_stream()),
               "cudaMemcpyAsync (device to device)");
  }
  void fill(int64_t count, float value, float* y) override { cuda::fill(count, value, y); }
  void upload(int64_t count, const float* host, float* dst) override {
    if (count <= 0) return;
    // `host` may be freed as soon as this returns (see upload_pageable).
    upload_pageable(dst, host, static_cast<size_t>(count) * sizeof(float),
                    "cudaMemcpyAsync (host to GPU)");
  }
  void download(int64_t count, const float* src, float* host) override {
    if (count <= 0) return;
    gpu::check(cudaMemcpyAsync(host, src, static_cast<size_t>(count) * sizeof(float),
                               cudaMemcpyDeviceToHost, gpu::engine_stream()),
               "cudaMemcpyAsync (GPU to host)");
    gpu::check(cudaStreamSynchronize(gpu::engine_stream()), "cudaStreamSynchronize (download)");
  }

  void linear_forward(const op::LinearShape& s, const float* x, const float* w, const float* b,
                      float* y) override {
    OpTimer timer("gpu:linear.forward", s);
    cuda::linear_forward(s, x, w, b, y, math_);
  }
  void linear_backward(const op::LinearShape& s, const float* x, const float* w, const float* dy,
                       float* dx, float* dw, float* db) override {
    OpTimer timer("gpu:linear.backward", s);
    cuda::linear_backward(s, x, w, dy, dx, dw, db, math_);
  }
  void conv2d_forward(const op::Conv2dShape& s, const float* x, const float* w, const float* b,
                      float* y) override {
    OpTimer timer("gpu:conv.forward", s);
    cuda::conv2d_forward(s, x, w, b, y, math_);
  }
  void conv2d_backward(const op::Conv2dShape& s, const float* x, const float* w, const float* dy,
                       float* dx, float* dw, float* db) override {
    OpTimer timer("gpu:conv.backward", s);
    cuda::conv2d_backward(s, x, w, dy, dx, dw, db, math_);
  }
  void attention_forward(const op::AttentionShape& s, const float* qkv, float* out,
                         float* weights) override {
    OpTimer timer("gpu:attention.forward");
    if (attention_through_cublas()) {
      cuda::attention_forward_blas(s, qkv, out, weights, math_);
    } else {
      cuda::attention_forward(s, qkv, out, weights);
    }
  }
  void attention_backward(const op::AttentionShape& s, const float* qkv, const float* weights,
                          const float* dout, float* dqkv) override {
    OpTimer timer("gpu:attention.backward");
    if (attention_through_cublas()) {
      cuda::attention_backward_blas(s, qkv, weights, dout, dqkv, math_);
    } else {
      cuda::attention_backward(s, qkv, weights, dout, dqkv);
    }
  }
  void fir_down_forward(const op::ResampleShape& s, const float* x, float* y) override {
    OpTimer timer("gpu:fir.down.forward");
    cuda::fir_down_forward(s, x, y);
  }
  void fir_down_backward(const op::ResampleShape& s, const float* dy, float* dx) override {
    OpTimer timer("gpu:fir.down.backward");
    cuda::fir_down_backward(s, dy, dx);
  }
  void fir_up_forward(const op::ResampleShape& s, const float* x, float* y) override {
    OpTimer timer("gpu:fir.up.forward");
    cuda::fir_up_forward(s, x, y);
  }
  void fir_up_backward(const op::ResampleShape& s, const float* dy, float* dx) override {
    OpTimer timer("gpu:fir.up.backward");
    cuda::fir_up_backward(s, dy, dx);
  }
  void group_norm_forward(const op::GroupNormShape& s, const float* x, const float* shift,
                          const float* gamma, const float* beta, float* y, float* mean,
                          float* rstd) override {
    OpTimer timer("gpu:group_norm.forward");
    cuda::group_norm_forward(s, x, shift, gamma, beta, y, mean, rstd);
  }
  void group_norm_backward(const op::GroupNormShape& s, const float* x, const float* shift,
                           const float* gamma, const float* beta, const float* mean,
                           const float* rstd, const float* dy, float* dx, float* dgamma,
                           float* dbeta, float* dshift) override {
    OpTimer timer("gpu:group_norm.backward");
    cuda::group_norm_backward(s, x, shift, gamma, beta, mean, rstd, dy, dx, dgamma, dbeta, dshift);
  }

  void silu_forward(int64_t count, const float* x, float* y) override {
    OpTimer timer("gpu:silu.forward");
    cuda::silu_forward(count, x, y);
  }
  void silu_backward(int64_t count, const float* x, const float* dy, float* dx) override {
    OpTimer timer("gpu:silu.backward");
    cuda::silu_backward(count, x, dy, dx);
  }
  void dropout_forward(const op::DropoutSpec& s, const float* x, float* y) override {
    OpTimer timer("gpu:dropout.forward");
    cuda::dropout_forward(s, x, y);
  }
  void dropout_backward(const op::DropoutSpec& s, const float* dy, float* dx) override {
    OpTimer timer("gpu:dropout.backward");
    cuda::dropout_backward(s, dy, dx);
  }
  void axpby(int64_t count, float alpha, const float* a, float beta, const float* b,
             float* y) override {
    OpTimer timer("gpu:axpby");
    cuda::axpby(count, alpha, a, beta, b, y);
  }
  void scale(int64_t count, float alpha, const float* a, float* y) override {
    OpTimer timer("gpu:scale");
    cuda::scale(count, alpha, a, y);
  }
  void concat_channels(int64_t pixels, int64_t ca, const float* a, int64_t cb, const float* b,
                       float* y) override {
    OpTimer timer("gpu:concat_channels");
    cuda::concat_channels(pixels, ca, a, cb, b, y);
  }
  void split_channels(int64_t pixels, int64_t ca, float* da, int64_t cb, float* db,
                      const float* dy) override {
    OpTimer timer("gpu:split_channels");
    cuda::split_channels(pixels, ca, da, cb, db, dy);
  }
  void add_channel_bias(int64_t n, int64_t hw, int64_t c, const float* x, const float* bias,
                        float* y) override {
    OpTimer timer("gpu:add_channel_bias");
    cuda::add_channel_bias(n, hw, c, x, bias, y);
  }
  void nchw_to_nhwc(int64_t n, int64_t c, int64_t h, int64_t w, const float* x, float* y) override {
    cuda::nchw_to_nhwc(n, c, h, w, x, y);
  }
  void nhwc_to_nchw(int64_t n, int64_t c, int64_t h, int64_t w, const float* x, float* y) override {
    cuda::nhwc_to_nchw(n, c, h, w, x, y);
  }
  void positional_embedding(int64_t n, int64_t channels, double max_positions, bool endpoint,
                            const float* x, float* y) override {
    cuda::positional_embedding(n, channels, max_positions, endpoint, x, y);
  }
  void fourier_embedding(int64_t n, int64_t channels, const float* freqs, const float* x,
                         float* y) override {
    cuda::fourier_embedding(n, channels, freqs, x, y);
  }
  void label_input(const op::LabelInputSpec& s, const float* labels, float* out) override {
    cuda::label_input(s, labels, out);
  }
  void swap_halves(int64_t rows, int64_t cols, const float* x, float* y) override {
    cuda::swap_halves(rows, cols, x, y);
  }
  void sum_columns(int64_t rows, int64_t cols, const float* x, float* out) override {
    OpTimer timer("gpu:sum_columns");
    gpu::column_sums(rows, cols, x, out);
  }
  void scale_rows(int64_t rows, int64_t cols, const float* a, const float* x, float* y) override {
    const auto da = to_device(a, rows);
    cuda::scale_rows(rows, cols, da.get(), x, y);
  }
  void axpby_rows(int64_t rows, int64_t cols, const float* a, const float* x, const float* b,
                  const float* z, float* y) override {
    const auto da = to_device(a, rows), db = to_device(b, rows);
    cuda::axpby_rows(rows, cols, da.get(), x, db.get(), z, y);
  }
  void sumsq_rows(int64_t rows, int64_t cols, const float* x, double* out) override {
    gpu::DeviceArray<double> d(rows, gpu::engine_stream());
    cuda::sumsq_rows(rows, cols, x, d.get());
    if (rows > 0) {
      gpu::check(cudaMemcpyAsync(out, d.get(), static_cast<size_t>(rows) * sizeof(double),
                                 cudaMemcpyDeviceToHost, gpu::engine_stream()),
                 "cudaMemcpyAsync (row norms to the host)");
      gpu::check(cudaStreamSynchronize(gpu::engine_stream()), "cudaStreamSynchronize (row norms)");
    }
  }

  double weighted_mse_forward(int64_t samples, int64_t per_sample, const float* pred,
                              const float* target, const float* weight) override {
    OpTimer timer("gpu:loss.forward");
    const auto dw = to_device(weight, samples);
    return cuda::weighted_mse_forward(samples, per_sample, pred, target, dw.get(), nullptr);
  }
  void weighted_mse_backward(int64_t samples, int64_t per_sample, const float* pred,
                             const float* target, const float* weight, float* dpred) override {
    OpTimer timer("gpu:loss.backward");
    const auto dw = to_device(weight, samples);
    cuda::weighted_mse_backward(samples, per_sample, pred, target, dw.get(), dpred);
  }
  optim::GradStats grad_stats(int64_t count, const float* g) override {
    OpTimer timer("gpu:grad_stats");
    return cuda::grad_stats(count, g);
  }
  void adam_step(int64_t count, float* p, const float* g, float* m, float* v, double lr,
                 double beta1, double beta2, double eps, int64_t t, float grad_scale, float* ema,
                 double ema_beta) override {
    OpTimer timer("gpu:adam_ema");
    cuda::adam_step(count, p, g, m, v, lr, beta1, beta2, eps, t, grad_scale, ema, ema_beta);
  }
  void axpy(int64_t count, float alpha, const float* x, float* y) override {
    OpTimer timer("gpu:axpy");
    cuda::axpy(count, alpha, x, y);
  }
  void student_t_noise_f32(float* out, const NoiseSpec& spec) override {
    // physics.cu launches one block per sample: an empty batch would be a grid of 0 blocks
    // (cudaErrorInvalidConfiguration). The CPU op writes nothing then either.
    if (spec.count <= 0 || spec.n <= 0) return;
    NoiseSpec d = spec;
    gpu::DeviceArray<double> sigma;
    if (spec.sigma != nullptr) {
      sigma = to_device(spec.sigma, spec.count);
      d.sigma = sigma.get();
    }
    OpTimer timer("gpu:student_t_noise");
    cuda::student_t_noise_f32(nullptr, out, d);
  }

 private:
  Precision precision_;
  cuda::MathMode math_;
};

}  // namespace

Backend& cuda_backend(Precision precision) {
  const gpu::Info info = gpu::query();
  if (!info.available) {
    fail(code::kDevice, "device 'cuda' is not usable here: " + info.reason +
                            " (use device 'cpu' or 'auto')");
  }
  static CudaBackend fp32(Precision::kFp32), tf32(Precision::kTf32), bf16(Precision::kBf16);
  switch (precision) {
    case Precision::kFp32: return fp32;
    case Precision::kTf32: return tf32;
    case Precision::kBf16: return bf16;
  }
  return fp32;
}

}  // namespace pfgm::nn
