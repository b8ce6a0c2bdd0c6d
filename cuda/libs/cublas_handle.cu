// See cublas_handle.cuh.
#include "libs/cublas_handle.cuh"

#include <string>

#include "errors.h"

namespace pfgm::cuda {

void no_cublas(const char* op) {
  fail(code::kDevice,
       std::string(op) +
           ": this CUDA build has no cuBLAS: install nvidia-cublas (pip, CUDA 13: it unpacks into "
           "nvidia/cu13) or set CUBLAS_ROOT to a cuBLAS 13 folder (include/cublas_v2.h, "
           "lib/libcublas.so.13 and libcublasLt.so.13) and rebuild");
}

}  // namespace pfgm::cuda

#ifdef PFGM_HAVE_CUBLAS
#include "runtime/allocator.cuh"
#include "runtime/check.cuh"
#include "runtime/launch.cuh"

namespace pfgm::cuda {

void check_cublas(cublasStatus_t status, const std::string& what) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  fail(status == CUBLAS_STATUS_ALLOC_FAILED ? code::kMemory : code::kCuda,
       "cuBLAS " + what + " failed: " + cublasGetStatusName(status) + " (" +
           cublasGetStatusString(status) + ")");
}

std::mutex& cublas_mutex() {
  static auto* mu = new std::mutex;  // never destroyed: in use until the process ends
  return *mu;
}

cublasHandle_t cublas_handle() {
  static cublasHandle_t h = [] {
    cublasHandle_t made = nullptr;
    const cublasStatus_t status = cublasCreate(&made);
    if (status != CUBLAS_STATUS_SUCCESS) {
      fail(code::kDevice,
           std::string("cuBLAS could not start (cublasCreate: ") + cublasGetStatusString(status) +
               "); check that libcublasLt.so.13 sits next to libcublas.so.13 and the driver is "
               "recent enough for CUDA 13");
    }
    check_cublas(cublasSetMathMode(made, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
    return made;
  }();
  // The engine stream, or a CUDA graph's capture stream on this thread (launch.cuh). Setting a
  // stream also restores cuBLAS's default workspace; a capture gets a workspace of its own, so
  // cuBLAS allocates nothing inside the graph (cuBLAS guide, "CUDA Graphs Support").
  static cudaStream_t bound = reinterpret_cast<cudaStream_t>(-1);
  const cudaStream_t stream = gpu::engine_stream();
  if (stream != bound) {
    check_cublas(cublasSetStream(h, stream), "cublasSetStream");
    if (stream != nullptr) {
      constexpr size_t kWorkspace = size_t{32} << 20;  // what the guide advises for Hopper
      static void* workspace = [] {
        void* p = nullptr;
        const gpu::RelaxedCaptureMode relaxed;  // made during the first capture that needs it
        gpu::check(cudaMalloc(&p, kWorkspace), "cudaMalloc (cuBLAS workspace for CUDA graphs)");
        return p;
      }();
      check_cublas(cublasSetWorkspace(h, workspace, kWorkspace), "cublasSetWorkspace");
    }
    bound = stream;
  }
  return h;
}

}  // namespace pfgm::cuda
#endif  // PFGM_HAVE_CUBLAS
