// The Session's recorded evaluations (session.h: denoise_recorded, field_recorded): a sampling
// run's network evaluations through the backend's graph cache (nn/graph_cache.h; docs/cuda.md,
// "CUDA graphs"). A graph replays the addresses it recorded, while a solver's arrays, and each
// run's labels, live elsewhere at every step: the inputs are copied into buffers of the session's
// own and the output out of one, a few small copies against the launches a replay saves. Where
// the backend does not record (the CPU, PFGM_CUDA_GRAPHS=0) the evaluations run as they are.
#include "session.h"

namespace pfgm::train {
namespace {

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
