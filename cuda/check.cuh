// CUDA error handling: every runtime failure becomes a coded pfgm::Error (ERR_PFGM_CUDA, or
// ERR_PFGM_OUT_OF_MEMORY) with the call that failed, never an abort.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "errors.h"

namespace pfgm::gpu {

inline void check(cudaError_t status, const char* what) {
  if (status == cudaSuccess) return;
  cudaGetLastError();  // clear the sticky-free error state so later calls are not poisoned
  const char* c = status == cudaErrorMemoryAllocation ? code::kMemory : code::kCuda;
  fail(c, std::string(what) + " failed: " + cudaGetErrorString(status));
}

// After a kernel launch: launch errors now, execution errors at the synchronize.
inline void check_launch(const char* kernel) {
  check(cudaGetLastError(), kernel);
  check(cudaStreamSynchronize(0), kernel);
}

}  // namespace pfgm::gpu
