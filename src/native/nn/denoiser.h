// EDM preconditioning around a backbone (docs/method.md §2.2) and the weighted loss:
//   D(x, sigma) = c_skip x + c_out F(c_in x, ln(sigma) / 4)
//   loss = mean_i lambda(sigma_i) ||D(x_i, sigma_i) - y_i||^2,  lambda = (s^2 + sd^2) / (s sd)^2
// The denoiser speaks PyTorch's layout (NCHW images, [n, N] vectors); the backbone is NHWC.
// Arrays are in the context's backend memory, except the per-sample sigma and z, which are on
// the host: the coefficients are computed there, a few numbers per sample, except those of an
// adaptive scale when sampling, which depend on x's norms and so are computed where x is
// (Backend::adaptive_coefs), so that a CUDA graph can record the evaluation.
#pragma once

#include <cmath>
#include <memory>
#include <vector>

#include "backbone.h"

namespace pfgm::nn {

struct PrecondConfig {
  double sigma_data = 0.5;
  // docs/method.md §2.2's D-aware input scale c_in = 1 / sqrt(sigma^2 D / (D - 2) + sigma_data^2),
  // for D > 2; off by default (EDM's c_in) for parity with the reference.
  bool d_aware_c_in = false;
  double D = INFINITY;
  // Heavy-tailed kernels (small D; docs/method.md §2.1) have no finite noise variance, so EDM's
  // coefficients, which assume ||x - y||^2 ~ N sigma^2, leave far samples with huge inputs and
  // targets. With this option each sample's noise scale is estimated from its own norm,
  // s^2 = max(sigma^2, ||x||^2 / N - sigma_data^2), and s replaces sigma in c_skip, c_out, c_in and
  // the loss weight (c_noise keeps sigma). Coefficients that depend on (x, sigma) only leave the
  // minimiser E[y | x, sigma] unchanged (docs/physics.md).
  bool adaptive_scale = false;
  // PFGM (docs/method.md §3): the model predicts the normalised field in N + 1 dimensions instead
  // of denoising. The backbone has one more output channel than input channels; that channel,
  // average-pooled over the image, is the z component. Inputs are scaled with z in the role of
  // sigma (the D = 1 alignment r = z) and c_noise = ln(z) / 4. denoise() and loss_and_grad()
  // refuse such a model; field() and field_loss_and_grad() serve it (denoiser_field.cc).
  bool pfgm_field = false;
};

struct Labels {
  const float* class_labels = nullptr;    // [n, label_dim] or null
  const float* augment_labels = nullptr;  // [n, augment_dim] or null
};

class Denoiser {
 public:
  Denoiser(std::unique_ptr<Backbone> net, PrecondConfig precond);
  Backbone& net() { return *net_; }
  const ParamSet& params() const { return net_->params(); }
  const PrecondConfig& precond() const { return pc_; }
  // Elements of one sample (C * H * W, or N).
  int64_t sample_numel() const;

  // out = D(x, sigma) for x [n, ...] in PyTorch layout; raw (nullable) receives F in NCHW.
  void denoise(const Context& ctx, const float* x, const float* sigma, const Labels& labels,
               float* out, float* raw = nullptr);

  // The input vector-Jacobian product for the likelihood's trace estimate (src/eval/nll.ts):
  // vjp = v^T dD(x, sigma)/dx per sample. With D = c_skip x + c_out F(c_in x):
  //   v^T dD/dx = c_skip v + c_in * [backbone backward of c_out v].
  // The backbone's backward also writes parameter gradients into ctx.grads, which must point at a
  // scratch buffer of the parameter count. denoised (nullable) receives D(x, sigma).
  void input_vjp(const Context& ctx, const float* x, const float* sigma, const Labels& labels,
                 const float* v, float* vjp, float* denoised = nullptr);

  // x = y + noise; returns the mean weighted loss against `target` (null: y itself; STF passes
  // the reference-batch posterior mean, docs/method.md §2.4) and writes every gradient into
  // ctx.grads. denoised (nullable) receives D(x). With ctx.loss_total set the loss goes there
  // instead (context.h) and 0 is returned.
  double loss_and_grad(const Context& ctx, const float* y, const float* noise, const float* sigma,
                       const Labels& labels, float* denoised = nullptr,
                       const float* target = nullptr);

  // PFGM: out [n, N + 1] = the predicted field at the augmented points (x [n, ...], z [n]).
  void field(const Context& ctx, const float* x, const float* z, const Labels& labels, float* out);
  // The backbone's raw output behind field(), [n, H W, C + 1] channels-last in the backend's
  // memory (valid until the next call): what a sampling run turns into the z-ODE's drift on the
  // device (sample/run.h) without the host packing of field().
  const float* field_forward(const Context& ctx, const float* x, const float* z,
                             const Labels& labels);
  // Mean over the batch of ||field(x, z) - target||^2 (target [n, N + 1], docs/method.md (3.1)),
  // summed over the N + 1 components; writes every gradient into ctx.grads.
  double field_loss_and_grad(const Context& ctx, const float* x, const float* z,
                             const Labels& labels, const float* target);

 private:
  struct Coefs {
    float c_skip, c_out, c_in, c_noise, weight;
  };
  // sumsq = ||x||^2 of the sample (used only with adaptive_scale).
  Coefs coefs(double sigma, double sumsq) const;
  // The squared noise scale the coefficients use: sigma^2, or with adaptive_scale
  // max(sigma^2, ||x||^2 / N - sigma_data^2) for a sample of squared norm sumsq.
  double scale2(double sigma, double sumsq) const;
  // ||x_i||^2 per sample of x [n, ...] when adaptive_scale needs it, else zeros.
  std::vector<double> sample_sumsq(const Context& ctx, const float* x) const;
  // docs/method.md §2.2's D for the D-aware c_in where it applies, else 0 (precond_math.h).
  double d_aware_D() const;
  // ln(level) / 4 for a positive, finite sigma or z (`name` in the error otherwise).
  static float c_noise(double level, const char* name);
  // Runs D on x and returns the per-sample coefficients it used: host_coefs asks for them on the
  // host (the training and likelihood paths). Without it an adaptive scale's coefficients stay
  // in the backend's memory and it returns none.
  std::vector<Coefs> run_forward(const Context& ctx, const float* x, const float* sigma,
                                 const Labels& labels, float* out, float* raw, bool host_coefs);
  void check_mode(bool field) const;

  std::unique_ptr<Backbone> net_;
  PrecondConfig pc_;
  Buffer x_, x_in_, c_noise_, f_, d_, dd_, df_, vjp_out_, vjp_in_, f_raw_, coefs_;
};

}  // namespace pfgm::nn
