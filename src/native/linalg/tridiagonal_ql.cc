// Implicit QL with a Wilkinson shift, chasing the bulge upward from the end of the unreduced
// block (Wilkinson & Reinsch, Handbook for Automatic Computation II, "tql2"; the same iteration
// as Numerical Recipes' tqli). The eigenvalues cost O(n^2); the rotations, when eigenvectors are
// wanted, cost about 6 n^3 flops and dominate. They are therefore logged (a sweep = one cosine
// and sine per row pair) and applied in batches to column strips of the vector matrix, in
// parallel: a strip of 16 columns of all n rows is 256 KB at n = 2048 and stays in the L2 cache
// while a whole batch of sweeps passes over it, instead of streaming the matrix once per sweep.
#include "tridiagonal_ql.h"

#include <algorithm>
#include <cfloat>
#include <climits>
#include <cmath>
#include <vector>

#include "../errors.h"
#include "../ops/parallel.h"

namespace pfgm::linalg {
namespace {

constexpr int64_t kStrip = 16;  // columns of a strip

struct Sweep {
  int64_t top;    // the first rotation acts on rows top, top + 1; the next on top - 1, top; ...
  int64_t count;  // rotations in the sweep
  int64_t first;  // index of its first (cosine, sine) pair in the log
};

class RotationLog {
 public:
  RotationLog(int64_t n, double* rows) : n_(n), rows_(rows) {}
  bool active() const { return rows_ != nullptr; }
  void begin(int64_t top) { sweeps_.push_back({top, 0, static_cast<int64_t>(cs_.size() / 2)}); }
  void add(double c, double s) {
    cs_.push_back(c);
    cs_.push_back(s);
    ++sweeps_.back().count;
  }
  // Applies the batch once it holds enough work to be worth a pass over the matrix.
  void maybe_flush() {
    if (static_cast<int64_t>(cs_.size()) >= 128 * n_) flush();
  }
  void flush();

 private:
  int64_t n_;
  double* rows_;
  std::vector<double> cs_;
  std::vector<Sweep> sweeps_;
};

// Four doubles, loaded and stored unaligned through pointers (a memcpy into a local array made
// GCC bounce every row through the stack, at a third of the speed).
typedef double v4d __attribute__((vector_size(32), aligned(8), may_alias));

// One batch of sweeps over a packed strip (row i of the strip at strip + i * kStrip). Rotation
// (i, i + 1) maps (x, y) = (row i, row i + 1) to (c x - s y, s x + c y), QL's eigenvector update
// z[:, i], z[:, i+1] <- (c z_i - s z_{i+1}, s z_i + c z_{i+1}) on the transposed matrix.
//
// Sweeps are applied kWave at a time as a wavefront (Van Zee, van de Geijn & Quintana-Orti,
// "Restructuring the tridiagonal and bidiagonal QR algorithms for performance", ACM TOMS 2014):
// at position r, sweep q0 + d applies its rotation at row r + 2d. A sweep runs from high rows to
// low, and sweep q + 1 may rotate rows (j, j + 1) once sweep q has done its rotations j + 1, j and
// j - 1, which a lag of two rows guarantees; the results are those of applying the sweeps one
// after the other, bit for bit. The window of rows in use (2 kWave + 2 rows of 128 bytes) stays in
// the L1 cache, so each row comes from L2 once per kWave sweeps instead of once per sweep: measured
// 2-3 times faster than sweep by sweep.
constexpr int64_t kWave = 16;

PFGM_VECTOR_CLONES
void apply_strip(double* strip, const Sweep* sweeps, int64_t count, const double* cs) {
  constexpr int kV = kStrip / 4;
  for (int64_t q0 = 0; q0 < count; q0 += kWave) {
    const int64_t g = std::min(kWave, count - q0);
    int64_t hi = INT64_MIN, lo = INT64_MAX;
    for (int64_t d = 0; d < g; ++d) {
      const Sweep& sw = sweeps[q0 + d];
      if (sw.count == 0) continue;
      hi = std::max(hi, sw.top - 2 * d);
      lo = std::min(lo, sw.top - sw.count + 1 - 2 * d);
    }
    for (int64_t r = hi; r >= lo; --r) {
      for (int64_t d = 0; d < g; ++d) {
        const Sweep& sw = sweeps[q0 + d];
        const int64_t j = r + 2 * d, t = sw.top - j;
        if (t < 0 || t >= sw.count) continue;
        const double c = cs[2 * (sw.first + t)], s = cs[2 * (sw.first + t) + 1];
        const v4d cv = {c, c, c, c}, sv = {s, s, s, s};
        v4d* xr = reinterpret_cast<v4d*>(strip + j * kStrip);
        v4d* yr = xr + kV;  // row j + 1
#pragma GCC unroll 4
        for (int k = 0; k < kV; ++k) {
          const v4d x = xr[k], y = yr[k];
          xr[k] = cv * x - sv * y;
          yr[k] = sv * x + cv * y;
        }
      }
    }
  }
}

void RotationLog::flush() {
  if (sweeps_.empty()) return;
  const int64_t strips = (n_ + kStrip - 1) / kStrip;
  const int64_t count = static_cast<int64_t>(sweeps_.size());
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < strips; ++k) {
    // Packed copy of the strip: consecutive rows adjacent, 256 KB at n = 2048 (L2-resident).
    thread_local std::vector<double> strip;
    strip.assign(static_cast<size_t>(n_ * kStrip), 0.0);
    const int64_t c0 = k * kStrip, width = std::min(kStrip, n_ - c0);
    for (int64_t i = 0; i < n_; ++i)
      std::copy(rows_ + i * n_ + c0, rows_ + i * n_ + c0 + width, strip.data() + i * kStrip);
    apply_strip(strip.data(), sweeps_.data(), count, cs_.data());
    for (int64_t i = 0; i < n_; ++i)
      std::copy(strip.data() + i * kStrip, strip.data() + i * kStrip + width, rows_ + i * n_ + c0);
  }
  cs_.clear();
  sweeps_.clear();
}

}  // namespace

void tridiagonal_ql(int64_t n, double* d, double* e, double* rows) {
  if (n <= 1) return;
  e[n - 1] = 0;
  // Negligible means small next to the matrix, not only next to its two neighbours: tridiagonal
  // matrices of rank-deficient covariances carry clusters of round-off-sized diagonals that
  // rounding in the rest of the matrix keeps from shrinking further (EISPACK tql2's tst1 test;
  // the eigenvalues are then accurate to eps |T|, as the tridiagonalisation already is).
  double norm = 0;
  for (int64_t i = 0; i < n; ++i) norm = std::max(norm, std::fabs(d[i]) + std::fabs(e[i]));
  RotationLog log(n, rows);
  for (int64_t l = 0; l < n; ++l) {
    for (int iter = 0;; ++iter) {
      // The unreduced block starts at l and ends at the first negligible off-diagonal m.
      int64_t m = l;
      for (; m < n - 1; ++m) {
        const double dd = std::fabs(d[m]) + std::fabs(d[m + 1]);
        if (std::fabs(e[m]) <= DBL_EPSILON * dd || std::fabs(e[m]) <= DBL_EPSILON * norm) break;
      }
      if (m == l) break;
      if (iter == 60) {
        fail(code::kArgument, "the symmetric eigensolver did not converge (is the matrix finite?)");
      }
      // Wilkinson shift from the leading 2 x 2 block, then one QL sweep from m - 1 up to l.
      double g = (d[l + 1] - d[l]) / (2 * e[l]);
      double r = std::hypot(g, 1.0);
      g = d[m] - d[l] + e[l] / (g + std::copysign(r, g));
      double s = 1, c = 1, p = 0;
      int64_t i = m - 1;
      if (log.active()) log.begin(m - 1);
      bool underflow = false;
      for (; i >= l; --i) {
        const double f = s * e[i], b = c * e[i];
        r = std::hypot(f, g);
        e[i + 1] = r;
        if (r == 0) {  // the sweep deflated early: restart on the smaller block
          d[i + 1] -= p;
          e[m] = 0;
          underflow = true;
          break;
        }
        s = f / r;
        c = g / r;
        g = d[i + 1] - p;
        r = (d[i] - g) * s + 2 * c * b;
        p = s * r;
        d[i + 1] = g + p;
        g = c * r - b;
        if (log.active()) log.add(c, s);
      }
      if (log.active()) log.maybe_flush();
      if (underflow) continue;
      d[l] -= p;
      e[l] = g;
      e[m] = 0;
    }
  }
  if (log.active()) log.flush();
}

}  // namespace pfgm::linalg
