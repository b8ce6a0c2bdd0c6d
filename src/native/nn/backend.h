// The ops a network runs, on one device (DESIGN "One op, two backends"). The modules of nn/ and the
// training session call only these, so one module tree runs on the CPU engine (cpu_backend(),
// which forwards to pfgm::cpu::, the readable reference) and on CUDA (cuda_backend(), in
// cuda/backend.cu, which forwards to the pfgm::cuda:: twins). Every pointer is in the backend's
// memory unless a parameter says "host": per-sample coefficients (sigma, c_in, loss weights) are
// computed on the host and are a few floats per sample.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../ops/attention.h"
#include "../ops/conv.h"
#include "../ops/embedding.h"
#include "../ops/group_norm.h"
#include "../ops/linear.h"
#include "../ops/resample.h"
#include "../ops/activation.h"
#include "../optim/optim.h"
#include "../physics/noise.h"
#include "../tensor.h"

namespace pfgm::nn {

// How the CUDA backend runs convolutions and matrix products; the CPU backend is always fp32.
// kBf16 is autocast: bf16 operands, fp32 accumulation, fp32 results, fp32 master weights.
enum class Precision { kFp32, kTf32, kBf16 };
const char* precision_name(Precision p);
Precision parse_precision(const std::string& name);

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  virtual Precision precision() const { return Precision::kFp32; }

  // --- memory: arrays of floats on this device -----------------------------------------------
  virtual float* allocate(int64_t count) = 0;  // zero-filled
  virtual void release(float* p) = 0;
  virtual void copy(int64_t count, const float* src, float* dst) = 0;
  virtual void fill(int64_t count, float value, float* y) = 0;
  virtual void upload(int64_t count, const float* host, float* dst) = 0;
  virtual void download(int64_t count, const float* src, float* host) = 0;

  // --- the heavy ops ---------------------------------------------------------------------------
  virtual void linear_forward(const op::LinearShape& s, const float* x, const float* w,
                              const float* b, float* y) = 0;
  virtual void linear_backward(const op::LinearShape& s, const float* x, const float* w,
                               const float* dy, float* dx, float* dw, float* db) = 0;
  virtual void conv2d_forward(const op::Conv2dShape& s, const float* x, const float* w,
                              const float* b, float* y) = 0;
  virtual void conv2d_backward(const op::Conv2dShape& s, const float* x, const float* w,
                               const float* dy, float* dx, float* dw, float* db) = 0;
  virtual void attention_forward(const op::AttentionShape& s, const float* qkv, float* out,
                                 float* weights) = 0;
  virtual void attention_backward(const op::AttentionShape& s, const float* qkv,
                                  const float* weights, const float* dout, float* dqkv) = 0;
  // FIR resampling; the shape's filter taps are on the host.
  virtual void fir_down_forward(const op::ResampleShape& s, const float* x, float* y) = 0;
  virtual void fir_down_backward(const op::ResampleShape& s, const float* dy, float* dx) = 0;
  virtual void fir_up_forward(const op::ResampleShape& s, const float* x, float* y) = 0;
  virtual void fir_up_backward(const op::ResampleShape& s, const float* dy, float* dx) = 0;
  virtual void group_norm_forward(const op::GroupNormShape& s, const float* x, const float* shift,
                                  const float* gamma, const float* beta, float* y, float* mean,
                                  float* rstd) = 0;
  virtual void group_norm_backward(const op::GroupNormShape& s, const float* x,
                                   const float* shift, const float* gamma, const float* beta,
                                   const float* mean, const float* rstd, const float* dy,
                                   float* dx, float* dgamma, float* dbeta, float* dshift) = 0;

  // --- memory-bound ops --------------------------------------------------------------------------
  virtual void silu_forward(int64_t count, const float* x, float* y) = 0;
  virtual void silu_backward(int64_t count, const float* x, const float* dy, float* dx) = 0;
  virtual void dropout_forward(const op::DropoutSpec& s, const float* x, float* y) = 0;
  virtual void dropout_backward(const op::DropoutSpec& s, const float* dy, float* dx) = 0;
  virtual void axpby(int64_t count, float alpha, const float* a, float beta, const float* b,
                     float* y) = 0;
  virtual void scale(int64_t count, float alpha, const float* a, float* y) = 0;
  virtual void concat_channels(int64_t pixels, int64_t ca, const float* a, int64_t cb,
                               const float* b, float* y) = 0;
  virtual void split_channels(int64_t pixels, int64_t ca, float* da, int64_t cb, float* db,
                              const float* dy) = 0;
  virtual void add_channel_bias(int64_t n, int64_t hw, int64_t c, const float* x,
                                const float* bias, float* y) = 0;
  virtual void nchw_to_nhwc(int64_t n, int64_t c, int64_t h, int64_t w, const float* x,
                            float* y) = 0;
  virtual void nhwc_to_nchw(int64_t n, int64_t c, int64_t h, int64_t w, const float* x,
                            float* y) = 0;
  virtual void positional_embedding(int64_t n, int64_t channels, double max_positions,
                                    bool endpoint, const float* x, float* y) = 0;
  virtual void fourier_embedding(int64_t n, int64_t channels, const float* freqs, const float* x,
                                 float* y) = 0;
  // map_label's input with EDM's label dropout; labels may be null (zeros).
  virtual void label_input(const op::LabelInputSpec& s, const float* labels, float* out) = 0;
  // ops/rows.h: per-row coefficients (host) and per-row / per-column reductions.
  virtual void swap_halves(int64_t rows, int64_t cols, const float* x, float* y) = 0;
  virtual void sum_columns(int64_t rows, int64_t cols, const float* x, float* out) = 0;
  virtual void scale_rows(int64_t rows, int64_t cols, const float* a_host, const float* x,
                          float* y) = 0;
  virtual void axpby_rows(int64_t rows, int64_t cols, const float* a_host, const float* x,
                          const float* b_host, const float* z, float* y) = 0;
  virtual void sumsq_rows(int64_t rows, int64_t cols, const float* x, double* out_host) = 0;

  // --- loss, optimizer, physics --------------------------------------------------------------
  virtual double weighted_mse_forward(int64_t samples, int64_t per_sample, const float* pred,
                                      const float* target, const float* weight_host) = 0;
  virtual void weighted_mse_backward(int64_t samples, int64_t per_sample, const float* pred,
                                     const float* target, const float* weight_host,
                                     float* dpred) = 0;
  virtual optim::GradStats grad_stats(int64_t count, const float* g) = 0;
  virtual void adam_step(int64_t count, float* p, const float* g, float* m, float* v, double lr,
                         double beta1, double beta2, double eps, int64_t t, float grad_scale,
                         float* ema, double ema_beta) = 0;
  virtual void axpy(int64_t count, float alpha, const float* x, float* y) = 0;
  // METHOD (2.2) noise into `out` (no data added); spec.sigma is on the host.
  virtual void student_t_noise_f32(float* out, const NoiseSpec& spec) = 0;
};

Backend& cpu_backend();
// The CUDA backend for `precision` (cuda/backend.cu). ERR_PFGM_DEVICE, saying why, in the CPU-only
// build or where no GPU is usable.
Backend& cuda_backend(Precision precision);
// A test device without a GPU (backend_guarded.cc): the CPU ops on memory the host cannot touch,
// with every device and host pointer checked, so the staging that CUDA needs is exercised on any
// machine. Reached only through the native Network config's device 'cpu-guarded'.
Backend& guarded_backend();

// Host access to backend memory for the few host-side loops (PFGM's field packing, the adaptive
// scale's chain rule): on the CPU the pointer itself, elsewhere a copy in `tmp`.
const float* host_view(Backend& be, const float* p, int64_t count, std::vector<float>& tmp);
// A host array to write `count` values that commit_host() then places at `p`.
float* host_target(Backend& be, float* p, int64_t count, std::vector<float>& tmp);
void commit_host(Backend& be, float* p, int64_t count, const std::vector<float>& tmp);
// host_target() holding the current values of p, for a read-modify-write.
float* host_edit(Backend& be, float* p, int64_t count, std::vector<float>& tmp);

}  // namespace pfgm::nn
