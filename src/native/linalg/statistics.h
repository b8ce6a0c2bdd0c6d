// Mean and covariance of a set of feature vectors, in double precision (the Fréchet distance's
// statistics). A covariance of 2048 features over 50k samples is a 2e11-term sum: in float its
// small eigenvalues, which the matrix square root needs, would drown in round-off.
#pragma once

#include <cstdint>

namespace pfgm::linalg {

// rows x dim features (row-major, float or double). mean[dim] and the unbiased covariance
// cov[dim x dim] = (X - mean)^T (X - mean) / (rows - 1), exactly symmetric. rows >= 2.
void feature_stats(int64_t rows, int64_t dim, const float* x, double* mean, double* cov);
void feature_stats(int64_t rows, int64_t dim, const double* x, double* mean, double* cov);

}  // namespace pfgm::linalg
