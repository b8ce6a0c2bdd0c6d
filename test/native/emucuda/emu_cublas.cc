// The CUDA emulator's cuBLAS (cublas/cublas_v2.h): cublasGemmEx and cublasGemmStridedBatchedEx
// as the cuBLAS guide defines them, column-major C = alpha op(A) op(B) + beta C, so what
// cuda/libs/linear.cu and cuda/libs/attention_blas.cu pass (the row-major mapping, transposes,
// leading dimensions, strides and compute types) is checked against the definition, not against our
// own reading of it.
//
// Checked as cuBLAS does (CUBLAS_STATUS_INVALID_VALUE): m, n, k >= 0 and each leading dimension
// at least its stored operand's row count. Checked beyond cuBLAS: every element a call reads or
// writes lies in one device allocation (a host pointer or an extent past the end is
// INVALID_VALUE with the operand named; cublasGetStatusString then says which). Computed: fp32
// or bf16 A and B; _FAST_TF32 rounds fp32 operands to TF32 and _FAST_16BF to bf16 (to nearest),
// as the tensor cores read them; products summed in double and rounded once (cuBLAS sums in fp32
// in an order of its own, so the parity tests' bounds hold a fortiori); beta = 0 never reads C.
#include "cublas/cublas_v2.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "emu_state.h"
#include "ops/bf16_math.h"

struct pfgm_emu_cublas_context {
  cudaStream_t stream = nullptr;
  cublasMath_t math = CUBLAS_DEFAULT_MATH;
};

namespace {

thread_local std::string last_detail;

cublasStatus_t invalid(const std::string& detail) {
  last_detail = "pfgm CUDA emulator: " + detail;
  return CUBLAS_STATUS_INVALID_VALUE;
}

size_t element_bytes(cudaDataType t) { return t == CUDA_R_16BF ? 2 : 4; }

float load(const void* base, int64_t i, cudaDataType t, cublasComputeType_t compute) {
  if (t == CUDA_R_16BF) return pfgm::bf16::to_float(static_cast<const uint16_t*>(base)[i]);
  const float v = static_cast<const float*>(base)[i];
  if (compute == CUBLAS_COMPUTE_32F_FAST_TF32) return pfgm_emu::round_tf32(v);
  if (compute == CUBLAS_COMPUTE_32F_FAST_16BF)
    return pfgm::bf16::to_float(pfgm::bf16::from_float(v));
  return v;
}

// The elements [first, first + count) of a `type` array at p must be device memory.
cublasStatus_t check_extent(const char* name, const void* p, int64_t count, cudaDataType type) {
  if (count <= 0) return CUBLAS_STATUS_SUCCESS;
  const size_t bytes = static_cast<size_t>(count) * element_bytes(type);
  if (pfgm_emu::is_device_range(p, bytes)) return CUBLAS_STATUS_SUCCESS;
  return invalid(std::string(name) + ": " + std::to_string(bytes) +
                 " bytes from it are not inside one device allocation (" +
                 pfgm_emu::describe_address(p) + ")");
}

// Elements spanned by a column-major rows x cols operand with leading dimension ld.
int64_t span(int64_t rows, int64_t cols, int64_t ld) {
  return rows == 0 || cols == 0 ? 0 : (cols - 1) * ld + rows;
}

cublasStatus_t gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                    const void* alpha, const void* A, cudaDataType at, int lda, long long sa,
                    const void* B, cudaDataType bt, int ldb, long long sb, const void* beta,
                    void* C, cudaDataType ct, int ldc, long long sc, int batch,
                    cublasComputeType_t compute) {
  if (m < 0 || n < 0 || k < 0 || batch < 0) return invalid("a negative dimension or batch count");
  if ((ta != CUBLAS_OP_N && ta != CUBLAS_OP_T) || (tb != CUBLAS_OP_N && tb != CUBLAS_OP_T)) {
    return invalid("transa / transb must be CUBLAS_OP_N or CUBLAS_OP_T for real data");
  }
  if ((at != CUDA_R_32F && at != CUDA_R_16BF) || bt != at || ct != CUDA_R_32F) {
    return invalid("emulated types: A and B both CUDA_R_32F or both CUDA_R_16BF, C CUDA_R_32F");
  }
  if (compute != CUBLAS_COMPUTE_32F && compute != CUBLAS_COMPUTE_32F_FAST_TF32 &&
      compute != CUBLAS_COMPUTE_32F_FAST_16BF) {
    return invalid("compute type " + std::to_string(compute) + " is not emulated");
  }
  const int64_t a_rows = ta == CUBLAS_OP_N ? m : k, a_cols = ta == CUBLAS_OP_N ? k : m;
  const int64_t b_rows = tb == CUBLAS_OP_N ? k : n, b_cols = tb == CUBLAS_OP_N ? n : k;
  if (lda < std::max<int64_t>(1, a_rows))
    return invalid("lda " + std::to_string(lda) + " < rows of A " + std::to_string(a_rows));
  if (ldb < std::max<int64_t>(1, b_rows))
    return invalid("ldb " + std::to_string(ldb) + " < rows of B " + std::to_string(b_rows));
  if (ldc < std::max(1, m))
    return invalid("ldc " + std::to_string(ldc) + " < m " + std::to_string(m));
  if (m == 0 || n == 0 || batch == 0) return CUBLAS_STATUS_SUCCESS;
  const float al = *static_cast<const float*>(alpha), be = *static_cast<const float*>(beta);
  for (int b = 0; b < batch; ++b) {
    const char* ap =
        static_cast<const char*>(A) + b * sa * static_cast<long long>(element_bytes(at));
    const char* bp =
        static_cast<const char*>(B) + b * sb * static_cast<long long>(element_bytes(bt));
    float* cp = static_cast<float*>(C) + b * sc;
    if (k > 0 && al != 0.0f) {
      if (const cublasStatus_t s = check_extent("A", ap, span(a_rows, a_cols, lda), at)) return s;
      if (const cublasStatus_t s = check_extent("B", bp, span(b_rows, b_cols, ldb), bt)) return s;
    }
    if (const cublasStatus_t s = check_extent("C", cp, span(m, n, ldc), ct)) return s;
    // op(A) as rows of k and op(B) as columns of k, in the compute type's precision, so the
    // products below walk memory in order.
    std::vector<float> arow(static_cast<size_t>(m) * k), bcol(static_cast<size_t>(n) * k);
    for (int i = 0; i < m; ++i) {
      for (int p = 0; p < k; ++p) {
        const int64_t ai = ta == CUBLAS_OP_N ? i + int64_t{p} * lda : p + int64_t{i} * lda;
        arow[static_cast<size_t>(i) * k + p] = load(ap, ai, at, compute);
      }
    }
    for (int j = 0; j < n; ++j) {
      for (int p = 0; p < k; ++p) {
        const int64_t bi = tb == CUBLAS_OP_N ? p + int64_t{j} * ldb : j + int64_t{p} * ldb;
        bcol[static_cast<size_t>(j) * k + p] = load(bp, bi, bt, compute);
      }
    }
    for (int j = 0; j < n; ++j) {
      const float* bj = bcol.data() + static_cast<size_t>(j) * k;
      for (int i = 0; i < m; ++i) {
        const float* ai = arow.data() + static_cast<size_t>(i) * k;
        double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;  // independent chains: 4x the throughput
        int p = 0;
        for (; p + 4 <= k; p += 4) {
          s0 += static_cast<double>(ai[p]) * bj[p];
          s1 += static_cast<double>(ai[p + 1]) * bj[p + 1];
          s2 += static_cast<double>(ai[p + 2]) * bj[p + 2];
          s3 += static_cast<double>(ai[p + 3]) * bj[p + 3];
        }
        for (; p < k; ++p) s0 += static_cast<double>(ai[p]) * bj[p];
        const double sum = al == 0.0f ? 0.0 : (s0 + s1) + (s2 + s3);
        float& c = cp[i + int64_t{j} * ldc];
        c = static_cast<float>(al * sum + (be == 0.0f ? 0.0 : static_cast<double>(be) * c));
      }
    }
  }
  return CUBLAS_STATUS_SUCCESS;
}

// Runs product(alpha, beta) now, or, while the handle's stream is captured (emu_graphs.cc),
// records it with the values of the host scalars alpha and beta, as cuBLAS reads them when the
// call is made (CUBLAS_POINTER_MODE_HOST). A recorded product that fails when the graph runs
// raises a launch error naming it.
template <class Product>
cublasStatus_t captured(cublasHandle_t handle, Product product, const void* alpha,
                        const void* beta) {
  switch (pfgm_emu::capture_action(handle->stream, "a cuBLAS product")) {
    case pfgm_emu::CaptureAction::kRecord: {
      const float al = *static_cast<const float*>(alpha), be = *static_cast<const float*>(beta);
      pfgm_emu::record([=] {
        if (product(&al, &be) != CUBLAS_STATUS_SUCCESS)
          pfgm_emu::raise_error(cudaErrorLaunchFailure,
                                "a cuBLAS product of a graph failed: " + last_detail);
      });
      return CUBLAS_STATUS_SUCCESS;
    }
    case pfgm_emu::CaptureAction::kSkip: return CUBLAS_STATUS_EXECUTION_FAILED;
    case pfgm_emu::CaptureAction::kRun: break;
  }
  return product(alpha, beta);
}

}  // namespace

extern "C" {

cublasStatus_t cublasCreate(cublasHandle_t* handle) {
  *handle = new pfgm_emu_cublas_context();
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  // The emulated products follow the compute type only; the engine keeps the default.
  if (mode != CUBLAS_DEFAULT_MATH) return invalid("only CUBLAS_DEFAULT_MATH is emulated");
  handle->math = mode;
  return CUBLAS_STATUS_SUCCESS;
}

// The emulated products need no workspace; the pointer must be device memory, as on a GPU.
cublasStatus_t cublasSetWorkspace(cublasHandle_t handle, void* workspace, size_t bytes) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (bytes > 0 && !pfgm_emu::is_device_range(workspace, bytes))
    return invalid("cublasSetWorkspace: the workspace is not device memory");
  return CUBLAS_STATUS_SUCCESS;
}

const char* cublasGetStatusName(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    default: return "CUBLAS_STATUS_UNKNOWN";
  }
}
const char* cublasGetStatusString(cublasStatus_t status) {
  return status == CUBLAS_STATUS_INVALID_VALUE && !last_detail.empty() ? last_detail.c_str()
                                                                       : "an emulated cuBLAS error";
}

cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa,
                            cublasOperation_t transb, int m, int n, int k, const void* alpha,
                            const void* A, cudaDataType Atype, int lda, const void* B,
                            cudaDataType Btype, int ldb, const void* beta, void* C,
                            cudaDataType Ctype, int ldc, cublasComputeType_t computeType,
                            cublasGemmAlgo_t) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (pfgm_emu::sticky_error() != cudaSuccess) return CUBLAS_STATUS_EXECUTION_FAILED;
  return captured(
      handle,
      [=](const void* al, const void* be) {
        return gemm(transa, transb, m, n, k, al, A, Atype, lda, 0, B, Btype, ldb, 0, be, C, Ctype,
                    ldc, 0, 1, computeType);
      },
      alpha, beta);
}

cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t handle, cublasOperation_t transa,
                                          cublasOperation_t transb, int m, int n, int k,
                                          const void* alpha, const void* A, cudaDataType Atype,
                                          int lda, long long int strideA, const void* B,
                                          cudaDataType Btype, int ldb, long long int strideB,
                                          const void* beta, void* C, cudaDataType Ctype, int ldc,
                                          long long int strideC, int batchCount,
                                          cublasComputeType_t computeType, cublasGemmAlgo_t) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (pfgm_emu::sticky_error() != cudaSuccess) return CUBLAS_STATUS_EXECUTION_FAILED;
  return captured(
      handle,
      [=](const void* al, const void* be) {
        return gemm(transa, transb, m, n, k, al, A, Atype, lda, strideA, B, Btype, ldb, strideB, be,
                    C, Ctype, ldc, strideC, batchCount, computeType);
      },
      alpha, beta);
}

}  // extern "C"
