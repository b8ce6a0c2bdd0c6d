// The Session's recorded sequences (nn/graph_cache.h; docs/cuda.md, "CUDA graphs"):
//   - a sampling run's network evaluations (session.h: denoise_recorded, field_recorded). A graph
//     replays the addresses it recorded, while a solver's arrays, and each run's labels, live
//     elsewhere at every step: the inputs are copied into buffers of the session's own and the
//     output out of one, a few small copies against the launches a replay saves;
//   - whole training steps (Session::step): the batch is staged into the session's buffers as
//     always, and what changes from step to step lives in backend memory (the step's index, which
//     the draws read there, and its statistics: loss, gradient norm, finiteness, which the update
//     reads there), so that only the statistics come back, once, after the step.
// Where the backend does not record (the CPU, PFGM_CUDA_GRAPHS=0) everything runs as it is.
#include <cstring>

#include "session.h"

namespace pfgm::train {
namespace {

// step_state_: the statistics' doubles, then the step index's word (and one float of padding).
constexpr int64_t kStatFloats = 2 * optim::kStatCount;
constexpr int64_t kStateFloats = kStatFloats + 2;

// One recording per kind of evaluation, row count and weights (the EMA's or the model's).
uint64_t key(bool field, int64_t batch, bool ema) {
  return static_cast<uint64_t>(batch) << 2 | (field ? 2u : 0u) | (ema ? 1u : 0u);
}

}  // namespace

const float* Session::recorded_input(int64_t batch, const float* x) {
  const int64_t n = batch * net_->sample_numel();
  float* in = graph_in_.ensure(be_, n);
  be_.copy(n, x, in);
  return in;
}

nn::Labels Session::recorded_labels(int64_t batch, const nn::Labels& labels) {
  nn::Labels stable;
  const nn::Backbone& net = net_->net();
  if (labels.class_labels != nullptr) {
    const int64_t n = batch * net.label_dim();
    float* l = graph_labels_.ensure(be_, n);
    be_.copy(n, labels.class_labels, l);
    stable.class_labels = l;
  }
  if (labels.augment_labels != nullptr) {
    const int64_t n = batch * net.augment_dim();
    float* a = graph_augment_.ensure(be_, n);
    be_.copy(n, labels.augment_labels, a);
    stable.augment_labels = a;
  }
  return stable;
}

void Session::denoise_recorded(int64_t batch, const float* x, const float* sigma,
                               const nn::Labels& labels, bool ema, float* out) {
  if (!graphs_) graphs_ = be_.graph_cache();
  if (!graphs_->records()) {
    denoise_resident(batch, x, sigma, labels, ema, out);
    return;
  }
  const float* in = recorded_input(batch, x);
  const nn::Labels stable = recorded_labels(batch, labels);
  const int64_t n = batch * net_->sample_numel();
  float* o = graph_out_.ensure(be_, n);
  graphs_->run(key(false, batch, ema), [&] { denoise_resident(batch, in, sigma, stable, ema, o); });
  be_.copy(n, o, out);
}

const float* Session::field_recorded(int64_t batch, const float* x, const float* z,
                                     const nn::Labels& labels, bool ema) {
  if (!graphs_) graphs_ = be_.graph_cache();
  if (!graphs_->records()) return field_resident(batch, x, z, labels, ema);
  const float* in = recorded_input(batch, x);
  const nn::Labels stable = recorded_labels(batch, labels);
  // The field stays in the backbone's buffer, the same one in every call (the cache checks it).
  const float* f = nullptr;
  graphs_->run(key(true, batch, ema), [&] { f = field_resident(batch, in, z, stable, ema); });
  return f;
}

}  // namespace pfgm::train

namespace pfgm::train {

double* Session::stats() {
  return reinterpret_cast<double*>(step_state_.ensure(be_, kStateFloats));
}

std::array<double, optim::kStatCount> Session::read_stats() {
  std::array<double, optim::kStatCount> s{};
  be_.download(kStatFloats, reinterpret_cast<const float*>(stats()),
               reinterpret_cast<float*>(s.data()));
  return s;
}

void Session::set_loss(double loss) {
  be_.upload(2, reinterpret_cast<const float*>(&loss),
             reinterpret_cast<float*>(stats() + optim::kStatLoss));
}

const uint32_t* Session::set_step(uint32_t step) {
  float* at = step_state_.ensure(be_, kStateFloats) + kStatFloats;
  float bits;
  std::memcpy(&bits, &step, sizeof bits);
  be_.upload(1, &bits, at);
  return reinterpret_cast<const uint32_t*>(at);
}

uint64_t Session::step_key(int64_t batch, int64_t micro_batch, bool drawn,
                           const nn::Labels& labels) {
  // Training keys have the top bit set, so they never meet the evaluations' (above). The
  // gradient buffer's address is part of the key: gradient accumulation swaps two buffers at
  // every step, and each of the two sequences is a recording of its own.
  ensure_training_state();
  uint64_t h = 0x9E3779B97F4A7C15ull;
  for (uint64_t v :
       {static_cast<uint64_t>(batch), static_cast<uint64_t>(micro_batch),
        static_cast<uint64_t>(drawn), static_cast<uint64_t>(labels.class_labels != nullptr),
        static_cast<uint64_t>(labels.augment_labels != nullptr),
        static_cast<uint64_t>(reinterpret_cast<uintptr_t>(grads_.data()))}) {
    h = (h ^ v) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
  }
  return h | (uint64_t{1} << 63);
}

void Session::run_step(uint64_t key, bool recordable, const std::function<void()>& ops) {
  if (!graphs_) graphs_ = be_.graph_cache();
  if (!recordable || dist_ || !graphs_->records()) {
    ops();
    return;
  }
  graphs_->run(key, ops);
}

}  // namespace pfgm::train
