// The process's one cuBLAS handle, shared by the linear layers (linear.cu) and attention's
// products (attention_blas.cu): bound to the engine stream, its math mode left at
// CUBLAS_DEFAULT_MATH for good, so CUBLAS_COMPUTE_32F always means IEEE fp32 and TF32 / bf16
// come only from the compute type a call asks for.
#pragma once

namespace pfgm::cuda {

// In a build without cuBLAS: ERR_PFGM_DEVICE for `op`, saying how to get cuBLAS.
[[noreturn]] void no_cublas(const char* op);

}  // namespace pfgm::cuda

#ifdef PFGM_HAVE_CUBLAS
#include <cublas_v2.h>

#include <mutex>
#include <string>

namespace pfgm::cuda {

// ERR_PFGM_OUT_OF_MEMORY or ERR_PFGM_CUDA naming `what` and cuBLAS's status, unless success.
void check_cublas(cublasStatus_t status, const std::string& what);
// A handle must not be used from two threads at once: hold this around every call.
std::mutex& cublas_mutex();
// Made on first use (ERR_PFGM_DEVICE saying why when cuBLAS cannot start); with cublas_mutex()
// held.
cublasHandle_t cublas_handle();

}  // namespace pfgm::cuda
#endif  // PFGM_HAVE_CUBLAS
