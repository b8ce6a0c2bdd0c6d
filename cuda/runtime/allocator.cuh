// The CUDA caching allocator: the policy of src/native/memory/caching_pool.h over cudaMalloc.
// gpu::allocate / gpu::release (device.h, so every GPU tensor) and the kernels' scratch use it.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

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
