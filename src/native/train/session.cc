#include "session.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "../errors.h"
#include "../nn/profile.h"
#include "../objectives/field_targets.h"
#include "../physics/physics.h"

namespace pfgm::train {

Session::Session(std::unique_ptr<nn::Denoiser> net, uint64_t init_seed, nn::Backend& backend)
    : net_(std::move(net)), be_(backend) {
  const nn::ParamSet& ps = net_->params();
  const int64_t np = ps.param_count(), nb = ps.buffer_count();
  // Initialised on the host from the Philox streams, so every backend starts from the same
  // weights, then placed in the backend's memory.
  std::vector<float> p(static_cast<size_t>(np)), b(static_cast<size_t>(nb));
  ps.initialize(init_seed, p.data(), b.data());
  be_.upload(np, p.data(), params_.ensure(be_, np));
  be_.upload(nb, b.data(), buffers_.ensure(be_, nb));
}

// Gradients, Adam's moments and the EMA copy cost 4x the weights: a network that only samples
// never allocates them. The EMA starts as a copy of the weights, as EDM's deepcopy(net).
void Session::ensure_training_state() {
  const int64_t np = params_.size();
  if (grads_.size() != np) grads_.ensure(be_, np);
  if (m_.size() != np) m_.ensure(be_, np);
  if (v_.size() != np) v_.ensure(be_, np);
  ensure_ema();
}

void Session::ensure_ema() {
  const int64_t np = params_.size();
  if (ema_.size() != np) be_.copy(np, params_.data(), ema_.ensure(be_, np));
}

nn::Buffer& Session::named(const std::string& which) {
  if (which == "params") return params_;
  if (which == "buffers") return buffers_;
  if (which == "ema") {
    ensure_ema();
    return ema_;
  }
  if (which == "grads" || which == "adam_m" || which == "adam_v") {
    ensure_training_state();
    return which == "grads" ? grads_ : which == "adam_m" ? m_ : v_;
  }
  fail(code::kArgument,
       "unknown buffer '" + which + "' (params, ema, grads, buffers, adam_m, adam_v)");
}

std::vector<float> Session::read(const std::string& which) {
  nn::Buffer& b = named(which);
  std::vector<float> out(static_cast<size_t>(b.size()));
  be_.download(b.size(), b.data(), out.data());
  return out;
}

void Session::write(const std::string& which, const std::vector<float>& values) {
  nn::Buffer& b = named(which);
  if (static_cast<int64_t>(values.size()) != b.size()) {
    fail(code::kShape, "'" + which + "' has " + std::to_string(b.size()) + " values, got " +
                           std::to_string(values.size()));
  }
  be_.upload(b.size(), values.data(), b.data());
}

const float* Session::stage(const float* host, int64_t count, nn::Buffer& staging) {
  if (host == nullptr || be_.device() == Device::cpu) return host;
  float* d = staging.ensure(be_, count);
  be_.upload(count, host, d);
  return d;
}

nn::Labels Session::stage(const nn::Labels& labels, int64_t batch) {
  const nn::Backbone& net = net_->net();
  return nn::Labels{stage(labels.class_labels, batch * net.label_dim(), labels_in_),
                    stage(labels.augment_labels, batch * net.augment_dim(), augment_in_)};
}

float* Session::output(float* host, int64_t count, nn::Buffer& staging) {
  if (host == nullptr || be_.device() == Device::cpu) return host;
  return staging.ensure(be_, count);
}

void Session::deliver(float* host, const float* out, int64_t count) {
  if (host != nullptr && out != host) be_.download(count, out, host);
}

namespace {

// Hands backward's progress to the step's pending all-reduce.
struct ReadyFeed : nn::GradientsReady {
  dist::PendingAllReduce* pending = nullptr;
  void ready_from(int64_t from) override { pending->ready_from(from); }
};

}  // namespace

nn::Context Session::context(int64_t batch, bool training, bool ema, uint64_t seed, uint32_t step) {
  nn::Context ctx;
  if (training) ensure_training_state();
  ctx.backend = &be_;
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
  const int64_t cnt = in.batch * net_->sample_numel();
  const nn::Context ctx = context(in.batch, false, false, in.seed, 0);
  return net_->loss_and_grad(ctx, stage(in.y, cnt, y_in_), stage(in.noise, cnt, noise_in_),
                             in.sigma, stage(in.labels, in.batch));
}

StepResult Session::step(const StepInput& in, const OptimConfig& opt) {
  const int64_t n = in.batch, per = net_->sample_numel();
  if (!(in.D > 0)) fail(code::kArgument, "D must be positive or Infinity");
  const uint32_t step_index = static_cast<uint32_t>(steps_);
  const bool drawn = in.noise == nullptr;
  if (!drawn && in.sigma == nullptr) fail(code::kArgument, "an explicit noise needs its sigma");
  if (drawn) {
    PFGM_PROFILE("step.perturb");
    // docs/method.md §2.2: ln sigma ~ N(P_mean, P_std^2), then x = y + n with n from (2.2) at that
    // sigma. Streams are keyed by (seed, sample index in batch, step), so a step's draws never
    // repeat. The n sigmas are drawn on the host (the coefficients need them there), the noise on
    // the backend (below), from the same streams on every backend.
    const SampleStreams streams{nullptr, in.seed, in.sample_offset, step_index, nullptr};
    sigma_d_.resize(static_cast<size_t>(n));
    cpu::training_sigma_f64(sigma_d_.data(), n, in.p_mean, in.p_std, streams);
    sigma_f_.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) sigma_f_[i] = static_cast<float>(sigma_d_[i]);
  }
  const float* sigma = drawn ? sigma_f_.data() : in.sigma;
  const UpdatePlan plan = plan_update(global_batch(n), opt);
  StepResult r{};
  // Everything from here to the update runs on the backend with no value read back, so on a GPU
  // the step can be replayed from a CUDA graph (session_graphs.cc); the host constants of each
  // step (sigma, the coefficients, the step index, Adam's constants) travel with the launch.
  run_step(step_key(n, in.micro_batch, drawn, in.labels), !in.stf, [&] {
    const uint32_t* step_at = set_step(step_index);
    const float* y = stage(in.y, n * per, y_in_);
    const nn::Labels batch_labels = stage(in.labels, n);
    const float* noise = drawn ? nullptr : stage(in.noise, n * per, noise_in_);
    if (drawn) {
      NoiseSpec spec{};
      spec.count = n;
      spec.n = per;
      spec.D = in.D;
      spec.sigma = sigma_d_.data();
      spec.streams = SampleStreams{nullptr, in.seed, in.sample_offset, 0, step_at};
      spec.purpose_gauss = kPurposeNoiseGauss;
      spec.purpose_chi2 = kPurposeNoiseChi2;
      spec.clip_min = 0;
      spec.clip_max = INFINITY;
      float* d = noise_.ensure(be_, n * per);
      be_.student_t_noise_f32(d, spec);
      noise = d;
    }
    const float* target = in.stf ? stf_target(n, y, noise, sigma, in.D) : nullptr;
    {
      PFGM_PROFILE("step.forward_backward");
      accumulate(n, in.micro_batch, in.seed, step_at, in.sample_offset, true,
                 [&](const nn::Context& ctx, int64_t start, int64_t) {
                   const nn::Labels labels = labels_from(batch_labels, start);
                   return net_->loss_and_grad(ctx, y + start * per, noise + start * per,
                                              sigma + start, labels, nullptr,
                                              target != nullptr ? target + start * per : nullptr);
                 });
    }
    reduce_across_ranks(r, in.stop_vote);
    update(plan);
  });
  finish_step(r, plan);
  return r;
}

const float* Session::stf_target(int64_t n, const float* y, const float* noise, const float* sigma,
                                 double D) {
  // docs/method.md §2.4 (STF): the target of sample i is the posterior mean of the clean batch
  // given x_i = y_i + n_i at sigma_i, a lower-variance target than y_i with the same expectation
  // (as the reference batch grows). The batch itself is the reference set. A host computation
  // (n^2 kernel evaluations of n values): free to reach on the CPU, two copies on a GPU.
  PFGM_PROFILE("step.stf");
  const int64_t per = net_->sample_numel();
  std::vector<float> hy, hn;
  const float* ys = nn::host_view(be_, y, n * per, hy);
  const float* ns = nn::host_view(be_, noise, n * per, hn);
  x_host_.resize(static_cast<size_t>(n * per));
  for (int64_t k = 0; k < n * per; ++k) x_host_[k] = ys[k] + ns[k];
  std::vector<double> sd(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) sd[i] = sigma[i];
  target_host_.resize(static_cast<size_t>(n * per));
  cpu::posterior_mean(n, n, per, D, x_host_.data(), ys, sd.data(), target_host_.data());
  return stage(target_host_.data(), n * per, target_in_);
}

nn::Labels Session::labels_from(const nn::Labels& labels, int64_t start) {
  const int64_t ld = net_->net().label_dim(), ad = net_->net().augment_dim();
  return nn::Labels{labels.class_labels ? labels.class_labels + start * ld : nullptr,
                    labels.augment_labels ? labels.augment_labels + start * ad : nullptr};
}

template <class LossFn>
void Session::accumulate(int64_t n, int64_t micro_batch, uint64_t seed, const uint32_t* step_at,
                         uint64_t offset, bool device_loss, LossFn loss) {
  double* total = stats();
  if (device_loss) be_.fill(2, 0.0f, reinterpret_cast<float*>(total + optim::kStatLoss));
  double host_total = 0;
  // One chunk's loss and gradient, its loss weighted by its share of the batch.
  auto chunk = [&](nn::Context& ctx, int64_t start, int64_t len, double share) {
    ctx.step = 0;
    ctx.step_at = step_at;
    ctx.sample_offset = offset + static_cast<uint64_t>(start);
    if (device_loss) {
      ctx.loss_total = total + optim::kStatLoss;
      ctx.loss_share = share;
    }
    const double l = loss(ctx, start, len);
    if (!device_loss) host_total += share * l;
  };
  const int64_t micro = micro_batch > 0 && micro_batch < n ? micro_batch : n;
  if (micro == n) {
    nn::Context ctx = context(n, true, false, seed, 0);
    // In a group, the gradient reduction starts bucket by bucket while backward runs (where the
    // backend can overlap: NCCL); backward writes the final gradients of one pass, so a bucket is
    // final once its modules have run. With micro-batches the sum is final only after the last.
    ReadyFeed feed;
    if (dist_) {
      pending_ = dist_->start_all_reduce(grads_.data(), params_.size(), dist::ReduceOp::kMean);
      feed.pending = pending_.get();
      ctx.grads_ready = &feed;
    }
    chunk(ctx, 0, n, 1.0);
  } else {
    // Gradient accumulation: the batch's draws are made once by the caller, then each chunk's
    // mean loss and gradient are weighted by its share, so the result is the whole batch's mean
    // (EDM's loss.sum() / batch over its rounds). Dropout streams stay keyed by the sample's index.
    const int64_t np = params_.size();
    be_.fill(np, 0.0f, accum_.ensure(be_, np));
    for (int64_t start = 0; start < n; start += micro) {
      const int64_t len = std::min(micro, n - start);
      nn::Context ctx = context(len, true, false, seed, 0);
      const double share = static_cast<double>(len) / static_cast<double>(n);
      chunk(ctx, start, len, share);
      be_.axpy(np, static_cast<float>(share), grads_.data(), accum_.data());
    }
    grads_.swap(accum_);
  }
  if (!device_loss) set_loss(host_total);
}

void Session::set_collectives(std::shared_ptr<dist::Collectives> group) {
  if (group) {
    const bool host = be_.device() == Device::cpu;
    const std::string backend = group->backend();
    if (host && backend != "gloo") {
      fail(code::kDistributed, "a CPU network trains with Gloo, not " + backend +
                                   ": initDistributed({ backend: 'gloo' })");
    }
    if (!host && backend == "gloo") {
      fail(code::kDistributed,
           "a GPU network trains with NCCL (Gloo works on host memory): initDistributed({ "
           "backend: 'nccl' }), or train on the CPU");
    }
  }
  dist_ = std::move(group);
}

void Session::sync_from(int root) {
  if (!dist_ || dist_->size() == 1) return;
  ensure_training_state();
  for (nn::Buffer* b : {&params_, &buffers_, &ema_, &m_, &v_})
    if (b->size() > 0) dist_->broadcast(b->data(), b->size(), root);
  double c[4] = {static_cast<double>(steps_), static_cast<double>(adam_t_), nimg_,
                 static_cast<double>(skipped_)};
  dist_->broadcast_host(c, 4, root);
  set_counters(static_cast<int64_t>(c[0]), static_cast<int64_t>(c[1]), c[2],
               static_cast<int64_t>(c[3]));
}

void Session::reduce_across_ranks(StepResult& r, bool stop_vote) {
  r.stop = stop_vote;
  if (!dist_) return;
  PFGM_PROFILE("step.all_reduce");
  // docs/distributed.md: the mean of the ranks' mean gradients is the global batch's mean
  // gradient (equal shares); every rank gets the same bits, so the non-finite check, clipping
  // and Adam agree everywhere.
  if (pending_) {
    const std::unique_ptr<dist::PendingAllReduce> pending = std::move(pending_);
    pending->finish();
  } else {
    dist_->all_reduce(grads_.data(), params_.size(), dist::ReduceOp::kMean);
  }
  double v[2] = {read_stats()[optim::kStatLoss], stop_vote ? 1.0 : 0.0};
  dist_->all_reduce_host(v, 2, dist::ReduceOp::kSum);
  set_loss(v[0] * (1.0 / dist_->size()));
  r.stop = v[1] > 0;
}

Session::UpdatePlan Session::plan_update(int64_t images, const OptimConfig& opt) const {
  // EDM (training_loop.py) reads cur_nimg, the images seen *before* this step, for both the
  // learning-rate ramp and the EMA half-life, and adds the batch afterwards. Adam's constants are
  // those of its next step: a skipped step does not count (finish_step).
  UpdatePlan p{};
  p.images = images;
  p.lr = optim::ramped_lr(opt.lr, opt.lr_rampup_kimg, nimg_);
  p.adam.coefs = optim::adam_coefs(p.lr, opt.beta1, opt.beta2, opt.eps, adam_t_ + 1, 1.0f);
  p.adam.grad_clip = opt.grad_clip;
  p.adam.ema_beta = static_cast<float>(optim::ema_beta(opt.ema_halflife_kimg, opt.ema_rampup_ratio,
                                                       nimg_, static_cast<double>(images)));
  return p;
}

void Session::update(const UpdatePlan& plan) {
  PFGM_PROFILE("step.optimizer");
  // The non-finite check and the clipping read the statistics where they are: a non-finite
  // update is never applied, and weights, moments and EMA stay untouched (adam_math.h).
  const int64_t np = params_.size();
  be_.grad_stats_into(np, grads_.data(), stats() + optim::kStatGradSumsq);
  be_.adam_step_checked(np, params_.data(), grads_.data(), m_.data(), v_.data(), &plan.adam,
                        stats(), ema_.data());
}

void Session::finish_step(StepResult& r, const UpdatePlan& plan) {
  const std::array<double, optim::kStatCount> s = read_stats();
  r.loss = s[optim::kStatLoss];
  r.grad_norm = std::sqrt(s[optim::kStatGradSumsq]);
  r.lr = plan.lr;
  ++steps_;
  nimg_ += static_cast<double>(plan.images);
  if (optim::update_applies(s.data())) {
    ++adam_t_;
  } else {
    r.skipped = true;
    ++skipped_;
  }
}

StepResult Session::step_pfgm(const PfgmStepInput& in, const OptimConfig& opt) {
  const int64_t n = in.batch, per = net_->sample_numel();
  if (n < 1 || in.refs_count < 1)
    fail(code::kArgument, "PFGM needs a non-empty batch and reference batch");
  const uint32_t step_index = static_cast<uint32_t>(steps_);
  const UpdatePlan plan = plan_update(global_batch(n), opt);
  // The perturbation and the field target over the large reference batch are host computations
  // (the reference batch arrives from the host each step); the network runs on the backend.
  {
    PFGM_PROFILE("step.perturb");
    // docs/method.md §3: x = y + R u, z = z0 (1 + tau)^m, streams keyed by (seed, sample, step).
    PfgmSpec spec{};
    spec.count = n;
    spec.n = per;
    spec.M = in.M;
    spec.tau = in.tau;
    spec.s = in.s;
    spec.restrict_M = in.restrict_m;
    spec.streams = SampleStreams{nullptr, in.seed, in.sample_offset, step_index, nullptr};
    x_host_.resize(static_cast<size_t>(n * per));
    z_host_.resize(static_cast<size_t>(n));
    cpu::pfgm_perturb_f32(in.y, x_host_.data(), z_host_.data(), spec);
  }
  {
    PFGM_PROFILE("step.field_target");
    // docs/method.md (3.1) over the large batch, in log space.
    target_host_.resize(static_cast<size_t>(n * (per + 1)));
    cpu::pfgm_field_target(n, in.refs_count, per, x_host_.data(), z_host_.data(), in.refs, in.gamma,
                           target_host_.data());
  }
  const float* x = stage(x_host_.data(), n * per, x_in_);
  const float* target = stage(target_host_.data(), n * (per + 1), target_in_);
  const nn::Labels batch_labels = stage(in.labels, n);
  StepResult r{};
  const uint32_t* step_at = set_step(step_index);
  {
    // The field's loss is a host computation (denoiser_field.cc): it joins the statistics after.
    PFGM_PROFILE("step.forward_backward");
    accumulate(n, in.micro_batch, in.seed, step_at, in.sample_offset, false,
               [&](const nn::Context& ctx, int64_t start, int64_t) {
                 const nn::Labels labels = labels_from(batch_labels, start);
                 return net_->field_loss_and_grad(ctx, x + start * per, z_host_.data() + start,
                                                  labels, target + start * (per + 1));
               });
  }
  reduce_across_ranks(r, in.stop_vote);
  update(plan);
  finish_step(r, plan);
  return r;
}

void Session::denoise(int64_t batch, const float* x, const float* sigma, const nn::Labels& labels,
                      bool ema, float* out, float* raw) {
  const int64_t cnt = batch * net_->sample_numel();
  const nn::Context ctx = context(batch, false, ema, 0, 0);
  float* o = output(out, cnt, out_);
  float* r = output(raw, cnt, out2_);
  net_->denoise(ctx, stage(x, cnt, x_in_), sigma, stage(labels, batch), o, r);
  deliver(out, o, cnt);
  deliver(raw, r, cnt);
}

void Session::denoise_resident(int64_t batch, const float* x, const float* sigma,
                               const nn::Labels& labels, bool ema, float* out) {
  net_->denoise(context(batch, false, ema, 0, 0), x, sigma, labels, out, nullptr);
}

const float* Session::field_resident(int64_t batch, const float* x, const float* z,
                                     const nn::Labels& labels, bool ema) {
  return net_->field_forward(context(batch, false, ema, 0, 0), x, z, labels);
}

double Session::field_loss_and_grad(int64_t batch, const float* x, const float* z,
                                    const nn::Labels& labels, const float* target) {
  ensure_training_state();
  const int64_t per = net_->sample_numel();
  const nn::Context ctx = context(batch, false, false, 0, 0);
  return net_->field_loss_and_grad(ctx, stage(x, batch * per, x_in_), z, stage(labels, batch),
                                   stage(target, batch * (per + 1), target_in_));
}

void Session::field(int64_t batch, const float* x, const float* z, const nn::Labels& labels,
                    bool ema, float* out) {
  const int64_t per = net_->sample_numel();
  const nn::Context ctx = context(batch, false, ema, 0, 0);
  float* o = output(out, batch * (per + 1), out_);
  net_->field(ctx, stage(x, batch * per, x_in_), z, stage(labels, batch), o);
  deliver(out, o, batch * (per + 1));
}

void Session::input_vjp(int64_t batch, const float* x, const float* sigma, const nn::Labels& labels,
                        bool ema, const float* v, float* vjp, float* denoised) {
  const int64_t cnt = batch * net_->sample_numel();
  nn::Context ctx = context(batch, false, ema, 0, 0);
  const int64_t np = params_.size();
  if (vjp_grads_.size() != np) vjp_grads_.ensure(be_, np);
  ctx.grads = vjp_grads_.data();
  float* o = output(vjp, cnt, out_);
  float* d = output(denoised, cnt, out2_);
  net_->input_vjp(ctx, stage(x, cnt, x_in_), sigma, stage(labels, batch), stage(v, cnt, v_in_), o,
                  d);
  deliver(vjp, o, cnt);
  deliver(denoised, d, cnt);
}

void Session::set_counters(int64_t steps, int64_t adam_steps, double images, int64_t skipped) {
  steps_ = steps;
  adam_t_ = adam_steps;
  nimg_ = images;
  skipped_ = skipped;
}

}  // namespace pfgm::train
