// What the emulator's scheduler (emu_scheduler.cc) and runtime (emu_runtime.cc) share: CUDA's
// error state and the map of device allocations.
#pragma once

#include <cuda_runtime_api.h>

#include <string>

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

}  // namespace pfgm_emu
