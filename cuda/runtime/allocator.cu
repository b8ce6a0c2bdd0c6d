// The CUDA side of the caching allocator: cudaMalloc / cudaFree under caching_pool.h's policy.
#include "runtime/allocator.cuh"
#include "runtime/check.cuh"

#include <cstdlib>
#include <cstring>
#include <optional>

namespace pfgm::gpu {
namespace {

thread_local CaptureArena* t_arena = nullptr;  // set while this thread captures a graph

struct CudaDevice {
  void* malloc(size_t bytes) {
    void* ptr = nullptr;
    std::optional<RelaxedCaptureMode> relaxed;  // while this thread captures a graph
    if (t_arena != nullptr) relaxed.emplace();
    const cudaError_t status = cudaMalloc(&ptr, bytes);
    if (status == cudaErrorMemoryAllocation) {
      cudaGetLastError();  // not sticky: clear it, the pool frees its cache and retries
      return nullptr;
    }
    check(status, "cudaMalloc");
    return ptr;
  }
  void free(void* ptr) {
    // A failing cudaFree (a corrupt context) must not throw from destructors; the error is
    // cleared and reported by the next checked call.
    if (cudaFree(ptr) != cudaSuccess) cudaGetLastError();
  }
  void synchronize() {
    check(cudaDeviceSynchronize(), "cudaDeviceSynchronize (freeing cached GPU memory)");
  }
  void mem_info(size_t* free_bytes, size_t* total) {
    if (cudaMemGetInfo(free_bytes, total) != cudaSuccess) {
      cudaGetLastError();
      *free_bytes = *total = 0;
    }
  }
};

using Pool = memory::CachingPool<CudaDevice, cudaStream_t>;

// PFGM_CUDA_NO_CACHING=1 turns the cache off (caching_pool.h says why one would).
bool caching_on() {
  const char* v = std::getenv("PFGM_CUDA_NO_CACHING");
  return v == nullptr || *v == '\0' || std::strcmp(v, "0") == 0;
}

// Never destroyed: tensors released by finalizers at exit may outlive static destructors, and
// the CUDA context is gone by then anyway.
Pool& pool() {
  static Pool* p = new Pool(CudaDevice{}, caching_on());
  return *p;
}

}  // namespace

void set_capture_arena(CaptureArena* arena) { t_arena = arena; }

void* pool_allocate(size_t bytes, cudaStream_t stream) {
  CaptureArena* arena = t_arena;
  if (arena == nullptr) return pool().allocate(bytes, stream);
  const auto it = arena->free_.find(bytes);
  if (it != arena->free_.end()) {
    void* ptr = it->second;
    arena->free_.erase(it);
    arena->taken_[ptr] = {bytes, true};
    return ptr;
  }
  void* ptr = pool().allocate(bytes, nullptr);  // graphs launch on the legacy stream
  arena->taken_[ptr] = {bytes, false};
  return ptr;
}

bool pool_release(void* ptr) {
  CaptureArena* arena = t_arena;
  if (arena == nullptr) return pool().release_if_owned(ptr);
  const auto it = arena->taken_.find(ptr);
  if (it != arena->taken_.end()) {
    arena->free_.emplace(it->second.first, ptr);
    arena->taken_.erase(it);
  } else {
    arena->held_.push_back(ptr);
  }
  return true;
}

size_t CaptureArena::end_capture() {
  size_t reused = 0;
  for (const auto& [ptr, what] : taken_) reused += what.second ? 1 : 0;
  taken_.clear();
  return reused;
}

void CaptureArena::release_all() {
  for (const auto& [bytes, ptr] : free_) pool().release_if_owned(ptr);
  for (void* ptr : held_) {
    if (!pool().release_if_owned(ptr) && cudaFree(ptr) != cudaSuccess) cudaGetLastError();
  }
  free_.clear();
  held_.clear();
}
void pool_release_cached() { pool().release_cached(); }
memory::PoolStats pool_stats() { return pool().stats(); }

}  // namespace pfgm::gpu
