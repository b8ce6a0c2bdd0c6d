// The Fréchet (2-Wasserstein) distance between two Gaussians N(m1, S1) and N(m2, S2)
// (Dowson & Landau 1982):
//   d^2 = |m1 - m2|^2 + tr S1 + tr S2 - 2 tr sqrt(S1 S2),
//   tr sqrt(S1 S2) = sum_i sqrt(mu_i),  mu = eigenvalues of S1^{1/2} S2 S1^{1/2}.
#pragma once

#include <cstdint>

namespace pfgm::linalg {

struct FrechetResult {
  double distance;        // d^2 (what FID reports)
  double mean_term;       // |m1 - m2|^2
  double trace1, trace2;  // tr S1, tr S2
  double trace_sqrt;      // tr sqrt(S1 S2)
  // Round-off makes eigenvalues that are 0 in exact arithmetic come out slightly negative; those
  // within `tolerance` of 0 (relative to the largest) are set to 0 and counted here, with the most
  // negative value seen (0 when none was negative). Positive ones below n eps |largest| (the
  // eigensolver's absolute accuracy) are set to 0 as well, uncounted.
  int64_t clamped1, clamped2;  // among S1's eigenvalues / among the mu_i
  double most_negative1, most_negative2;
  int64_t rank1;  // eigenvalues of S1 kept (> 0): the size of the second problem
};

// cov1, cov2: symmetric n x n, row-major (only their upper triangles are read). An eigenvalue more
// negative than -tolerance * (largest eigenvalue) means the matrix is not a covariance: throws
// ERR_PFGM_ARGUMENT naming which one.
FrechetResult frechet_distance(int64_t n, const double* mean1, const double* cov1,
                               const double* mean2, const double* cov2, double tolerance);

}  // namespace pfgm::linalg
