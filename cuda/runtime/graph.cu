// See graph.cuh.
#include "runtime/graph.cuh"

#include <array>
#include <cstdlib>
#include <cstring>
#include <map>
#include <utility>

#include "nn/profile.h"
#include "runtime/allocator.cuh"
#include "runtime/check.cuh"
#include "runtime/launch.cuh"

namespace pfgm::gpu {
namespace {

// Read at every call (a getenv), so a process can compare graphs against eager runs.
bool graphs_enabled() {
  const char* v = std::getenv("PFGM_CUDA_GRAPHS");
  if (v != nullptr && std::strcmp(v, "0") == 0) return false;
  return !nn::profile::enabled();  // the profile drains the stream around every op
}

// Sets the thread's recorder, capture stream and arena for one pass; restores them on any exit.
class Scope {
 public:
  Scope(Recorder* r, cudaStream_t stream, CaptureArena* arena) {
    set_recorder(r);
    t_capture_stream = stream;
    set_capture_arena(arena);
  }
  ~Scope() {
    set_recorder(nullptr);
    t_capture_stream = nullptr;
    set_capture_arena(nullptr);
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;
};

// Pinned host memory for the staged arrays of one launch, and an event after that launch: the
// copy from it runs on the stream, so it is written again only once the event has passed.
struct PinnedSlot {
  unsigned char* host = nullptr;
  size_t capacity = 0;
  cudaEvent_t done = nullptr;
  bool pending = false;
};

// One recorded sequence: its graph, the fingerprints of its ops, and where its staged arrays go.
struct Entry {
  enum class State { kFresh, kWarm, kReady, kEager };
  State state = State::kFresh;
  cudaGraphExec_t exec = nullptr;
  std::vector<uint64_t> signature;
  size_t staged_bytes = 0;
  void* device_pack = nullptr;  // the staged arrays on the device, read by the graph
  int mismatches = 0;

  void drop() {
    if (exec != nullptr && cudaGraphExecDestroy(exec) != cudaSuccess) cudaGetLastError();
    exec = nullptr;
    signature.clear();
  }
  ~Entry() {
    drop();
    if (device_pack != nullptr) pool_release(device_pack);
  }
};

class CudaGraphCache final : public nn::GraphCache {
 public:
  CudaGraphCache() = default;
  CudaGraphCache(const CudaGraphCache&) = delete;
  CudaGraphCache& operator=(const CudaGraphCache&) = delete;

  ~CudaGraphCache() override {
    // The launches still queued read the pinned slots and the arena's blocks.
    for (PinnedSlot& s : slots_) {
      if (s.pending && cudaEventSynchronize(s.done) != cudaSuccess) cudaGetLastError();
      if (s.done != nullptr) cudaEventDestroy(s.done);
      if (s.host != nullptr) cudaFreeHost(s.host);
    }
    entries_.clear();
    arena_.release_all();
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  bool records() const override { return graphs_enabled(); }

  void run(uint64_t key, const std::function<void()>& ops) override {
    if (!graphs_enabled()) {
      ops();
      return;
    }
    Entry& e = entry(key);
    switch (e.state) {
      case Entry::State::kEager: eager(ops); return;
      case Entry::State::kFresh: warm_up(e, ops); return;
      case Entry::State::kWarm: capture(e, ops); return;
      case Entry::State::kReady: replay(e, ops); return;
    }
  }

 private:
  static constexpr size_t kMaxEntries = 16;
  static constexpr int kMaxMismatches = 3;

  Entry& entry(uint64_t key) {
    auto it = entries_.find(key);
    if (it != entries_.end()) return *it->second;
    if (entries_.size() >= kMaxEntries) {
      // Keep memory bounded: a caller cycling through more shapes than this gains little.
      wait_for_launches();
      entries_.clear();
      arena_.release_all();
    }
    return *entries_.emplace(key, std::make_unique<Entry>()).first->second;
  }

  void eager(const std::function<void()>& ops) {
    nn::graph_stats().eager++;
    ops();
  }

  void refuse(Entry& e, const std::string& why) {
    e.drop();
    e.state = Entry::State::kEager;
    nn::set_graph_refusal(why);
  }

  // The first call: eager, noting whether every op can be captured and what it stages.
  void warm_up(Entry& e, const std::function<void()>& ops) {
    Recorder r(Recorder::Mode::kWarmup);
    {
      const Scope scope(&r, nullptr, nullptr);
      nn::graph_stats().eager++;
      ops();
    }
    if (!r.refusal.empty()) {
      refuse(e, r.refusal);
      return;
    }
    e.staged_bytes = r.staged_bytes;
    e.state = Entry::State::kWarm;
  }

  void capture(Entry& e, const std::function<void()>& ops) {
    if (stream_ == nullptr) {
      check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking),
            "cudaStreamCreateWithFlags (CUDA graph capture)");
    }
    if (e.device_pack == nullptr && e.staged_bytes > 0)
      e.device_pack = pool_allocate(e.staged_bytes, nullptr);
    Recorder r(Recorder::Mode::kCapture);
    r.device_pack = static_cast<unsigned char*>(e.device_pack);
    r.pack_limit = e.staged_bytes;
    cudaGraph_t graph = nullptr;
    std::string why;
    {
      const Scope scope(&r, stream_, &arena_);
      check(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal),
            "cudaStreamBeginCapture");
      try {
        ops();
      } catch (const GraphRefused& x) {
        why = x.why;
      } catch (const GraphMismatch& x) {
        why = x.why;
      } catch (...) {
        end_failed_capture();
        arena_.end_capture();
        refuse(e, "an error during the capture");
        throw;
      }
      if (!why.empty()) {
        end_failed_capture();
      } else {
        const cudaError_t status = cudaStreamEndCapture(stream_, &graph);
        if (status != cudaSuccess) {
          cudaGetLastError();
          why = std::string("the capture failed (") + cudaGetErrorString(status) + ")";
        }
      }
      if (arena_.end_capture() > 0) {
        // A block that an earlier graph uses as scratch is now held by someone: every graph of
        // this cache could write it, so none may run again.
        wait_for_launches();
        for (auto& [key, other] : entries_) {
          other->drop();
          other->state = Entry::State::kFresh;
        }
        why = "a buffer allocated while capturing outlived the capture";
      }
    }
    if (why.empty() && r.pack.size() != e.staged_bytes) why = "the staged arrays changed size";
    if (why.empty()) {
      const cudaError_t status = cudaGraphInstantiate(&e.exec, graph, 0);
      if (status != cudaSuccess) {
        cudaGetLastError();
        e.exec = nullptr;
        why = std::string("cudaGraphInstantiate failed (") + cudaGetErrorString(status) + ")";
      }
    }
    if (graph != nullptr) cudaGraphDestroy(graph);
    if (!why.empty()) {
      refuse(e, why);
      eager(ops);
      return;
    }
    e.signature = std::move(r.signature);
    e.state = Entry::State::kReady;
    nn::graph_stats().captures++;
    launch(e, r.pack);
  }

  void replay(Entry& e, const std::function<void()>& ops) {
    Recorder r(Recorder::Mode::kDry);
    r.device_pack = static_cast<unsigned char*>(e.device_pack);
    r.pack_limit = e.staged_bytes;
    r.signature = e.signature;
    bool matched = true;
    try {
      const Scope scope(&r, nullptr, nullptr);
      ops();
      if (r.position != r.signature.size()) throw GraphMismatch{"fewer ops than recorded"};
      if (r.pack.size() != e.staged_bytes) throw GraphMismatch{"staged arrays changed size"};
    } catch (const GraphMismatch&) {
      matched = false;
    }
    if (matched) {
      e.mismatches = 0;
      nn::graph_stats().replays++;
      launch(e, r.pack);
      return;
    }
    nn::graph_stats().dropped++;
    wait_for_launches();
    e.drop();
    if (++e.mismatches >= kMaxMismatches) {
      refuse(e, "the op sequence changed on every call, three times in a row");
      eager(ops);
      return;
    }
    e.state = Entry::State::kFresh;
    warm_up(e, ops);
  }

  void launch(Entry& e, const std::vector<unsigned char>& pack) {
    PinnedSlot& s = slots_[next_slot_++ % slots_.size()];
    if (s.pending) check(cudaEventSynchronize(s.done), "cudaEventSynchronize (CUDA graph slot)");
    s.pending = false;
    if (s.done == nullptr) {
      check(cudaEventCreateWithFlags(&s.done, cudaEventDisableTiming),
            "cudaEventCreate (CUDA graph slot)");
    }
    if (s.capacity < pack.size()) {
      if (s.host != nullptr) cudaFreeHost(s.host);
      s.host = nullptr;
      s.capacity = 0;
      check(cudaMallocHost(reinterpret_cast<void**>(&s.host), pack.size()),
            "cudaMallocHost (CUDA graph arguments)");
      s.capacity = pack.size();
    }
    if (!pack.empty()) {
      std::memcpy(s.host, pack.data(), pack.size());
      check(cudaMemcpyAsync(e.device_pack, s.host, pack.size(), cudaMemcpyHostToDevice, nullptr),
            "cudaMemcpyAsync (CUDA graph arguments)");
    }
    check(cudaGraphLaunch(e.exec, nullptr), "cudaGraphLaunch");
    check(cudaEventRecord(s.done, nullptr), "cudaEventRecord (CUDA graph slot)");
    s.pending = true;
  }

  void wait_for_launches() {
    for (PinnedSlot& s : slots_) {
      if (!s.pending) continue;
      check(cudaEventSynchronize(s.done), "cudaEventSynchronize (CUDA graph slot)");
      s.pending = false;
    }
  }

  // Ends a capture that the host code abandoned; its partial graph is discarded.
  void end_failed_capture() {
    cudaGraph_t partial = nullptr;
    if (cudaStreamEndCapture(stream_, &partial) != cudaSuccess) cudaGetLastError();
    if (partial != nullptr) cudaGraphDestroy(partial);
  }

  cudaStream_t stream_ = nullptr;
  CaptureArena arena_;
  std::map<uint64_t, std::unique_ptr<Entry>> entries_;
  std::array<PinnedSlot, 4> slots_{};
  size_t next_slot_ = 0;
};

}  // namespace

std::unique_ptr<nn::GraphCache> make_graph_cache() { return std::make_unique<CudaGraphCache>(); }

}  // namespace pfgm::gpu
