// The guarded device's memory and checks (backend_guarded.cc), for the code that runs on it: the
// guarded backend itself and the fake-CUDA test addon (test/native/fakecuda/), whose stand-ins
// for the CUDA runtime and kernels check their pointers here before running the CPU ops.
#pragma once

#include <cstddef>
#include <cstdint>

#include "nn/backend.h"

namespace pfgm::nn {
// A test device without a GPU (backend_guarded.cc): the CPU ops on memory the host cannot touch,
// with every device and host pointer checked, so the staging that CUDA needs is exercised on any
// machine. The test build registers it as the native Network config's device 'cpu-guarded'.
Backend& guarded_backend();
}  // namespace pfgm::nn

namespace pfgm::nn::guarded {

// Bytes of device memory, zero-filled; released memory is never handed out again.
void* allocate(size_t bytes);
void release(void* p);
// Whether p points into the device's reserved range (live, released or between arrays).
bool in_arena(const void* p);

// One operation's stay on the device: check its pointers (ERR_PFGM_INTERNAL naming `op` and the
// argument), which opens the memory to the host until the outermost Access ends. Holds the
// device's lock for its lifetime.
class Access {
 public:
  explicit Access(const char* op);
  ~Access();
  Access(const Access&) = delete;
  Access& operator=(const Access&) = delete;
  // `bytes` from p must lie in one live allocation (null allowed when nullable or bytes == 0).
  void device(const void* p, int64_t bytes, const char* what, bool nullable = false);
  // p must not point into the device's memory.
  void host(const void* p, const char* what);

 private:
  void open();
  const char* op_;
  bool open_ = false;
};

}  // namespace pfgm::nn::guarded
