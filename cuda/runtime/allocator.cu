// The CUDA side of the caching allocator: cudaMalloc / cudaFree under caching_pool.h's policy.
#include "runtime/allocator.cuh"
#include "runtime/check.cuh"

#include <cstdlib>
#include <cstring>

namespace pfgm::gpu {
namespace {

struct CudaDevice {
  void* malloc(size_t bytes) {
    void* ptr = nullptr;
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

void* pool_allocate(size_t bytes, cudaStream_t stream) { return pool().allocate(bytes, stream); }
bool pool_release(void* ptr) { return pool().release_if_owned(ptr); }
void pool_release_cached() { pool().release_cached(); }
memory::PoolStats pool_stats() { return pool().stats(); }

}  // namespace pfgm::gpu
