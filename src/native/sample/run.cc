// The sampling run of run.h. Kernels go to pfgm::cpu:: or pfgm::cuda:: by the session backend's
// device, as the physics binding's do; the network evaluation is the session's, on device memory.
#include "run.h"

#include <cstring>
#include <string>

#include "../errors.h"
#include "../physics/physics.h"
#include "sampler.h"
#include "sampler_math.h"

namespace pfgm::sample {

Run::Run(std::shared_ptr<train::Session> session, RunConfig config)
    : session_(std::move(session)), be_(session_->backend()), config_(std::move(config)) {
  if (config_.batch < 1) fail(code::kArgument, "a sampling run needs a batch of at least 1");
  per_ = session_->net().sample_numel();
  numel_ = config_.batch * per_;
  const nn::Backbone& net = session_->net().net();
  if (!config_.labels.empty() &&
      static_cast<int64_t>(config_.labels.size()) != config_.batch * net.label_dim())
    fail(code::kShape, "a sampling run's labels need [batch, labelDim] values");
  if (!config_.augment.empty() &&
      static_cast<int64_t>(config_.augment.size()) != config_.batch * net.augment_dim())
    fail(code::kShape, "a sampling run's augment labels need [batch, augmentDim] values");
  int64_t end = 0;
  for (const RunConfig::Guided& g : config_.guided) {
    if (g.start < end || g.count < 1 || g.start + g.count > config_.batch)
      fail(code::kArgument,
           "a sampling run's guided rows must be ascending, disjoint ranges inside the batch");
    if (!std::isfinite(g.weight)) fail(code::kArgument, "a guidance weight must be finite");
    end = g.start + g.count;
  }
}

int64_t Run::guided_rows() const {
  int64_t n = 0;
  for (const RunConfig::Guided& g : config_.guided) n += g.count;
  return n;
}

// The labels go to the device once, at the first evaluation (on a worker, under the network's
// mutex, so making a run never waits for the network); the guided rows' second copies, after the
// batch, are the unconditional model's (zero labels, the rows' own augment labels).
nn::Labels Run::labels() {
  auto stage = [&](const std::vector<float>& v, nn::Buffer& dst, bool zero_second) {
    if (v.empty() || !dst.empty()) return;
    std::vector<float> all(v);
    const int64_t dim = static_cast<int64_t>(v.size()) / config_.batch;
    for (const RunConfig::Guided& g : config_.guided) {
      const auto from = v.begin() + g.start * dim;
      if (zero_second)
        all.insert(all.end(), static_cast<size_t>(g.count * dim), 0.0f);
      else
        all.insert(all.end(), from, from + g.count * dim);
    }
    const int64_t n = static_cast<int64_t>(all.size());
    be_.upload(n, all.data(), dst.ensure(be_, n));
  };
  stage(config_.labels, labels_, true);
  stage(config_.augment, augment_, false);
  return nn::Labels{labels_.empty() ? nullptr : labels_.data(),
                    augment_.empty() ? nullptr : augment_.data()};
}

Run::~Run() = default;

bool Run::gpu() const { return be_.device() == Device::cuda; }

float* Run::out(int id) {
  if (id < 0) fail(code::kArgument, "array id " + std::to_string(id));
  return arrays_[id].ensure(be_, numel_);
}

const float* Run::in(int id, const char* what) {
  const auto it = arrays_.find(id);
  if (it == arrays_.end() || it->second.empty())
    fail(code::kInternal,
         std::string(what) + ": array " + std::to_string(id) + " was never written");
  return it->second.data();
}

void Run::upload(int id, const float* host) {
  be_.upload(numel_, host, out(id));
  ++uploads_;
}

void Run::download(int id, float* host) {
  be_.download(numel_, in(id, "download"), host);
  ++downloads_;
}

void Run::release(int id) { arrays_.erase(id); }

void Run::seeds_to_device(const Streams& s, int64_t rows, SampleStreams& d) {
  d = s.streams;
  d.seeds = nullptr;
  if (s.per_sample.empty()) return;
  if (static_cast<int64_t>(s.per_sample.size()) != rows)
    fail(code::kShape, "give one seed or one seed per sample");
  // Two floats hold one 64-bit seed; the copy moves bytes, never float values.
  const int64_t n = 2 * rows;
  std::vector<float> bits(static_cast<size_t>(n));
  std::memcpy(bits.data(), s.per_sample.data(), s.per_sample.size() * sizeof(uint64_t));
  float* dst = seeds_.ensure(be_, n);
  be_.upload(n, bits.data(), dst);
  d.seeds = reinterpret_cast<const uint64_t*>(dst);
}

void Run::prior(int id, double D, double sigma_max, const Streams& streams, double clip_min,
                double clip_max, int64_t first_row, int64_t rows) {
  if (!(D > 0)) fail(code::kArgument, "D must be > 0 (or Infinity)");
  if (rows < 0) rows = config_.batch - first_row;
  if (first_row < 0 || rows < 1 || first_row + rows > config_.batch)
    fail(code::kArgument, "prior: the rows must lie inside the batch");
  NoiseSpec spec{};
  spec.count = rows;
  spec.n = per_;
  spec.D = D;
  spec.sigma = nullptr;
  spec.sigma_scalar = sigma_max;
  spec.purpose_gauss = kPurposePriorGauss;
  spec.purpose_chi2 = kPurposePriorChi2;
  spec.clip_min = clip_min;
  spec.clip_max = clip_max;
  seeds_to_device(streams, rows, spec.streams);
  be_.student_t_noise_f32(out(id) + first_row * per_, spec);
}

void Run::denoise(int in_id, double sigma, int out_id) {
  const float* x = in(in_id, "denoise");
  float* o = out(out_id);
  const nn::Labels labels = this->labels();
  const int64_t extra = guided_rows();
  // Network::denoise fills a Float32Array with sigma: the same rounding here.
  const int64_t rows = config_.batch + extra;
  sigma_.assign(static_cast<size_t>(rows), static_cast<float>(sigma));
  if (extra == 0) {
    evaluate(config_.batch, x, labels, o);
    return;
  }
  // [the batch; a second copy of each guided segment], in one pass.
  float* pair = pair_in_.ensure(be_, rows * per_);
  be_.copy(numel_, x, pair);
  int64_t at = config_.batch;
  for (const RunConfig::Guided& g : config_.guided) {
    be_.copy(g.count * per_, x + g.start * per_, pair + at * per_);
    at += g.count;
  }
  float* both = pair_out_.ensure(be_, rows * per_);
  evaluate(rows, pair, labels, both);
  // Unguided rows keep the conditional output as it is; each segment is D_u + w (D_c - D_u).
  if (extra < config_.batch) be_.copy(numel_, both, o);
  at = config_.batch;
  for (const RunConfig::Guided& g : config_.guided) {
    const double coefs[2] = {g.weight, 1.0 - g.weight};
    const float* halves[2] = {both + g.start * per_, both + at * per_};
    const int64_t n = g.count * per_;
    gpu() ? cuda::linear_combination_f32(n, 2, coefs, halves, o + g.start * per_)
          : cpu::linear_combination_f32(n, 2, coefs, halves, o + g.start * per_);
    at += g.count;
  }
}

void Run::evaluate(int64_t rows, const float* x, const nn::Labels& labels, float* o) {
  session_->denoise_recorded(rows, x, sigma_.data(), labels, config_.ema, o);
}

void Run::drift(int in_id, double z, double gamma, int out_id) {
  const float* x = in(in_id, "drift");
  float* o = out(out_id);
  const nn::Labels labels = this->labels();
  // Network::field fills a Float32Array with z; the drift's own arithmetic keeps z in double.
  z_.assign(static_cast<size_t>(config_.batch), static_cast<float>(z));
  const float* f = session_->field_recorded(config_.batch, x, z_.data(), labels, config_.ema);
  const op::Nhwc shape = session_->net().net().input_shape(1);
  const int64_t hw = shape.h * shape.w;
  gpu() ? cuda::pfgm_drift_f32(config_.batch, hw, shape.c, f, z, gamma, o)
        : cpu::pfgm_drift_f32(config_.batch, hw, shape.c, f, z, gamma, o);
}

void Run::combine(int out_id, const std::vector<double>& coefs, const std::vector<int>& ins) {
  if (coefs.empty() || coefs.size() != ins.size() ||
      coefs.size() > static_cast<size_t>(kMaxCombineTerms))
    fail(code::kArgument,
         "combine: 1 to " + std::to_string(kMaxCombineTerms) + " terms, one coefficient per array");
  std::vector<const float*> arrays;
  for (int id : ins) arrays.push_back(in(id, "combine"));
  float* o = out(out_id);
  const int terms = static_cast<int>(coefs.size());
  gpu() ? cuda::linear_combination_f32(numel_, terms, coefs.data(), arrays.data(), o)
        : cpu::linear_combination_f32(numel_, terms, coefs.data(), arrays.data(), o);
}

void Run::slope_update(int x_id, int den_id, double sigma, const std::vector<double>& coefs,
                       const std::vector<int>& slopes, int d_id, int x_out_id) {
  if (coefs.empty() || coefs.size() != slopes.size() ||
      coefs.size() >= static_cast<size_t>(kMaxCombineTerms))
    fail(code::kArgument, "slopeUpdate: 1 to " + std::to_string(kMaxCombineTerms - 1) +
                              " coefficients, one per slope");
  const float* x = in(x_id, "slopeUpdate");
  const float* den = in(den_id, "slopeUpdate");
  std::vector<const float*> older{nullptr};
  for (size_t t = 1; t < slopes.size(); ++t) older.push_back(in(slopes[t], "slopeUpdate"));
  float* d = out(d_id);
  float* o = out(x_out_id);
  const int terms = static_cast<int>(coefs.size());
  const double inv = 1.0 / sigma;
  gpu() ? cuda::slope_update_f32(numel_, inv, x, den, terms, coefs.data(), older.data(), d, o)
        : cpu::slope_update_f32(numel_, inv, x, den, terms, coefs.data(), older.data(), d, o);
}

void Run::churn(int in_id, int out_id, double scale, const Streams& streams) {
  const float* x = in(in_id, "churn");
  float* o = out(out_id);
  SampleStreams d{};
  seeds_to_device(streams, config_.batch, d);
  gpu() ? cuda::churn_noise_f32(x, o, config_.batch, per_, scale, d)
        : cpu::churn_noise_f32(x, o, config_.batch, per_, scale, d);
}

int64_t Run::first_nonfinite(int id, float* value) {
  const float* x = in(id, "finiteness check");
  const int64_t k =
      gpu() ? cuda::first_nonfinite_f32(numel_, x) : cpu::first_nonfinite_f32(numel_, x);
  // One element, not the batch: not counted as a transfer.
  if (k >= 0) be_.download(1, x + k, value);
  return k;
}

double Run::scaled_sumsq(int e, int a, int b, double rtol, double atol) {
  const float* pe = in(e, "error norm");
  const float* pa = in(a, "error norm");
  const float* pb = in(b, "error norm");
  return gpu() ? cuda::scaled_sumsq_f32(numel_, pe, pa, pb, rtol, atol)
               : cpu::scaled_sumsq_f32(numel_, pe, pa, pb, rtol, atol);
}

}  // namespace pfgm::sample
