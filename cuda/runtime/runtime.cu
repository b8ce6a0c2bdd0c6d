// The CUDA build's GPU runtime: device discovery, memory and copies (device.h).
#include "device.h"
#include "runtime/allocator.cuh"
#include "runtime/check.cuh"
#include "runtime/launch.cuh"

namespace pfgm::gpu {

Info query() {
  Info info;
  info.compiled = true;
#ifdef PFGM_HAVE_CUDNN
  info.cudnn = true;
#endif
#ifdef PFGM_HAVE_CUBLAS
  info.cublas = true;
#endif
  cudaRuntimeGetVersion(&info.runtime_version);
  cudaDriverGetVersion(&info.driver_version);
  const cudaError_t status = cudaGetDeviceCount(&info.device_count);
  if (status != cudaSuccess) {
    cudaGetLastError();
    info.device_count = 0;
    info.reason = info.driver_version == 0
                      ? "no NVIDIA driver on this machine (libcuda not found), so no GPU"
                      : std::string("no usable CUDA device (") + cudaGetErrorString(status) + ")";
    return info;
  }
  if (info.device_count == 0) {
    info.reason = "no CUDA device found";
    return info;
  }
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
    cudaGetLastError();
    info.reason = "the CUDA device could not be queried";
    return info;
  }
  info.available = true;
  info.name = prop.name;
  info.compute_major = prop.major;
  info.compute_minor = prop.minor;
  info.memory_bytes = prop.totalGlobalMem;
  info.reason = std::string("using CUDA device 0: ") + prop.name;
  return info;
}

void set_current_device(int ordinal) { check(cudaSetDevice(ordinal), "cudaSetDevice"); }

// Through the caching allocator (allocator.cu), ordered on the engine stream.
void* allocate(size_t bytes) {
  fix_device();
  return pool_allocate(bytes, engine_stream());
}

void release(void* ptr) {
  if (ptr == nullptr || pool_release(ptr)) return;
  if (cudaFree(ptr) != cudaSuccess) cudaGetLastError();  // not the pool's: free it directly
}

void copy_to_device(void* dst, const void* src, size_t bytes) {
  check(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "copy to the GPU");
}

void copy_to_host(void* dst, const void* src, size_t bytes) {
  check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "copy from the GPU");
}

void copy_on_device(void* dst, const void* src, size_t bytes) {
  check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice), "copy on the GPU");
}

void synchronize() { check(cudaDeviceSynchronize(), "cudaDeviceSynchronize"); }

}  // namespace pfgm::gpu
