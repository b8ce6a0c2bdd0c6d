#include "session.h"

#include <algorithm>
#include <cmath>

#include "../errors.h"
#include "../optim/optim.h"
#include "../nn/profile.h"
#include "../objectives/field_targets.h"
#include "../physics/physics.h"

namespace pfgm::train {

Session::Session(std::unique_ptr<nn::Denoiser> net, uint64_t init_seed) : net_(std::move(net)) {
  const nn::ParamSet& ps = net_->params();
  const size_t np = static_cast<size_t>(ps.param_count());
  params_.assign(np, 0.0f);
  buffers_.assign(static_cast<size_t>(ps.buffer_count()), 0.0f);
  ps.initialize(init_seed, params_.data(), buffers_.data());
}

// Gradients, Adam's moments and the EMA copy cost 4x the weights: a network that only samples
// never allocates them. The EMA starts as a copy of the weights, as EDM's deepcopy(net).
void Session::ensure_training_state() {
  const size_t np = params_.size();
  if (grads_.size() != np) grads_.assign(np, 0.0f);
  if (m_.size() != np) m_.assign(np, 0.0f);
  if (v_.size() != np) v_.assign(np, 0.0f);
  if (ema_.size() != np) ema_ = params_;
}

std::vector<float>& Session::ema() {
  if (ema_.size() != params_.size()) ema_ = params_;
  return ema_;
}
std::vector<float>& Session::grads() {
  ensure_training_state();
  return grads_;
}
std::vector<float>& Session::adam_m() {
  ensure_training_state();
  return m_;
}
std::vector<float>& Session::adam_v() {
  ensure_training_state();
  return v_;
}

nn::Context Session::context(int64_t batch, bool training, bool ema, uint64_t seed,
                             uint32_t step) {
  nn::Context ctx;
  if (training) ensure_training_state();
  ctx.params = ema && ema_.size() == params_.size() ? ema_.data() : params_.data();
  ctx.buffers = buffers_.data();
  ctx.grads = grads_.data();
  ctx.batch = batch;
  ctx.training = training;
  ctx.seed = seed;
  ctx.step = step;
  return ctx;
}

double Session::loss_and_grad(const StepInput& in) {
  if (in.noise == nullptr || in.sigma == nullptr)
    fail(code::kArgument, "loss_and_grad needs an explicit noise and sigma");
  ensure_training_state();
  const nn::Context ctx = context(in.batch, false, false, in.seed, 0);
  return net_->loss_and_grad(ctx, in.y, in.noise, in.sigma, in.labels);
}

StepResult Session::step(const StepInput& in, const OptimConfig& opt) {
  const int64_t n = in.batch, per = net_->sample_numel();
  if (!(in.D > 0)) fail(code::kArgument, "D must be positive or Infinity");
  const uint32_t step_index = static_cast<uint32_t>(steps_);
  const float* noise = in.noise;
  const float* sigma = in.sigma;
  if (noise == nullptr) {
    PFGM_PROFILE("step.perturb");
    // METHOD §2.2: ln sigma ~ N(P_mean, P_std^2), then x = y + n with n from (2.2) at that sigma.
    // Streams are keyed by (seed, sample index in batch, step), so a step's draws never repeat.
    const SampleStreams streams{nullptr, in.seed, 0, step_index};
    sigma_d_.resize(static_cast<size_t>(n));
    cpu::training_sigma_f64(sigma_d_.data(), n, in.p_mean, in.p_std, streams);
    sigma_f_.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) sigma_f_[i] = static_cast<float>(sigma_d_[i]);
    noise_.resize(static_cast<size_t>(n * per));
    NoiseSpec spec{};
    spec.count = n;
    spec.n = per;
    spec.D = in.D;
    spec.sigma = sigma_d_.data();
    spec.streams = streams;
    spec.purpose_gauss = kPurposeNoiseGauss;
    spec.purpose_chi2 = kPurposeNoiseChi2;
    spec.clip_min = 0;
    spec.clip_max = INFINITY;
    cpu::student_t_noise_f32(nullptr, noise_.data(), spec);
    noise = noise_.data();
    sigma = sigma_f_.data();
  }
  const float* target = nullptr;
  if (in.stf) {
    // METHOD §2.4 (STF): the target of sample i is the posterior mean of the clean batch given
    // x_i = y_i + n_i at sigma_i, a lower-variance target than y_i with the same expectation
    // (as the reference batch grows). The batch itself is the reference set.
    PFGM_PROFILE("step.stf");
    x_.resize(static_cast<size_t>(n * per));
    for (int64_t k = 0; k < n * per; ++k) x_[k] = in.y[k] + noise[k];
    std::vector<double> sd(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) sd[i] = sigma[i];
    target_.resize(static_cast<size_t>(n * per));
    cpu::posterior_mean(n, n, per, in.D, x_.data(), in.y, sd.data(), target_.data());
    target = target_.data();
  }
  StepResult r{};
  {
    PFGM_PROFILE("step.forward_backward");
    r.loss = accumulate(n, in.micro_batch, in.seed, step_index,
                        [&](const nn::Context& ctx, int64_t start, int64_t) {
                          const nn::Labels labels = labels_from(in.labels, start);
                          return net_->loss_and_grad(
                              ctx, in.y + start * per, noise + start * per, sigma + start, labels,
                              nullptr, target != nullptr ? target + start * per : nullptr);
                        });
  }
  apply_update(r, n, opt);
  return r;
}

nn::Labels Session::labels_from(const nn::Labels& labels, int64_t start) {
  const int64_t ld = net_->net().label_dim(), ad = net_->net().augment_dim();
  return nn::Labels{labels.class_labels ? labels.class_labels + start * ld : nullptr,
                    labels.augment_labels ? labels.augment_labels + start * ad : nullptr};
}

template <class LossFn>
double Session::accumulate(int64_t n, int64_t micro_batch, uint64_t seed, uint32_t step,
                           LossFn loss) {
  const int64_t micro = micro_batch > 0 && micro_batch < n ? micro_batch : n;
  if (micro == n) return loss(context(n, true, false, seed, step), 0, n);
  // Gradient accumulation: the batch's draws are made once by the caller, then each chunk's mean
  // loss and gradient are weighted by its share, so the result is the whole batch's mean (EDM's
  // loss.sum() / batch over its rounds). Dropout streams stay keyed by the sample's index.
  const int64_t np = static_cast<int64_t>(params_.size());
  accum_.assign(static_cast<size_t>(np), 0.0f);
  double total = 0;
  for (int64_t start = 0; start < n; start += micro) {
    const int64_t len = std::min(micro, n - start);
    nn::Context ctx = context(len, true, false, seed, step);
    ctx.sample_offset = static_cast<uint64_t>(start);
    const double share = static_cast<double>(len) / static_cast<double>(n);
    total += share * loss(ctx, start, len);
    optim::axpy(np, static_cast<float>(share), grads_.data(), accum_.data());
  }
  grads_.swap(accum_);
  return total;
}

void Session::apply_update(StepResult& r, int64_t n, const OptimConfig& opt) {
  PFGM_PROFILE("step.optimizer");
  const int64_t np = static_cast<int64_t>(params_.size());
  const optim::GradStats gs = optim::grad_stats(np, grads_.data());
  r.grad_norm = gs.norm;
  // EDM (training_loop.py) reads cur_nimg, the images seen *before* this step, for both the
  // learning-rate ramp and the EMA half-life, and adds the batch afterwards.
  const double images_before = nimg_;
  r.lr = optim::ramped_lr(opt.lr, opt.lr_rampup_kimg, images_before);
  ++steps_;
  nimg_ += static_cast<double>(n);
  if (!gs.finite || !std::isfinite(r.loss)) {
    // Never apply a non-finite update: count it and leave weights, moments and EMA untouched.
    r.skipped = true;
    ++skipped_;
    return;
  }
  float scale = 1.0f;
  if (opt.grad_clip > 0 && gs.norm > opt.grad_clip) scale = static_cast<float>(opt.grad_clip / gs.norm);
  ++adam_t_;
  optim::adam_step(np, params_.data(), grads_.data(), m_.data(), v_.data(), r.lr, opt.beta1,
                   opt.beta2, opt.eps, adam_t_, scale, ema_.data(),
                   optim::ema_beta(opt.ema_halflife_kimg, opt.ema_rampup_ratio, images_before,
                                   static_cast<double>(n)));
}

StepResult Session::step_pfgm(const PfgmStepInput& in, const OptimConfig& opt) {
  const int64_t n = in.batch, per = net_->sample_numel();
  if (n < 1 || in.refs_count < 1) fail(code::kArgument, "PFGM needs a non-empty batch and reference batch");
  const uint32_t step_index = static_cast<uint32_t>(steps_);
  {
    PFGM_PROFILE("step.perturb");
    // METHOD §3: x = y + R u, z = z0 (1 + tau)^m, streams keyed by (seed, sample, step).
    PfgmSpec spec{};
    spec.count = n;
    spec.n = per;
    spec.M = in.M;
    spec.tau = in.tau;
    spec.s = in.s;
    spec.restrict_M = in.restrict_m;
    spec.streams = SampleStreams{nullptr, in.seed, 0, step_index};
    x_.resize(static_cast<size_t>(n * per));
    z_.resize(static_cast<size_t>(n));
    cpu::pfgm_perturb_f32(in.y, x_.data(), z_.data(), spec);
  }
  {
    PFGM_PROFILE("step.field_target");
    // METHOD (3.1) over the large batch, in log space.
    target_.resize(static_cast<size_t>(n * (per + 1)));
    cpu::pfgm_field_target(n, in.refs_count, per, x_.data(), z_.data(), in.refs, in.gamma,
                           target_.data());
  }
  StepResult r{};
  {
    PFGM_PROFILE("step.forward_backward");
    r.loss = accumulate(n, in.micro_batch, in.seed, step_index,
                        [&](const nn::Context& ctx, int64_t start, int64_t) {
                          const nn::Labels labels = labels_from(in.labels, start);
                          return net_->field_loss_and_grad(ctx, x_.data() + start * per,
                                                           z_.data() + start, labels,
                                                           target_.data() + start * (per + 1));
                        });
  }
  apply_update(r, n, opt);
  return r;
}

void Session::denoise(int64_t batch, const float* x, const float* sigma, const nn::Labels& labels,
                      bool ema, float* out, float* raw) {
  const nn::Context ctx = context(batch, false, ema, 0, 0);
  net_->denoise(ctx, x, sigma, labels, out, raw);
}

double Session::field_loss_and_grad(int64_t batch, const float* x, const float* z,
                                    const nn::Labels& labels, const float* target) {
  ensure_training_state();
  const nn::Context ctx = context(batch, false, false, 0, 0);
  return net_->field_loss_and_grad(ctx, x, z, labels, target);
}

void Session::field(int64_t batch, const float* x, const float* z, const nn::Labels& labels,
                    bool ema, float* out) {
  const nn::Context ctx = context(batch, false, ema, 0, 0);
  net_->field(ctx, x, z, labels, out);
}

void Session::input_vjp(int64_t batch, const float* x, const float* sigma,
                        const nn::Labels& labels, bool ema, const float* v, float* vjp,
                        float* denoised) {
  nn::Context ctx = context(batch, false, ema, 0, 0);
  if (vjp_grads_.size() != params_.size()) vjp_grads_.assign(params_.size(), 0.0f);
  ctx.grads = vjp_grads_.data();
  net_->input_vjp(ctx, x, sigma, labels, v, vjp, denoised);
}

void Session::set_counters(int64_t steps, int64_t adam_steps, double images, int64_t skipped) {
  steps_ = steps;
  adam_t_ = adam_steps;
  nimg_ = images;
  skipped_ = skipped;
}

}  // namespace pfgm::train
