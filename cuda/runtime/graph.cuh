// CUDA graphs of the backend's op sequences (nn/graph_cache.h; docs/cuda.md, "CUDA graphs").
//
// A cache entry goes through three calls: the first runs eagerly (cuDNN picks its algorithms,
// buffers reach their sizes) and notes whether every op can be captured; the second is captured
// on a stream of its own and launched; later calls run the same host code again in a dry pass,
// where every op only compares a fingerprint of its arguments with the recording's and host
// arrays (per-sample coefficients) are collected, then one copy brings those arrays to the
// device and one launch replays the graph. A call whose ops or arguments differ from the
// recording runs eagerly, and the entry is recorded again.
//
// The backend's ops report to the thread's Recorder (cuda/backend.cu); ops whose result comes
// back to the host (a loss, a norm, a download) cannot be in a graph and make the entry eager.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "nn/backend_ops.h"
#include "nn/graph_cache.h"

namespace pfgm::gpu {

// A 64-bit hash of an op's name and arguments: pointers by address, numbers by bits, shapes field
// by field (padding bytes hold anything). A collision would let a changed call replay the old
// graph; at 2^-64 per comparison that is not a practical risk.
class Fingerprint {
 public:
  explicit Fingerprint(const char* name) { bytes(name, std::strlen(name)); }
  uint64_t value() const { return h_; }

  template <class T>
  void add(const T& v) {
    if constexpr (std::is_pointer_v<T> || std::is_arithmetic_v<T> || std::is_enum_v<T>) {
      bytes(&v, sizeof v);
    } else {
      static_assert(std::has_unique_object_representations_v<T>,
                    "a padded argument type needs its own Fingerprint::add (graph.cuh)");
      bytes(&v, sizeof v);
    }
  }
  void add(const op::GroupNormShape& s) { all(s.n, s.hw, s.c, s.groups, s.eps, s.silu); }
  void add(const op::DropoutSpec& s) {
    all(s.samples, s.per_sample, s.p, s.seed, s.sample_offset, s.step, s.site, s.step_at);
  }
  void add(const op::LabelInputSpec& s) {
    all(s.n, s.label_dim, s.p, s.training, s.seed, s.sample_offset, s.step, s.step_at);
  }
  void add(const SampleStreams& s) { all(s.seeds, s.seed, s.sample_offset, s.step, s.step_at); }
  // Without sigma: a host array, staged with the call.
  void add(const NoiseSpec& s) {
    all(s.count, s.n, s.D, s.sigma == nullptr, s.sigma_scalar, s.streams, s.purpose_gauss,
        s.purpose_chi2, s.clip_min, s.clip_max);
  }
  void add(const op::ConvInferenceShape& s) { all(s.n, s.h, s.w, s.g, s.relu); }

  template <class... A>
  void all(const A&... a) {
    (add(a), ...);
  }

 private:
  // Eight bytes per multiply: a replay's dry pass fingerprints every op of the network.
  void bytes(const void* p, size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      uint64_t w;
      std::memcpy(&w, b + i, 8);
      mix(w);
    }
    if (i < n) {
      uint64_t w = 0;
      std::memcpy(&w, b + i, n - i);
      mix(w ^ (uint64_t{n - i} << 56));
    }
  }
  void mix(uint64_t w) {
    h_ = (h_ ^ w) * 0x9E3779B97F4A7C15ull;
    h_ ^= h_ >> 29;
  }
  uint64_t h_ = 1469598103934665603ull;
};

// What the backend's ops tell the graph being warmed up, captured or replayed on this thread.
class Recorder {
 public:
  enum class Mode { kWarmup, kCapture, kDry };
  explicit Recorder(Mode mode) : mode_(mode) {}
  Mode mode() const { return mode_; }

  // An op with its arguments' fingerprint. True: run it (warm-up, capture). False: skip it (a dry
  // pass, where it matched the recording; a mismatch throws GraphMismatch).
  bool op(uint64_t fingerprint);
  // A host array that the op about to run reads on the device. Warm-up: null (upload it as
  // usual). Capture and dry pass: the device address it will have when the graph runs.
  void* stage(const void* host, size_t bytes);
  // An op that cannot be in a graph (`what` says why): noted in a warm-up, thrown otherwise.
  void refuse(const std::string& what);
  // An allocation or release of backend memory: recorded in a capture, a mismatch in a dry pass
  // (the graph would use other buffers).
  void memory(const char* what);

  // For the cache (graph.cu).
  std::vector<uint64_t> signature;  // capture: the fingerprints in order
  size_t position = 0;              // dry pass: the next fingerprint to compare
  std::vector<unsigned char> pack;  // the staged host arrays, at their offsets
  unsigned char* device_pack = nullptr;
  size_t pack_limit = 0;    // capture and dry pass: the staged bytes of the warm-up
  size_t staged_bytes = 0;  // warm-up: what a capture will stage
  std::string refusal;      // warm-up: the first op that cannot be captured

 private:
  Mode mode_;
};

// Thrown through the host code of a dry pass or a capture when the call cannot use the graph.
struct GraphMismatch {
  std::string why;
};
struct GraphRefused {
  std::string why;
};

// This thread's recorder, or null (no graph in progress); set by the graph cache (graph.cu).
Recorder* recorder();
void set_recorder(Recorder* r);

// The CUDA backend's GraphCache: graphs unless PFGM_CUDA_GRAPHS=0 or PFGM_PROFILE is on.
std::unique_ptr<nn::GraphCache> make_graph_cache();

}  // namespace pfgm::gpu
