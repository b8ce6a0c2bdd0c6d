// A network with everything training needs, in flat buffers (docs/dev/architecture.md, "The native
// training step"): parameters, gradients, Adam's moments, the EMA copy and the counters. One call
// runs
//   sigma draw -> Student-t perturbation (any D, and D = inf) -> forward -> loss -> backward ->
//   non-finite check -> optional clipping -> Adam (EDM's ramp-up) -> EMA (EDM's half-life),
// so nothing crosses into JS between the stages. The state lives in one backend's memory (the CPU
// engine's or a GPU's); every array a caller passes in or out is on the host, and the session
// stages it (a no-op on the CPU).
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "../collectives/collectives.h"
#include "../nn/denoiser.h"
#include "../optim/adam_math.h"

namespace pfgm::train {

// The training options (OptimConfig, and D, p_mean, p_std, seed, micro_batch, stf, restrict_m
// of the step inputs) have no defaults on this side: they always come from JS, where
// src/physics/trainOptions.ts owns every default and checks every value, and the binding
// (read_train_options in binding/network_binding.cc) requires each field.

struct OptimConfig {
  double lr;  // Adam's learning rate after ramp-up
  double beta1, beta2, eps;
  double lr_rampup_kimg;  // 0 = no ramp
  double grad_clip;       // max global gradient norm; 0 = off
  double ema_halflife_kimg;
  double ema_rampup_ratio;  // <= 0: no ramp-up
};

struct StepInput {
  int64_t batch;
  const float* y;  // clean data, PyTorch layout
  nn::Labels labels;
  double D;              // > 0 or +inf
  double p_mean, p_std;  // ln sigma ~ N(p_mean, p_std^2)
  uint64_t seed;
  const float* noise = nullptr;  // explicit perturbation (tests): skips the draws
  const float* sigma = nullptr;  // explicit per-sample sigma (with noise)
  int64_t micro_batch;           // > 0 and < batch: accumulate gradients over chunks this size
  bool stf;                      // stable target field: train on the batch posterior mean
  // Data-parallel training (docs/distributed.md): the global index of this rank's first sample,
  // which keys every draw, so N ranks of batch B/N draw what one process of batch B draws.
  uint64_t sample_offset = 0;
  bool stop_vote = false;  // this rank asks the group to stop after this step
};

// PFGM's objective (docs/method.md §3): the small batch y is perturbed to augmented points (x, z)
// and trained towards the normalised empirical field (3.1) of the large reference batch refs, which
// contains y.
struct PfgmStepInput {
  int64_t batch;       // small batch
  const float* y;      // [batch, N]
  int64_t refs_count;  // large batch
  const float* refs;   // [refs_count, N]
  nn::Labels labels;
  double M, tau, s, gamma;
  bool restrict_m;
  uint64_t seed;
  int64_t micro_batch;
  uint64_t sample_offset = 0;  // as StepInput's
  bool stop_vote = false;
};

struct StepResult {
  double loss;
  double grad_norm;
  bool skipped;  // non-finite gradient: nothing was applied
  double lr;
  bool stop = false;  // some rank voted to stop (its stop_vote); every rank sees the same
};

class Session {
 public:
  Session(std::unique_ptr<nn::Denoiser> net, uint64_t init_seed,
          nn::Backend& backend = nn::cpu_backend());
  nn::Denoiser& net() { return *net_; }
  nn::Backend& backend() { return be_; }
  std::mutex& mutex() { return mu_; }

  // Joins a data-parallel group (null leaves it): every step then averages its gradients and
  // loss over the group, and counts the group's images. Gloo groups need the CPU backend, NCCL
  // groups a GPU one (ERR_PFGM_DISTRIBUTED otherwise).
  void set_collectives(std::shared_ptr<dist::Collectives> group);
  const std::shared_ptr<dist::Collectives>& collectives() const { return dist_; }
  // Copies `root`'s weights, EMA, Adam moments and counters to every rank of the group.
  void sync_from(int root);

  StepResult step(const StepInput& in, const OptimConfig& opt);
  StepResult step_pfgm(const PfgmStepInput& in, const OptimConfig& opt);
  // Loss and gradients for an explicit perturbation, without updating anything.
  double loss_and_grad(const StepInput& in);
  void denoise(int64_t batch, const float* x, const float* sigma, const nn::Labels& labels,
               bool ema, float* out, float* raw = nullptr);

  // D(x, sigma) on arrays already in the backend's memory (x, labels, out; sigma stays on the host,
  // one per sample), with no staging: the evaluation of a sampling run whose state stays on the
  // device (sample/run.h).
  void denoise_resident(int64_t batch, const float* x, const float* sigma, const nn::Labels& labels,
                        bool ema, float* out);

  // The backbone's raw field output (nn::Denoiser::field_forward) on arrays already in the
  // backend's memory (x, labels; z on the host, one per sample).
  const float* field_resident(int64_t batch, const float* x, const float* z,
                              const nn::Labels& labels, bool ema);

  // denoise_resident and field_resident as a sampling run makes them, replayed from CUDA graphs
  // where the backend records them (nn/graph_cache.h; session_graphs.cc). The recordings stay
  // with the network, so successive runs and a Sampler's merged runs share them.
  void denoise_recorded(int64_t batch, const float* x, const float* sigma, const nn::Labels& labels,
                        bool ema, float* out);
  const float* field_recorded(int64_t batch, const float* x, const float* z,
                              const nn::Labels& labels, bool ema);

  // PFGM's loss and gradients at explicit points and targets, without updating anything.
  double field_loss_and_grad(int64_t batch, const float* x, const float* z,
                             const nn::Labels& labels, const float* target);
  void field(int64_t batch, const float* x, const float* z, const nn::Labels& labels, bool ema,
             float* out);

  // v^T dD(x, sigma)/dx for the likelihood (nn::Denoiser::input_vjp). Parameter gradients go to a
  // scratch buffer of its own, so a training run's gradients and Adam state are left untouched.
  void input_vjp(int64_t batch, const float* x, const float* sigma, const nn::Labels& labels,
                 bool ema, const float* v, float* vjp, float* denoised);

  // Host copies of the flat arrays by name: params, ema, grads, buffers, adam_m, adam_v (asking
  // for the training state allocates it, as a first step would).
  std::vector<float> read(const std::string& which);
  // Replaces one of them; ERR_PFGM_SHAPE unless `values` has its size.
  void write(const std::string& which, const std::vector<float>& values);
  int64_t size(const std::string& which) { return named(which).size(); }
  int64_t adam_steps() const { return adam_t_; }
  double images_seen() const { return nimg_; }
  int64_t steps() const { return steps_; }
  int64_t skipped_steps() const { return skipped_; }
  void set_counters(int64_t steps, int64_t adam_steps, double images, int64_t skipped);

 private:
  void ensure_training_state();
  void ensure_ema();
  nn::Buffer& named(const std::string& which);
  // A host array as the backend sees it: the array itself on the CPU, a copy in `staging` on a
  // GPU. Null stays null.
  const float* stage(const float* host, int64_t count, nn::Buffer& staging);
  nn::Labels stage(const nn::Labels& labels, int64_t batch);
  // Where the backend writes an output bound for `host`, and its delivery there.
  float* output(float* host, int64_t count, nn::Buffer& staging);
  void deliver(float* host, const float* out, int64_t count);
  // The labels of the samples from `start` on (a micro-batch's view of the batch's labels).
  nn::Labels labels_from(const nn::Labels& labels, int64_t start);
  // Runs loss(ctx, start, len) over the batch in chunks of micro_batch, accumulating each chunk's
  // gradient weighted by its share, so the result is the whole batch's mean loss and gradient;
  // the loss goes to the step's statistics (the backend's loss op adds it there with
  // device_loss, else loss() returns it and it is written there after).
  template <class LossFn>
  void accumulate(int64_t n, int64_t micro_batch, uint64_t seed, const uint32_t* step_at,
                  uint64_t offset, bool device_loss, LossFn loss);
  // STF's target (docs/method.md §2.4) of the batch y + noise, staged on the backend.
  const float* stf_target(int64_t n, const float* y, const float* noise, const float* sigma,
                          double D);
  // In a group: gradients and loss averaged over the ranks, the stop votes counted.
  void reduce_across_ranks(StepResult& r, bool stop_vote);
  // Images of one step: the batch times the group's size.
  int64_t global_batch(int64_t n) const { return dist_ ? n * dist_->size() : n; }

  // The update of one step in three parts: its host constants before the step (learning rate,
  // Adam's constants, the EMA's beta: from the counters), the update on the backend (gradient
  // statistics, then Adam and the EMA where they are finite), and the counters after, from the
  // statistics read back once.
  struct UpdatePlan {
    int64_t images;  // the step's images (the global batch)
    double lr;
    optim::AdamStep adam;
  };
  UpdatePlan plan_update(int64_t images, const OptimConfig& opt) const;
  void update(const UpdatePlan& plan);
  void finish_step(StepResult& r, const UpdatePlan& plan);

  // The step's state in backend memory (session_graphs.cc): its statistics (optim::StepStat) and
  // its index, which the draws read there (nn::Context::step_at).
  double* stats();
  std::array<double, optim::kStatCount> read_stats();
  void set_loss(double loss);
  const uint32_t* set_step(uint32_t step);
  // Runs a training step's backend ops, from a CUDA graph where the backend records them and the
  // step can be one (recordable, and no data-parallel group: its collectives are not ops).
  void run_step(uint64_t key, bool recordable, const std::function<void()>& ops);
  uint64_t step_key(int64_t batch, int64_t micro_batch, bool drawn, const nn::Labels& labels);
  nn::Context context(int64_t batch, bool training, bool ema, uint64_t seed, uint32_t step);
  // x and the labels copied to buffers of the session's own, which a recording reads whatever
  // arrays the caller holds (session_graphs.cc).
  const float* recorded_input(int64_t batch, const float* x);
  nn::Labels recorded_labels(int64_t batch, const nn::Labels& labels);

  std::unique_ptr<nn::Denoiser> net_;
  nn::Backend& be_;
  nn::Buffer params_, buffers_, grads_, ema_, m_, v_, accum_, vjp_grads_;
  // Staged inputs and outputs of one call.
  nn::Buffer noise_, y_in_, noise_in_, x_in_, v_in_, target_in_, labels_in_, augment_in_, out_,
      out2_;
  std::vector<float> sigma_f_, x_host_, z_host_, target_host_;
  std::vector<double> sigma_d_;
  int64_t steps_ = 0, adam_t_ = 0, skipped_ = 0;
  double nimg_ = 0;
  std::shared_ptr<dist::Collectives> dist_;
  // The gradient all-reduce of the step in flight, when backward feeds it (overlap); else null.
  std::unique_ptr<dist::PendingAllReduce> pending_;
  // Sampling's recorded evaluations (session_graphs.cc) and the buffers they read and write.
  std::unique_ptr<nn::GraphCache> graphs_;
  nn::Buffer graph_in_, graph_out_, graph_labels_, graph_augment_;
  nn::Buffer step_state_;  // stats() and the step index (session_graphs.cc)
  std::mutex mu_;  // one operation at a time: the network's saved activations are shared state
};

}  // namespace pfgm::train
