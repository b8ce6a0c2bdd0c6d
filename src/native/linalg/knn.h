// Exact k-nearest-neighbour radii and k-NN manifold coverage for improved precision and recall
// (Kynkäänniemi, Karras, Laine, Lehtinen & Aila, NeurIPS 2019). Euclidean distances of all
// pairs, by blocks of rows through gemm: |a - b|^2 = |a|^2 + |b|^2 - 2 a.b in double.
#pragma once

#include <cstdint>

namespace pfgm::linalg {

// radius[i] = distance from x_i to its k-th nearest other point of x (rows x dim; self excluded
// by index, so duplicates count as neighbours at distance 0). 1 <= k < rows.
void knn_radii(int64_t rows, int64_t dim, const double* x, int64_t k, double* radius);

struct Coverage {
  int64_t precision_hits;  // fake points inside at least one real ball
  int64_t recall_hits;     // real points inside at least one fake ball
};

// The balls are B(real_i, real_radius_i) and B(fake_j, fake_radius_j) (closed: distance <= radius).
// fake_in_real / real_in_fake (nullable) receive a 0/1 flag per point.
Coverage manifold_coverage(int64_t n_real, int64_t n_fake, int64_t dim, const double* real,
                           const double* fake, const double* real_radius, const double* fake_radius,
                           uint8_t* fake_in_real, uint8_t* real_in_fake);

}  // namespace pfgm::linalg
