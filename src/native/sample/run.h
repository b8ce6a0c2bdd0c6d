// A sampling run whose solver state stays in the network's backend memory
// (docs/dev/architecture.md, "Where sampling state lives"). The solvers of src/sample/*.ts keep
// their control flow and their coefficient arithmetic in TypeScript and name arrays by id; this
// object holds those arrays on the device and runs, per call, one fused kernel (a linear
// combination, EDM's churn noise), one network evaluation on device memory, a prior draw from the
// per-sample streams, or a reduction whose scalar comes back. Only upload() and download() cross
// between host and device, so a run that draws its prior here and downloads its finished samples
// moves the batch once.
#pragma once

#include <atomic>
#include <cmath>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "../nn/buffer.h"
#include "../physics/noise.h"
#include "../train/session.h"

namespace pfgm::sample {

struct RunConfig {
  int64_t batch = 0;  // samples
  bool ema = false;   // the EMA weights
  // Classifier-free guidance D_u + w (D_c - D_u) (src/sample/sample.ts) on rows
  // [start, start + count) with weight w: the guided rows go through the network a second time,
  // with zero labels, in the same pass as the batch, and the fused update combines the halves.
  // One segment over the whole batch is sample()'s guidance; several are a Sampler's merged
  // requests, each with its own weight (rows outside every segment are not guided).
  struct Guided {
    int64_t start = 0, count = 0;
    double weight = 1.0;
  };
  std::vector<Guided> guided;          // ascending, disjoint
  std::vector<float> labels, augment;  // host, [batch, dim]; empty: none
};

// Per-sample seeds (empty: stream sample_offset + i of `streams.seed`), copied to the device
// for one kernel.
struct Streams {
  SampleStreams streams{};
  std::vector<uint64_t> per_sample;
};

class Run {
 public:
  Run(std::shared_ptr<train::Session> session, RunConfig config);
  Run(const Run&) = delete;
  Run& operator=(const Run&) = delete;
  ~Run();

  train::Session& session() { return *session_; }
  int64_t numel() const { return numel_; }

  // Array `id` (created on first write, batch * sample size floats) from / to the host.
  void upload(int id, const float* host);
  void download(int id, float* host);
  // Frees array `id` (its id may be written again later).
  void release(int id);
  // The PFGM++ prior at sigma_max (docs/method.md §2.3, src/physics/prior.ts) into rows
  // [first_row, first_row + rows) of `out` (rows < 0: the whole batch), sample i of them from
  // stream i of `streams`. clip_min / clip_max: the optional radius clip (0 and +inf: none), as
  // the PFGM prior uses.
  void prior(int out, double D, double sigma_max, const Streams& streams, double clip_min = 0.0,
             double clip_max = INFINITY, int64_t first_row = 0, int64_t rows = -1);
  // out = D(in, sigma) (with guidance when configured).
  void denoise(int in, double sigma, int out);
  // out = sum_t coefs[t] * ins[t]: the solvers' one fused update.
  void combine(int out, const std::vector<double>& coefs, const std::vector<int>& ins);
  // out = PFGM's z-ODE drift dx/d(ln z) at (in, z) (sampler.h pfgm_drift_f32), for a network
  // trained with the `pfgm` objective.
  void drift(int in, double z, double gamma, int out);
  // iPNDM's step in one kernel: d_out = (x - den) / sigma, x_out = x + coefs[0] d_out +
  // sum_{t >= 1} coefs[t] slopes[t] (slopes[0] is ignored).
  void slope_update(int x, int den, double sigma, const std::vector<double>& coefs,
                    const std::vector<int>& slopes, int d_out, int x_out);
  // out = in + scale * eps from the kPurposeChurn streams (EDM's churn, the injected noise).
  void churn(int in, int out, double scale, const Streams& streams);
  // The first non-finite element of `id`: its index (or -1) and value.
  int64_t first_nonfinite(int id, float* value);
  // sum_k (e / (atol + rtol max(|a|, |b|)))^2 over the batch (RK45's error norm, squared, times n).
  double scaled_sumsq(int e, int a, int b, double rtol, double atol);

  // How many batch-sized arrays crossed between host and device (upload, download) so far.
  int64_t uploads() const { return uploads_; }
  int64_t downloads() const { return downloads_; }

 private:
  bool gpu() const;
  nn::Labels labels();                        // staged on first use
  float* out(int id);                         // created on demand
  const float* in(int id, const char* what);  // must exist
  void seeds_to_device(const Streams& s, int64_t rows, SampleStreams& d);
  int64_t guided_rows() const;  // rows evaluated a second time, unguided
  // out = D(x, sigma_) for `rows` rows, replayed from a CUDA graph where the backend records them
  // (train::Session::denoise_recorded).
  void evaluate(int64_t rows, const float* x, const nn::Labels& labels, float* out);

  std::shared_ptr<train::Session> session_;
  nn::Backend& be_;
  RunConfig config_;
  int64_t per_ = 0, numel_ = 0;
  // By id; the JS side never reuses an id, so a late release cannot free a newer array.
  std::unordered_map<int, nn::Buffer> arrays_;
  nn::Buffer labels_, augment_, pair_in_, pair_out_, seeds_;
  std::vector<float> sigma_, z_;
  std::atomic<int64_t> uploads_{0}, downloads_{0};
};

}  // namespace pfgm::sample
