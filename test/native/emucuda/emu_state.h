// What the emulator's files share: CUDA's error state and the map of device allocations (kept by
// emu_runtime.cc, used by the scheduler and the emulated cuBLAS), and TF32 rounding.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace pfgm_emu {

// A launch or execution error. Sticky errors (a fault, a barrier that can never complete) are
// returned by every later call, as a corrupted CUDA context's are; the others by the next
// cudaGetLastError. `detail` becomes cudaGetErrorString's text for this error.
void raise_error(cudaError_t code, const std::string& detail);
// The sticky error, or cudaSuccess.
cudaError_t sticky_error();

// Whether [p, p + bytes) lies inside one live device allocation.
bool is_device_range(const void* p, size_t bytes);

// "12 bytes past the end of a 4096-byte device allocation at 0x...": where a faulting address
// lies relative to the live and freed device allocations.
std::string describe_address(const void* p);

// Host<->device copies since the last take_copies(): the byte count of each, by direction (read
// by tests through the addon's emuCopies(), emu_exports.cc, to show what crosses to the host).
struct Copies {
  std::vector<size_t> to_device, to_host;
};
Copies take_copies();
void record_copy(cudaMemcpyKind kind, size_t bytes);

// Stream capture (emu_graphs.cc). What a launch, copy or library call on `stream` does while this
// thread may be capturing: run it now (no capture), record it into the capture (its stream), or
// skip it (another stream while capturing, or an invalidated capture: the error is raised).
enum class CaptureAction { kRun, kRecord, kSkip };
CaptureAction capture_action(cudaStream_t stream, const char* call);
// Appends work to this thread's capture (after capture_action returned kRecord).
void record(std::function<void()> work);
// cudaSuccess, or the error of calling `call` (a synchronizing call) while capturing.
cudaError_t capture_forbids(const char* call);
// The same for a call forbidden only outside cudaStreamCaptureModeRelaxed (cudaMalloc).
cudaError_t capture_forbids_unsafe(const char* call);

// f with its mantissa rounded to TF32's 10 bits (to nearest, ties to even), as the tensor cores
// read fp32 operands; inf and NaN unchanged.
inline float round_tf32(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7f800000u) == 0x7f800000u) return f;
  u = (u + 0xfffu + ((u >> 13) & 1u)) & ~0x1fffu;
  std::memcpy(&f, &u, 4);
  return f;
}

}  // namespace pfgm_emu
