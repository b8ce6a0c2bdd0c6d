// The Recorder of graph.cuh: what the backend's ops report while a CUDA graph is warmed up,
// captured or replayed. No CUDA calls, so the fake-CUDA test addon compiles it too.
#include "runtime/graph.cuh"

namespace pfgm::gpu {
namespace {

thread_local Recorder* t_recorder = nullptr;

// Staged arrays start on 16-byte boundaries, as any kernel argument may assume.
size_t aligned(size_t bytes) { return (bytes + 15) / 16 * 16; }

}  // namespace

void set_recorder(Recorder* r) { t_recorder = r; }

Recorder* recorder() { return t_recorder; }

bool Recorder::op(uint64_t fingerprint) {
  switch (mode_) {
    case Mode::kWarmup: return true;
    case Mode::kCapture: signature.push_back(fingerprint); return true;
    case Mode::kDry:
      if (position >= signature.size() || signature[position] != fingerprint)
        throw GraphMismatch{"an op or its arguments differ from the recording"};
      ++position;
      return false;
  }
  return true;
}

void* Recorder::stage(const void* host, size_t bytes) {
  if (mode_ == Mode::kWarmup) {
    staged_bytes += aligned(bytes);
    return nullptr;
  }
  Fingerprint f("stage");
  f.add(bytes);
  op(f.value());
  const size_t at = pack.size();
  pack.resize(at + aligned(bytes));
  if (bytes > 0) std::memcpy(pack.data() + at, host, bytes);
  if (pack.size() > pack_limit) throw GraphMismatch{"more staged host arrays than in the warm-up"};
  return device_pack + at;
}

void Recorder::refuse(const std::string& what) {
  if (mode_ == Mode::kWarmup) {
    if (refusal.empty()) refusal = what;
    return;
  }
  throw GraphRefused{what};
}

void Recorder::memory(const char* what) {
  if (mode_ == Mode::kDry) throw GraphMismatch{std::string(what) + " in a replayed sequence"};
  Fingerprint f(what);
  op(f.value());
}

}  // namespace pfgm::gpu
