// Recorded sequences of a backend's ops (docs/cuda.md, "CUDA graphs"). A sampling run evaluates
// the same network on the same buffers at every step, with only a few host coefficients (c_in,
// c_noise, c_skip, c_out of sigma) changing; on the GPU each evaluation is a few hundred kernel
// launches, which bound a small network's speed. The CUDA backend records such a sequence once as
// a CUDA graph and then replays it with one launch. The CPU backend runs the ops as they are.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace pfgm::nn {

class GraphCache {
 public:
  virtual ~GraphCache() = default;
  // Runs `ops`, a sequence of calls of the backend's ops, with the results of running it
  // eagerly. Calls with the same `key` (the caller's name for one sequence, e.g. a hash of its
  // buffers) may be replayed from a recording; one that would issue different ops or arguments
  // than the recording (host coefficients aside) runs eagerly and is recorded again.
  virtual void run(uint64_t key, const std::function<void()>& ops) = 0;
  // Whether calls may be replayed: a caller then keeps the buffers a sequence reads and writes
  // the same from call to call (a replay uses the recorded addresses).
  virtual bool records() const { return false; }
};

// A GraphCache that runs every call eagerly: the CPU backend's, and where graphs are off.
std::unique_ptr<GraphCache> eager_graph_cache();

// Process-wide counts, for tests and benchmarks (addon export graphStats).
struct GraphStats {
  std::atomic<uint64_t> captures{0};  // sequences recorded as graphs
  std::atomic<uint64_t> replays{0};   // calls served by a graph launch
  std::atomic<uint64_t> eager{0};     // calls run op by op in a cache that records (warm-ups,
                                      // mismatches, sequences that cannot be graphs)
  std::atomic<uint64_t> dropped{0};   // recordings discarded because a call differed
};
GraphStats& graph_stats();
// Why the last sequence could not be recorded ("" while none failed).
std::string graph_refusal();
void set_graph_refusal(const std::string& why);

}  // namespace pfgm::nn
