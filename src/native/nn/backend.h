// The ops a network runs, on one device (docs/dev/architecture.md, "One op list, two backends").
// The modules of nn/ and the training session call only these, so one module tree runs on the CPU
// engine (cpu_backend(), which forwards to pfgm::cpu::, the readable reference) and on CUDA
// (cuda_backend(), in cuda/backend.cu, which forwards to the pfgm::cuda:: twins). Every pointer is
// in the backend's memory unless the op's entry in backend_ops.h (the list of ops, which also says
// how to add one) checks it HOST: per-sample coefficients (sigma, c_in, loss weights) are computed
// on the host and are a few floats per sample.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../tensor.h"
#include "backend_ops.h"
#include "graph_cache.h"

namespace pfgm::nn {

// How the CUDA backend runs convolutions and matrix products; the CPU backend is always fp32.
// kBf16 is autocast: bf16 operands, fp32 accumulation, fp32 results, fp32 master weights.
enum class Precision { kFp32, kTf32, kBf16 };
const char* precision_name(Precision p);
Precision parse_precision(const std::string& name);

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  virtual Precision precision() const { return Precision::kFp32; }

  // --- memory: arrays of floats on this device -----------------------------------------------
  virtual float* allocate(int64_t count) = 0;  // zero-filled
  virtual void release(float* p) = 0;
  virtual void copy(int64_t count, const float* src, float* dst) = 0;
  virtual void fill(int64_t count, float value, float* y) = 0;
  virtual void upload(int64_t count, const float* host, float* dst) = 0;
  virtual void download(int64_t count, const float* src, float* host) = 0;

  // Recorded op sequences (graph_cache.h): the CUDA backend's record CUDA graphs (unless
  // PFGM_CUDA_GRAPHS=0); this default runs every call eagerly.
  virtual std::unique_ptr<GraphCache> graph_cache() { return eager_graph_cache(); }

  // --- the ops: one virtual per entry of backend_ops.h -----------------------------------------
#define PFGM_BACKEND_VIRTUAL(kind, ret, name, label, params, args, checks) \
  virtual ret name params = 0;
  PFGM_BACKEND_OPS(PFGM_BACKEND_VIRTUAL)
#undef PFGM_BACKEND_VIRTUAL
};

Backend& cpu_backend();
// The CUDA backend for `precision` (cuda/backend.cu). ERR_PFGM_DEVICE, saying why, in the CPU-only
// build or where no GPU is usable.
Backend& cuda_backend(Precision precision);
// Further devices that a build links in under names of their own (the test build adds one), so
// the engine names none of them: the native Network config's device finds them by name.
using BackendFactory = Backend& (*)(Precision precision);
// Registers `factory` as device `name`; meant for static initialisers (any translation unit).
void register_backend(const char* name, BackendFactory factory);
// The factory registered as `name`, or nullptr.
BackendFactory find_backend(const std::string& name);

// Host access to backend memory for the few host-side loops (PFGM's field packing, the adaptive
// scale's chain rule): on the CPU the pointer itself, elsewhere a copy in `tmp`.
const float* host_view(Backend& be, const float* p, int64_t count, std::vector<float>& tmp);
// A host array to write `count` values that commit_host() then places at `p`.
float* host_target(Backend& be, float* p, int64_t count, std::vector<float>& tmp);
void commit_host(Backend& be, float* p, int64_t count, const std::vector<float>& tmp);
// host_target() holding the current values of p, for a read-modify-write.
float* host_edit(Backend& be, float* p, int64_t count, std::vector<float>& tmp);

}  // namespace pfgm::nn
