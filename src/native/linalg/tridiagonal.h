// Householder reduction of a symmetric matrix to tridiagonal form, A = Q T Q^T, the first half of
// the symmetric eigensolver (eigh.h). Golub & Van Loan, Matrix Computations (4th ed.), §8.3.1.
#pragma once

#include <cstdint>

namespace pfgm::linalg {

// Reduces the symmetric n x n matrix `a` (row-major; only the upper triangle, row i from column i
// on, is read) to T = Q^T A Q with diagonal d[n] and off-diagonal e[n - 1].
// Q = H_0 H_1 ... H_{n-3}, H_k = I - tau[k] u_k u_k^T with u_k zero up to index k,
// u_k[k + 1] = 1 and u_k[k + 2 ..] stored in a[k][k + 2 ..]. The rest of `a` is scratch. tau has
// n entries (the last one, and any reflector that had nothing to annihilate, are 0).
void tridiagonalize(int64_t n, double* a, double* d, double* e, double* tau);

// Writes Q^T (row-major n x n) from the reflectors that tridiagonalize() left in `a` and `tau`.
// Blocked: groups of reflectors are applied as I - Y T Y^T with two matrix products (gemm.h).
void form_qt(int64_t n, const double* a, const double* tau, double* qt);

}  // namespace pfgm::linalg
