// Dense matrix products in double precision for the metrics (Fréchet distance, feature
// covariances, k-nearest-neighbour distances). oneDNN's CPU matmul has no f64, and the metrics
// need double: a covariance of 2048 features summed over 50k samples, or the eigenvalues of a
// matrix square root, lose too much in float. Row-major throughout.
#pragma once

#include <cstdint>

namespace pfgm::linalg {

// C[m, n] = alpha * op(A) op(B) + beta * C, with op(A) [m, k] and op(B) [k, n]:
//   op(A)(i, p) = trans_a ? A[p * lda + i] : A[i * lda + p]
//   op(B)(p, j) = trans_b ? B[j * ldb + p] : B[p * ldb + j]
// beta = 0 ignores C's old contents (NaN included). Runs on the OpenMP threads; the result does
// not depend on their number (each element is summed in the same order by whichever thread).
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
          const double* a, int64_t lda, const double* b, int64_t ldb, double beta, double* c,
          int64_t ldc);

}  // namespace pfgm::linalg
