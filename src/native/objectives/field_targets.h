// Closed-form targets over a finite reference batch: the PFGM++ posterior (docs/method.md §2.4: the
// ideal denoiser and the stable target field) and PFGM's normalized empirical field (docs/method.md
// §3, eq. 3.1).
//
// Shared conventions:
// - x [queries, n] and y [refs, n] are fp32, row-major; every distance, log-weight and weighted sum
//   is accumulated in double. Distances are summed from the coordinate differences, never from
//   ||x||^2 + ||y||^2 - 2 x.y: that expansion cancels catastrophically exactly where the targets
//   matter most (x next to a reference at small sigma), and a reference batch is small enough
//   that the direct O(queries * refs * n) sum is cheap.
// - Weights are handled in log space and normalised per query with a log-sum-exp, so no weight
//   underflows to an all-zero row at tiny sigma and none overflows at n = 784, D = 1e6.
// - Queries are split over OpenMP threads; each thread holds one row of weights and one
//   n-vector of double accumulators, whatever the number of queries.
// - Preconditions (checked by the op cases, not here): queries, refs >= 1, n >= 1, D > 0 (finite
//   or +inf), every sigma finite and > 0.
#pragma once

#include <cstdint>

namespace pfgm::cpu {

// docs/method.md (2.4), per query i and reference j (a row of log-probabilities, summing to 1 in
// exp):
//   finite D:  logw[i, j] = -(n + D)/2 * log(||x_i - y_j||^2 + r_i^2) - logZ_i,
//              r_i = sigma_i sqrt(D)
//   D = +inf:  logw[i, j] = -||x_i - y_j||^2 / (2 sigma_i^2) - logZ_i
// `sigma` holds the EDM noise level of each query (the aligned r is formed here), logw is
// [queries, refs].
void posterior_log_weights(int64_t queries, int64_t refs, int64_t n, double D, const float* x,
                           const float* y, const double* sigma, double* logw);

// The ideal denoiser / STF target: out[i] = sum_j exp(logw[i, j]) y_j, out [queries, n]; the
// weights are those of posterior_log_weights, recomputed one row at a time.
void posterior_mean(int64_t queries, int64_t refs, int64_t n, double D, const float* x,
                    const float* y, const double* sigma, float* out);

// docs/method.md (3.1), PFGM's training target at augmented points x~_i = (x_i, z_i):
//   d_j = ||x~_i - (y_j, 0)||,  w^_j = d_j^-(n+1) / sum_k d_k^-(n+1),
//   E = sum_j w^_j ((y_j, 0) - x~_i),  v = sqrt(n) E / (||E|| + gamma).
// out is [queries, n + 1]: the n data components, then the z component. A query that coincides
// with a reference (z_i = 0 and x_i = y_j, so d_j = 0) gets all the weight on the coincident
// references, hence E = 0 and v = 0, rather than NaN.
void pfgm_field_target(int64_t queries, int64_t refs, int64_t n, const float* x, const float* z,
                       const float* y, double gamma, float* out);

// The kernels widen the references to a double copy once per call (it cuts their cost by about
// a third: the per-query float -> double conversions dominate otherwise) when refs * n <= this
// limit, and read the floats directly above it; both paths give bit-identical results. The limit
// is per calling thread; set_widen_limit returns the previous one, so tests can run the float
// path on small inputs (limit 0) and put it back.
inline constexpr int64_t kDefaultWidenLimit = int64_t{1} << 24;  // 128 MiB of doubles
int64_t set_widen_limit(int64_t values);

}  // namespace pfgm::cpu
