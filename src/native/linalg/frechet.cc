// S1 = V diag(l) V^T (eigh.h), so S1^{1/2} = V diag(sqrt l) V^T and
//   V^T (S1^{1/2} S2 S1^{1/2}) V = diag(sqrt l) (V^T S2 V) diag(sqrt l) =: M,
// a similarity: M has the mu_i as eigenvalues, and only its eigenvalues are needed. Rows and
// columns of zero (clamped) eigenvalues of S1 vanish from M, so a rank-r S1 (fewer samples than
// features) leaves an r x r problem. Cost at n = 2048: one eigendecomposition with vectors, two
// matrix products and one without vectors (timings in docs/metrics.md).
#include "frechet.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "../errors.h"
#include "eigh.h"
#include "gemm.h"

namespace pfgm::linalg {
namespace {

struct Clamp {
  int64_t count = 0;
  double most_negative = 0;
};

// Sets eigenvalues within round-off of 0 to 0: the negative ones within `tolerance` (relative to
// the largest; counted), and the positive ones below n eps |largest|, which is the absolute
// accuracy of the eigensolver, so they are indistinguishable from 0 and only add sqrt(round-off)
// to the trace. Refuses clearly negative ones.
Clamp clamp_eigenvalues(int64_t n, double* values, double tolerance, const char* what) {
  Clamp c;
  double largest = 0;
  for (int64_t i = 0; i < n; ++i) largest = std::max(largest, std::fabs(values[i]));
  const double zero = static_cast<double>(n) * DBL_EPSILON * largest;
  for (int64_t i = 0; i < n; ++i) {
    if (values[i] >= 0) {
      if (values[i] <= zero) values[i] = 0;
      continue;
    }
    if (values[i] < -tolerance * largest && values[i] < -zero) {
      std::ostringstream msg;
      msg << what << " has eigenvalue " << values[i] << " against a largest of " << largest
          << " (relative " << values[i] / largest << ", beyond the round-off tolerance "
          << tolerance << "): it is not positive semi-definite, so not a covariance matrix. "
          << "Compute it from features (featureStats), or raise the tolerance if it was "
             "computed in low precision";
      fail(code::kArgument, msg.str());
    }
    c.most_negative = std::min(c.most_negative, values[i]);
    values[i] = 0;
    ++c.count;
  }
  return c;
}

}  // namespace

FrechetResult frechet_distance(int64_t n, const double* mean1, const double* cov1,
                               const double* mean2, const double* cov2, double tolerance) {
  FrechetResult r{};
  for (int64_t i = 0; i < n; ++i) {
    const double d = mean1[i] - mean2[i];
    r.mean_term += d * d;
    r.trace1 += cov1[i * n + i];
    r.trace2 += cov2[i * n + i];
  }
  // S1 = V diag(l) V^T; `rows` holds V^T (row j = eigenvector j).
  std::vector<double> a(cov1, cov1 + n * n), l(static_cast<size_t>(n)),
      rows(static_cast<size_t>(n * n));
  symmetric_eigen(n, a.data(), l.data(), rows.data());
  const Clamp c1 = clamp_eigenvalues(n, l.data(), tolerance, "the first covariance");
  r.clamped1 = c1.count;
  r.most_negative1 = c1.most_negative;
  // Keep the eigenvectors of positive eigenvalues (ascending order: they are the last ones).
  int64_t first = 0;
  while (first < n && l[first] <= 0) ++first;
  const int64_t k = n - first;
  r.rank1 = k;
  if (k == 0) {  // S1 = 0: tr sqrt(S1 S2) = 0
    r.distance = r.mean_term + r.trace1 + r.trace2;
    return r;
  }
  const double* vk = rows.data() + first * n;  // k x n
  std::vector<double> t(static_cast<size_t>(k * n)), m(static_cast<size_t>(k * k));
  gemm(false, false, k, n, n, 1.0, vk, n, cov2, n, 0.0, t.data(), n);     // V_k^T S2
  gemm(false, true, k, k, n, 1.0, t.data(), n, vk, n, 0.0, m.data(), k);  // V_k^T S2 V_k
  for (int64_t i = 0; i < k; ++i) {
    const double si = std::sqrt(l[first + i]);
    for (int64_t j = 0; j < k; ++j) m[i * k + j] *= si * std::sqrt(l[first + j]);
  }
  std::vector<double> mu(static_cast<size_t>(k));
  symmetric_eigen(k, m.data(), mu.data(), nullptr);
  const Clamp c2 =
      clamp_eigenvalues(k, mu.data(), tolerance, "S1^(1/2) S2 S1^(1/2) (so the second covariance)");
  r.clamped2 = c2.count;
  r.most_negative2 = c2.most_negative;
  for (int64_t i = 0; i < k; ++i) r.trace_sqrt += std::sqrt(mu[i]);
  r.distance = r.mean_term + r.trace1 + r.trace2 - 2 * r.trace_sqrt;
  return r;
}

}  // namespace pfgm::linalg
