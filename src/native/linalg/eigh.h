// The symmetric eigensolver: Householder tridiagonalisation (tridiagonal.h), then implicit QL
// (tridiagonal_ql.h). Double precision throughout.
#pragma once

#include <cstdint>

namespace pfgm::linalg {

// Eigenvalues of the symmetric n x n matrix `a` (row-major; only its upper triangle is read, and
// `a` is destroyed) in ascending order. When `vectors` is not null, row j of it (n x n, row-major)
// becomes the unit eigenvector of values[j]: A = V diag(values) V^T with V = vectors^T.
void symmetric_eigen(int64_t n, double* a, double* values, double* vectors);

}  // namespace pfgm::linalg
