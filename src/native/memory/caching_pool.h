// The policy of the CUDA caching allocator (cuda/runtime/allocator.cu), kept in plain C++ so that
// it is tested on any machine against a fake device (test/native/cases/caching_pool_cases.cc,
// test/native/caching-pool.test.ts).
//
// Why a cache: cudaMalloc and cudaFree synchronize the device and cost tens of microseconds, and a
// training step allocates and frees the same few hundred activation sizes every step. Freed blocks
// go to a free list keyed by (size class, stream) and the next request of that class on that
// stream takes one back without a device call.
//
// Stream-ordered reuse: a block freed by the host may still be read by kernels queued on the
// stream it was used on. Handing it to a later request on the *same* stream is safe, because that
// request's kernels are queued after those reads. Handing it to another stream is not, so a block
// is only reused on the stream it was allocated for; other streams' blocks come back to the device
// when a miss runs out of memory (after a device-wide synchronize) or on release_cached().
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../errors.h"

namespace pfgm::memory {

// Requests up to 1 MiB round up to a multiple of 512 bytes; larger ones to a multiple of 1/8 of
// the largest power of two not above them, so a class wastes at most 12.5% and the number of
// classes stays small (8 per octave). Returns 0 for sizes no device can hold (> 2^48 bytes),
// which the pool reports as out of memory instead of overflowing.
inline size_t size_class(size_t bytes) {
  constexpr size_t kSmallStep = 512, kSmallLimit = size_t{1} << 20, kMax = size_t{1} << 48;
  if (bytes > kMax) return 0;
  if (bytes == 0) bytes = 1;
  auto round_up = [](size_t v, size_t step) { return (v + step - 1) / step * step; };
  if (bytes <= kSmallLimit) return round_up(bytes, kSmallStep);
  size_t pow2 = kSmallLimit;
  while (pow2 <= bytes / 2) pow2 *= 2;
  return round_up(bytes, pow2 / 8);
}

// "1.50 MiB (1572864 bytes)": sizes in error messages.
inline std::string bytes_text(size_t bytes) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  if (u == 0) return std::to_string(bytes) + " bytes";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f %s (%zu bytes)", v, units[u], bytes);
  return buf;
}

struct PoolStats {
  size_t in_use_bytes = 0;     // handed out and not yet released (size-class bytes)
  size_t cached_bytes = 0;     // released, kept for reuse
  uint64_t device_allocs = 0;  // calls to the device allocator (misses)
  uint64_t device_frees = 0;   // blocks given back to the device
  uint64_t hits = 0;           // requests served from the cache
};

// Device must provide:
//   void* malloc(size_t)   nullptr when out of memory; throws pfgm::Error on any other failure
//   void free(void*)
//   void synchronize()     wait for all queued work on every stream
//   void mem_info(size_t* free, size_t* total)
// Stream is an opaque handle compared by value (cudaStream_t in the CUDA build).
//
// With caching off (PFGM_CUDA_NO_CACHING=1, as PyTorch's PYTORCH_NO_CUDA_MEMORY_CACHING) every
// request is a device allocation of exactly its size, given back on release. Slower; it exists
// for out-of-bounds checks, which see only a device allocation's extent (compute-sanitizer
// memcheck, the CUDA emulator's guard pages in test/native/emucuda/): with the cache a size
// rounds up to its class and a freed block is handed out again, so an overrun inside the class
// or a read after free goes unseen.
template <class Device, class Stream>
class CachingPool {
 public:
  explicit CachingPool(Device device, bool caching = true)
      : device_(std::move(device)), caching_(caching) {}
  CachingPool(const CachingPool&) = delete;
  CachingPool& operator=(const CachingPool&) = delete;

  void* allocate(size_t bytes, Stream stream) {
    const size_t cls = caching_ ? size_class(bytes) : exact_size(bytes);
    std::lock_guard<std::mutex> lock(mu_);
    if (cls == 0) oom(bytes, cls);
    auto it = free_.find(Key{cls, stream});
    if (it != free_.end() && !it->second.empty()) {
      void* ptr = it->second.back();
      it->second.pop_back();
      stats_.cached_bytes -= cls;
      stats_.hits += 1;
      return hand_out(ptr, cls, stream);
    }
    void* ptr = device_.malloc(cls);
    if (ptr == nullptr) {
      // Out of memory with blocks parked in the cache: give them all back and try once more.
      release_cached_locked();
      ptr = device_.malloc(cls);
      if (ptr == nullptr) oom(bytes, cls);
    }
    stats_.device_allocs += 1;
    return hand_out(ptr, cls, stream);
  }

  // Returns a block to its stream's free list. Unknown pointers are refused (a double free or a
  // pointer from elsewhere would otherwise corrupt the cache).
  void release(void* ptr) {
    if (ptr != nullptr && !release_if_owned(ptr)) {
      fail(code::kInternal, "the GPU memory pool was asked to free a pointer it did not hand out");
    }
  }

  // release() that answers false for a pointer the pool does not own, for destructors that
  // must not throw. Null is a no-op (true).
  bool release_if_owned(void* ptr) {
    if (ptr == nullptr) return true;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = live_.find(ptr);
    if (it == live_.end()) return false;
    const Live block = it->second;
    live_.erase(it);
    stats_.in_use_bytes -= block.size;
    if (!caching_) {
      device_.free(ptr);  // cudaFree waits for the kernels still queued on the block
      stats_.device_frees += 1;
      return true;
    }
    stats_.cached_bytes += block.size;
    free_[Key{block.size, block.stream}].push_back(ptr);
    return true;
  }

  // Waits for the device, then gives every cached block back to it (tests, and before handing
  // memory to another library).
  void release_cached() {
    std::lock_guard<std::mutex> lock(mu_);
    release_cached_locked();
  }

  PoolStats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

 private:
  struct Key {
    size_t size;
    Stream stream;
    bool operator<(const Key& o) const {
      return size != o.size ? size < o.size : std::less<Stream>()(stream, o.stream);
    }
  };
  struct Live {
    size_t size;
    Stream stream;
  };

  // Without the cache: the request itself (at least 1 byte), or 0 past what any device holds.
  static size_t exact_size(size_t bytes) {
    if (bytes > size_class(size_t{1} << 48)) return 0;
    return bytes == 0 ? 1 : bytes;
  }

  void* hand_out(void* ptr, size_t cls, Stream stream) {
    live_[ptr] = Live{cls, stream};
    stats_.in_use_bytes += cls;
    return ptr;
  }

  void release_cached_locked() {
    if (stats_.cached_bytes == 0) return;
    // Blocks of any stream may still be read by queued kernels: only a full synchronize makes
    // giving them back safe.
    device_.synchronize();
    for (auto& [key, ptrs] : free_) {
      for (void* p : ptrs) {
        device_.free(p);
        stats_.device_frees += 1;
      }
    }
    free_.clear();
    stats_.cached_bytes = 0;
  }

  [[noreturn]] void oom(size_t bytes, size_t cls) {
    size_t dev_free = 0, dev_total = 0;
    device_.mem_info(&dev_free, &dev_total);
    fail(code::kMemory,
         "out of GPU memory: could not allocate " + bytes_text(bytes) +
             (cls == 0   ? std::string(" (no device holds that much)")
              : caching_ ? " (size class " + bytes_text(cls) + ")"
                         : std::string(" (PFGM_CUDA_NO_CACHING=1)")) +
             "; pfgm holds " + bytes_text(stats_.in_use_bytes) + " in use and " +
             bytes_text(stats_.cached_bytes) + " cached, the device reports " +
             bytes_text(dev_free) + " free of " + bytes_text(dev_total) +
             ". Use a smaller batch, or free tensors (dispose()) that are no longer needed");
  }

  Device device_;
  bool caching_;
  std::mutex mu_;
  std::unordered_map<void*, Live> live_;
  std::map<Key, std::vector<void*>> free_;
  PoolStats stats_;
};

}  // namespace pfgm::memory
