// The CPU backend: every call forwards to the reference ops of src/native/ops, optim and physics,
// so a network on this backend computes exactly what the CPU engine always has.
#include <algorithm>
#include <cstring>
#include <new>

#include "../errors.h"
#include "../ops/elementwise.h"
#include "../ops/embedding.h"
#include "../ops/loss.h"
#include "../ops/rows.h"
#include "../physics/physics.h"
#include "backend.h"

namespace pfgm::nn {
namespace {

class CpuBackend final : public Backend {
 public:
  Device device() const override { return Device::cpu; }

  float* allocate(int64_t count) override {
    float* p = new (std::nothrow) float[static_cast<size_t>(count)]();
    if (p == nullptr) {
      fail(code::kMemory, "out of host memory: could not allocate " + std::to_string(count) +
                                   " floats for an activation (use a smaller batch)");
    }
    return p;
  }
  void release(float* p) override { delete[] p; }
  void copy(int64_t count, const float* src, float* dst) override {
    if (count > 0 && src != dst) std::memmove(dst, src, static_cast<size_t>(count) * sizeof(float));
  }
  void fill(int64_t count, float value, float* y) override { std::fill(y, y + count, value); }
  void upload(int64_t count, const float* host, float* dst) override { copy(count, host, dst); }
  void download(int64_t count, const float* src, float* host) override { copy(count, src, host); }

  void linear_forward(const op::LinearShape& s, const float* x, const float* w, const float* b,
                      float* y) override {
    cpu::linear_forward(s, x, w, b, y);
  }
  void linear_backward(const op::LinearShape& s, const float* x, const float* w, const float* dy,
                       float* dx, float* dw, float* db) override {
    cpu::linear_backward(s, x, w, dy, dx, dw, db);
  }
  void conv2d_forward(const op::Conv2dShape& s, const float* x, const float* w, const float* b,
                      float* y) override {
    cpu::conv2d_forward(s, x, w, b, y);
  }
  void conv2d_backward(const op::Conv2dShape& s, const float* x, const float* w, const float* dy,
                       float* dx, float* dw, float* db) override {
    cpu::conv2d_backward(s, x, w, dy, dx, dw, db);
  }
  void attention_forward(const op::AttentionShape& s, const float* qkv, float* out,
                         float* weights) override {
    cpu::attention_forward(s, qkv, out, weights);
  }
  void attention_backward(const op::AttentionShape& s, const float* qkv, const float* weights,
                          const float* dout, float* dqkv) override {
    cpu::attention_backward(s, qkv, weights, dout, dqkv);
  }
  void fir_down_forward(const op::ResampleShape& s, const float* x, float* y) override {
    cpu::fir_down_forward(s, x, y);
  }
  void fir_down_backward(const op::ResampleShape& s, const float* dy, float* dx) override {
    cpu::fir_down_backward(s, dy, dx);
  }
  void fir_up_forward(const op::ResampleShape& s, const float* x, float* y) override {
    cpu::fir_up_forward(s, x, y);
  }
  void fir_up_backward(const op::ResampleShape& s, const float* dy, float* dx) override {
    cpu::fir_up_backward(s, dy, dx);
  }
  void group_norm_forward(const op::GroupNormShape& s, const float* x, const float* shift,
                          const float* gamma, const float* beta, float* y, float* mean,
                          float* rstd) override {
    cpu::group_norm_forward(s, x, shift, gamma, beta, y, mean, rstd);
  }
  void group_norm_backward(const op::GroupNormShape& s, const float* x, const float* shift,
                           const float* gamma, const float* beta, const float* mean,
                           const float* rstd, const float* dy, float* dx, float* dgamma,
                           float* dbeta, float* dshift) override {
    cpu::group_norm_backward(s, x, shift, gamma, beta, mean, rstd, dy, dx, dgamma, dbeta, dshift);
  }

  void silu_forward(int64_t count, const float* x, float* y) override { cpu::silu_forward(count, x, y); }
  void silu_backward(int64_t count, const float* x, const float* dy, float* dx) override {
    cpu::silu_backward(count, x, dy, dx);
  }
  void dropout_forward(const op::DropoutSpec& s, const float* x, float* y) override {
    cpu::dropout_forward(s, x, y);
  }
  void dropout_backward(const op::DropoutSpec& s, const float* dy, float* dx) override {
    cpu::dropout_backward(s, dy, dx);
  }
  void axpby(int64_t count, float alpha, const float* a, float beta, const float* b,
             float* y) override {
    cpu::axpby(count, alpha, a, beta, b, y);
  }
  void scale(int64_t count, float alpha, const float* a, float* y) override {
    cpu::scale(count, alpha, a, y);
  }
  void concat_channels(int64_t pixels, int64_t ca, const float* a, int64_t cb, const float* b,
                       float* y) override {
    cpu::concat_channels(pixels, ca, a, cb, b, y);
  }
  void split_channels(int64_t pixels, int64_t ca, float* da, int64_t cb, float* db,
                      const float* dy) override {
    cpu::split_channels(pixels, ca, da, cb, db, dy);
  }
  void add_channel_bias(int64_t n, int64_t hw, int64_t c, const float* x, const float* bias,
                        float* y) override {
    cpu::add_channel_bias(n, hw, c, x, bias, y);
  }
  void nchw_to_nhwc(int64_t n, int64_t c, int64_t h, int64_t w, const float* x, float* y) override {
    cpu::nchw_to_nhwc(n, c, h, w, x, y);
  }
  void nhwc_to_nchw(int64_t n, int64_t c, int64_t h, int64_t w, const float* x, float* y) override {
    cpu::nhwc_to_nchw(n, c, h, w, x, y);
  }
  void positional_embedding(int64_t n, int64_t channels, double max_positions, bool endpoint,
                            const float* x, float* y) override {
    cpu::positional_embedding(n, channels, max_positions, endpoint, x, y);
  }
  void fourier_embedding(int64_t n, int64_t channels, const float* freqs, const float* x,
                         float* y) override {
    cpu::fourier_embedding(n, channels, freqs, x, y);
  }
  void label_input(const op::LabelInputSpec& s, const float* labels, float* out) override {
    cpu::label_input(s, labels, out);
  }
  void swap_halves(int64_t rows, int64_t cols, const float* x, float* y) override {
    cpu::swap_halves(rows, cols, x, y);
  }
  void sum_columns(int64_t rows, int64_t cols, const float* x, float* out) override {
    cpu::sum_columns(rows, cols, x, out);
  }
  void scale_rows(int64_t rows, int64_t cols, const float* a, const float* x, float* y) override {
    cpu::scale_rows(rows, cols, a, x, y);
  }
  void axpby_rows(int64_t rows, int64_t cols, const float* a, const float* x, const float* b,
                  const float* z, float* y) override {
    cpu::axpby_rows(rows, cols, a, x, b, z, y);
  }
  void sumsq_rows(int64_t rows, int64_t cols, const float* x, double* out) override {
    cpu::sumsq_rows(rows, cols, x, out);
  }

  double weighted_mse_forward(int64_t samples, int64_t per_sample, const float* pred,
                              const float* target, const float* weight) override {
    return cpu::weighted_mse_forward(samples, per_sample, pred, target, weight, nullptr);
  }
  void weighted_mse_backward(int64_t samples, int64_t per_sample, const float* pred,
                             const float* target, const float* weight, float* dpred) override {
    cpu::weighted_mse_backward(samples, per_sample, pred, target, weight, dpred);
  }
  optim::GradStats grad_stats(int64_t count, const float* g) override {
    return optim::grad_stats(count, g);
  }
  void adam_step(int64_t count, float* p, const float* g, float* m, float* v, double lr,
                 double beta1, double beta2, double eps, int64_t t, float grad_scale, float* ema,
                 double ema_beta) override {
    optim::adam_step(count, p, g, m, v, lr, beta1, beta2, eps, t, grad_scale, ema, ema_beta);
  }
  void axpy(int64_t count, float alpha, const float* x, float* y) override {
    optim::axpy(count, alpha, x, y);
  }
  void student_t_noise_f32(float* out, const NoiseSpec& spec) override {
    cpu::student_t_noise_f32(nullptr, out, spec);
  }
};

}  // namespace

Backend& cpu_backend() {
  static CpuBackend backend;
  return backend;
}

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::kFp32: return "fp32";
    case Precision::kTf32: return "tf32";
    case Precision::kBf16: return "bf16";
  }
  return "fp32";
}

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::kFp32;
  if (name == "tf32") return Precision::kTf32;
  if (name == "bf16") return Precision::kBf16;
  fail(code::kArgument, "unknown precision '" + name + "' (use 'fp32', 'tf32' or 'bf16')");
}

const float* host_view(Backend& be, const float* p, int64_t count, std::vector<float>& tmp) {
  if (be.device() == Device::cpu) return p;
  tmp.resize(static_cast<size_t>(count));
  be.download(count, p, tmp.data());
  return tmp.data();
}

float* host_target(Backend& be, float* p, int64_t count, std::vector<float>& tmp) {
  if (be.device() == Device::cpu) return p;
  tmp.resize(static_cast<size_t>(count));
  return tmp.data();
}

void commit_host(Backend& be, float* p, int64_t count, const std::vector<float>& tmp) {
  if (be.device() == Device::cpu) return;
  be.upload(count, tmp.data(), p);
}

float* host_edit(Backend& be, float* p, int64_t count, std::vector<float>& tmp) {
  float* h = host_target(be, p, count, tmp);
  if (h != p) be.download(count, p, h);
  return h;
}

}  // namespace pfgm::nn
