// The CPU backend: every call forwards to the reference ops (pfgm::cpu) of src/native/ops, optim
// and physics, so a network on this backend computes exactly what the CPU engine always has. The
// ops' overrides are generated from the list in backend_ops.h.
#include <algorithm>
#include <cstring>
#include <new>
#include <type_traits>

#include "../errors.h"
#include "backend.h"

namespace pfgm::nn {
namespace {

// Each CPU reference that backend_ops.h declares is one function of the backend's signature: an
// ops/*.h declaration that differed from the list would have made a second overload.
#define PFGM_CPU_SIGNATURE_PLAIN(ret, name, params)                  \
  static_assert(std::is_same_v<decltype(&cpu::name), ret(*) params>, \
                "cpu::" #name " differs from its entry in backend_ops.h");
#define PFGM_CPU_SIGNATURE_MATH PFGM_CPU_SIGNATURE_PLAIN
#define PFGM_CPU_SIGNATURE_ATTENTION PFGM_CPU_SIGNATURE_PLAIN
#define PFGM_CPU_SIGNATURE_CUDA_CUSTOM PFGM_CPU_SIGNATURE_PLAIN
#define PFGM_CPU_SIGNATURE_CUSTOM(ret, name, params)
#define PFGM_CPU_SIGNATURE(kind, ret, name, label, params, args, checks) \
  PFGM_CPU_SIGNATURE_##kind(ret, name, params)
PFGM_BACKEND_OPS(PFGM_CPU_SIGNATURE)
#undef PFGM_CPU_SIGNATURE
#undef PFGM_CPU_SIGNATURE_CUSTOM
#undef PFGM_CPU_SIGNATURE_CUDA_CUSTOM
#undef PFGM_CPU_SIGNATURE_ATTENTION
#undef PFGM_CPU_SIGNATURE_MATH
#undef PFGM_CPU_SIGNATURE_PLAIN

class CpuBackend final : public Backend {
 public:
  Device device() const override { return Device::cpu; }

  float* allocate(int64_t count) override {
    float* p = new (std::nothrow) float[static_cast<size_t>(count)]();
    if (p == nullptr) {
      fail(code::kMemory, "out of host memory: could not allocate " + std::to_string(count) +
                              " floats for an activation (use a smaller batch)");
    }
    return p;
  }
  void release(float* p) override { delete[] p; }
  void copy(int64_t count, const float* src, float* dst) override {
    if (count > 0 && src != dst) std::memmove(dst, src, static_cast<size_t>(count) * sizeof(float));
  }
  void fill(int64_t count, float value, float* y) override { std::fill(y, y + count, value); }
  void upload(int64_t count, const float* host, float* dst) override { copy(count, host, dst); }
  void download(int64_t count, const float* src, float* host) override { copy(count, src, host); }

  // The ops of backend_ops.h: the CUSTOM ones below the class, the others forwarded as they are.
#define PFGM_CPU_PLAIN(ret, name, params, args) \
  ret name params override { return cpu::name args; }
#define PFGM_CPU_MATH PFGM_CPU_PLAIN
#define PFGM_CPU_ATTENTION PFGM_CPU_PLAIN
#define PFGM_CPU_CUDA_CUSTOM PFGM_CPU_PLAIN
#define PFGM_CPU_CUSTOM(ret, name, params, args) ret name params override;
#define PFGM_CPU_OP(kind, ret, name, label, params, args, checks) \
  PFGM_CPU_##kind(ret, name, params, args)
  PFGM_BACKEND_OPS(PFGM_CPU_OP)
#undef PFGM_CPU_OP
#undef PFGM_CPU_CUSTOM
#undef PFGM_CPU_CUDA_CUSTOM
#undef PFGM_CPU_ATTENTION
#undef PFGM_CPU_MATH
#undef PFGM_CPU_PLAIN
};

// --- the CUSTOM ops of backend_ops.h: the CPU op's signature differs from the backend's ----------
double CpuBackend::weighted_mse_forward(int64_t samples, int64_t per_sample, const float* pred,
                                        const float* target, const float* weight) {
  return cpu::weighted_mse_forward(samples, per_sample, pred, target, weight, nullptr);
}
void CpuBackend::student_t_noise_f32(float* out, const NoiseSpec& spec) {
  cpu::student_t_noise_f32(nullptr, out, spec);
}

}  // namespace

Backend& cpu_backend() {
  static CpuBackend backend;
  return backend;
}

}  // namespace pfgm::nn
