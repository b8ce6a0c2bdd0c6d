// Choosing the process's GPU (device.h): the checks and the per-thread binding, shared by every
// build; set_current_device is each runtime's (cudaSetDevice in cuda/runtime/runtime.cu).
#include <atomic>
#include <string>

#include "device.h"
#include "errors.h"

namespace pfgm::gpu {
namespace {

std::atomic<int> g_selected{0};
std::atomic<bool> g_fixed{false};
thread_local int t_bound = 0;  // CUDA's default current device

}  // namespace

void select_device(int ordinal) {
  const Info info = query();
  const std::string name = "cuda:" + std::to_string(ordinal);
  if (!info.available)
    fail(code::kDevice, "device '" + name + "' is not usable here: " + info.reason);
  if (ordinal < 0 || ordinal >= info.device_count) {
    const int n = info.device_count;
    fail(code::kDevice,
         "device '" + name + "' does not exist: this machine has " + std::to_string(n) +
             (n == 1 ? " CUDA device (cuda:0)"
                     : " CUDA devices (cuda:0 to cuda:" + std::to_string(n - 1) + ")") +
             " among those CUDA_VISIBLE_DEVICES leaves visible");
  }
  const int current = g_selected.load();
  if (g_fixed.load() && current != ordinal) {
    fail(code::kDevice, "device '" + name +
                            "': this process already works on cuda:" + std::to_string(current) +
                            "; a process uses one GPU (run one process per GPU, docs/cuda.md)");
  }
  g_selected.store(ordinal);
  bind_thread();
}

void bind_thread() {
  const int d = g_selected.load(std::memory_order_relaxed);
  if (t_bound == d) return;
  set_current_device(d);
  t_bound = d;
}

void fix_device() { g_fixed.store(true); }

}  // namespace pfgm::gpu
