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

// Which GPU this process uses (docs/cuda.md, "Choosing a GPU"): device `ordinal` among those CUDA
// makes visible. ERR_PFGM_DEVICE, naming how many there are, when it does not exist; and when the
// process already works on another one (one GPU per process: its memory, streams and library
// handles are that device's). Without a call, device 0.
void select_device(int ordinal);
// Makes the selected GPU current on the calling thread, as CUDA keeps the current device per
// thread: the binding runs it before every call and every worker's job (binding/napi_util.h).
// Nothing to do, and no CUDA call, until select_device has chosen a device other than 0.
void bind_thread();
// Records that the process now works on the selected GPU (the CUDA backend and device allocations
// call it), after which select_device accepts only that device.
void fix_device();
// The runtime's half of select_device: make `ordinal` current on this thread (cudaSetDevice).
void set_current_device(int ordinal);
void* allocate(size_t bytes);
void release(void* ptr);
void copy_to_device(void* dst, const void* src, size_t bytes);
void copy_to_host(void* dst, const void* src, size_t bytes);
void copy_on_device(void* dst, const void* src, size_t bytes);
void synchronize();

}  // namespace pfgm::gpu
