// CUDA error handling: every runtime failure becomes a coded pfgm::Error, never an abort:
// ERR_PFGM_OUT_OF_MEMORY for cudaErrorMemoryAllocation, ERR_PFGM_CUDA for everything else, with
// the call that failed, the error's name and CUDA's description.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "errors.h"

namespace pfgm::gpu {

// Errors after which the CUDA context is corrupt: every later call fails too, so the message
// tells the user that only a new process recovers.
inline bool is_sticky(cudaError_t status) {
  switch (status) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorAssert:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc: return true;
    default: return false;
  }
}

// "cudaMemcpy (copy to the GPU) failed: cudaErrorInvalidValue (invalid argument)".
inline std::string error_text(cudaError_t status, const char* what) {
  std::string msg = std::string(what) + " failed: " + cudaGetErrorName(status) + " (" +
                    cudaGetErrorString(status) + ")";
  if (is_sticky(status)) {
    msg +=
        "; the CUDA context is now unusable, so restart the process (this is a bug in pfgm: "
        "please report it with the call that failed)";
  }
  return msg;
}

inline void check(cudaError_t status, const char* what) {
  if (status == cudaSuccess) return;
  cudaGetLastError();  // clear the error state (non-sticky errors) so later calls are not poisoned
  const char* c = status == cudaErrorMemoryAllocation ? code::kMemory : code::kCuda;
  fail(c, error_text(status, what));
}

// After a kernel launch on a stream: a bad launch configuration is reported here; errors while
// the kernel runs surface at the next synchronizing call (the op cases synchronize at their end).
inline void check_kernel(const char* kernel) { check(cudaGetLastError(), kernel); }

// After a kernel launch: launch errors now, execution errors at the synchronize.
inline void check_launch(const char* kernel) {
  check(cudaGetLastError(), kernel);
  check(cudaStreamSynchronize(0), kernel);
}

}  // namespace pfgm::gpu
