// The CUDA caching allocator: the policy of src/native/memory/caching_pool.h over cudaMalloc.
// gpu::allocate / gpu::release (device.h, so every GPU tensor) and the kernels' scratch use it.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <unordered_map>
#include <utility>
#include <vector>

#include "memory/caching_pool.h"

namespace pfgm::gpu {

// A block of at least `bytes` whose reuse is ordered on `stream` (ERR_PFGM_OUT_OF_MEMORY with
// the sizes when even an emptied cache cannot serve it).
void* pool_allocate(size_t bytes, cudaStream_t stream);
// Back to the cache; false when the pointer was not the pool's (then nothing happened).
bool pool_release(void* ptr);
// Synchronizes the device and gives every cached block back to CUDA (tests, leak checks).
void pool_release_cached();
memory::PoolStats pool_stats();

// The memory of CUDA graphs (graph.cu). A graph replays the addresses it was captured with, so
// the blocks its kernels use as scratch (allocated and freed during the capture) must never be
// handed to anyone else while it lives, and neither may blocks allocated before the capture and
// freed during it (the graph still reads them). While an arena is set on a thread, pool_release
// keeps such blocks in the arena instead of the pool, and pool_allocate serves requests of the
// same size from them first; blocks allocated during the capture and still held at its end belong
// to their holders as usual. Arenas order everything on the legacy stream, where graphs launch.
class CaptureArena {
 public:
  CaptureArena() = default;
  CaptureArena(const CaptureArena&) = delete;
  CaptureArena& operator=(const CaptureArena&) = delete;
  ~CaptureArena() { release_all(); }
  // Ends a capture: blocks still held by callers are theirs. Returns how many of them came from
  // this arena's own blocks (then a graph captured earlier may still write them: unsafe).
  size_t end_capture();
  // Gives every block back to the pool (no graph using them may be launched again).
  void release_all();

 private:
  friend void* pool_allocate(size_t bytes, cudaStream_t stream);
  friend bool pool_release(void* ptr);
  std::multimap<size_t, void*> free_;  // owned, reusable: exact size -> block
  std::unordered_map<void*, std::pair<size_t, bool>> taken_;  // handed out in this capture:
                                                              // size, whether it came from free_
  std::vector<void*> held_;  // freed in a capture, allocated before it
};
// The arena of the capture running on this thread (null: none).
void set_capture_arena(CaptureArena* arena);

// While alive, lets this thread call cudaMalloc during a capture. A capture forbids it by default
// since the allocation is not recorded; here only the address is used, which stays valid, so the
// caching allocator and cuBLAS's workspace allow it, as PyTorch's allocator does.
class RelaxedCaptureMode {
 public:
  RelaxedCaptureMode() { cudaThreadExchangeStreamCaptureMode(&mode_); }
  ~RelaxedCaptureMode() { cudaThreadExchangeStreamCaptureMode(&mode_); }
  RelaxedCaptureMode(const RelaxedCaptureMode&) = delete;
  RelaxedCaptureMode& operator=(const RelaxedCaptureMode&) = delete;

 private:
  cudaStreamCaptureMode mode_ = cudaStreamCaptureModeRelaxed;
};

// Scratch or an op's buffer of `count` elements of T in pooled device memory, freed on every
// exit path.
template <typename T>
class DeviceArray {
 public:
  DeviceArray() = default;
  explicit DeviceArray(int64_t count, cudaStream_t stream = nullptr)
      : count_(count),
        ptr_(static_cast<T*>(
            pool_allocate(static_cast<size_t>(count > 0 ? count : 0) * sizeof(T), stream))) {}
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  DeviceArray(DeviceArray&& o) noexcept : count_(o.count_), ptr_(o.ptr_) { o.ptr_ = nullptr; }
  DeviceArray& operator=(DeviceArray&& o) noexcept {
    if (this != &o) {
      reset();
      count_ = o.count_;
      ptr_ = o.ptr_;
      o.ptr_ = nullptr;
    }
    return *this;
  }
  ~DeviceArray() { reset(); }

  T* get() const { return ptr_; }
  int64_t size() const { return count_; }

 private:
  void reset() {
    if (ptr_ != nullptr) pool_release(ptr_);
    ptr_ = nullptr;
  }
  int64_t count_ = 0;
  T* ptr_ = nullptr;
};

}  // namespace pfgm::gpu
