// The GPU runtime as the rest of the engine sees it. Implemented by cuda/runtime/runtime.cu in the
// CUDA build and by gpu_absent.cc in the CPU build, so engine code never needs #ifdefs.
#pragma once

#include <cstddef>
#include <string>

namespace pfgm::gpu {

struct Info {
  bool compiled = false;   // this build contains the CUDA backend
  bool available = false;  // and a usable device was found
  std::string reason;      // why it is (not) usable, in words a user can act on
  std::string name;
  int device_count = 0;
  int compute_major = 0;
  int compute_minor = 0;
  size_t memory_bytes = 0;
  int driver_version = 0;
  int runtime_version = 0;
  bool cudnn = false;   // built with cuDNN (PFGM_HAVE_CUDNN)
  bool cublas = false;  // built with cuBLAS (PFGM_HAVE_CUBLAS)
};

Info query();
void* allocate(size_t bytes);
void release(void* ptr);
void copy_to_device(void* dst, const void* src, size_t bytes);
void copy_to_host(void* dst, const void* src, size_t bytes);
void copy_on_device(void* dst, const void* src, size_t bytes);
void synchronize();

}  // namespace pfgm::gpu
