// Eigenvalues of a symmetric tridiagonal matrix by the implicit QL method with Wilkinson shifts
// (Bowdler, Martin, Reinsch & Wilkinson 1968; GVL §8.3.5 for the QR twin), optionally applying
// the plane rotations to a matrix whose rows become the eigenvectors.
#pragma once

#include <cstdint>

namespace pfgm::linalg {

// d[n]: the diagonal, overwritten by the eigenvalues (unsorted). e[n]: e[i] couples i and i + 1
// (e[n - 1] is scratch); destroyed. When `rows` is not null (n x n, row-major), every rotation of
// rows i and i + 1 of the tridiagonal problem is applied to rows i and i + 1 of `rows` as well:
// start from Q^T of the tridiagonalisation and rows[j] ends as the eigenvector of d[j].
// Throws ERR_PFGM_ARGUMENT if an eigenvalue fails to converge in 60 iterations (only non-finite
// input does that in practice).
void tridiagonal_ql(int64_t n, double* d, double* e, double* rows);

}  // namespace pfgm::linalg
