// A packed, cache-blocked double GEMM in the usual layered form (Goto & van de Geijn, "Anatomy of
// high-performance matrix multiplication", 2008): B is packed into KC x NC panels of 8-column
// slivers, A into MC x KC blocks of 6-row slivers, and a 6 x 8 register tile (12 AVX2 registers of
// 4 doubles) accumulates over KC. Built twice by PFGM_VECTOR_CLONES (AVX2 + FMA and baseline), as
// the addon is compiled without -march. Measured on the project's 2-core AVX2 machine: see
// docs/metrics.md.
#include "gemm.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "../ops/parallel.h"

namespace pfgm::linalg {
namespace {

constexpr int64_t kMr = 6;     // rows of the register tile
constexpr int64_t kNr = 8;     // columns of the register tile (two 4-double vectors)
constexpr int64_t kKc = 256;   // depth of a packed panel: an 8-column B sliver is 16 KB (L1)
constexpr int64_t kMc = 96;    // rows of a packed A block: 192 KB (L2)
constexpr int64_t kNc = 2048;  // columns of a packed B panel: 4 MB (L3)
constexpr int64_t kNt = 512;   // columns of one parallel tile

typedef double v4d __attribute__((vector_size(32)));

struct Operand {
  const double* p;
  int64_t ld;
  bool trans;
  // Element (row, col) of op(X).
  double at(int64_t r, int64_t c) const { return trans ? p[c * ld + r] : p[r * ld + c]; }
};

// Packs op(A)[i0 : i0 + mc, p0 : p0 + kc] as 6-row slivers, each stored k-major (6 values per k),
// zero-padded past mc.
void pack_a(const Operand& a, int64_t i0, int64_t mc, int64_t p0, int64_t kc, double* dst) {
  for (int64_t s = 0; s < mc; s += kMr) {
    const int64_t rows = std::min(kMr, mc - s);
    double* out = dst + s * kc;
    if (!a.trans) {
      for (int64_t r = 0; r < kMr; ++r) {
        if (r < rows) {
          const double* src = a.p + (i0 + s + r) * a.ld + p0;
          for (int64_t p = 0; p < kc; ++p) out[p * kMr + r] = src[p];
        } else {
          for (int64_t p = 0; p < kc; ++p) out[p * kMr + r] = 0.0;
        }
      }
    } else {
      for (int64_t p = 0; p < kc; ++p) {
        const double* src = a.p + (p0 + p) * a.ld + i0 + s;
        for (int64_t r = 0; r < kMr; ++r) out[p * kMr + r] = r < rows ? src[r] : 0.0;
      }
    }
  }
}

// Packs sliver `s` (8 columns from j0 + s) of op(B)[p0 : p0 + kc, j0 : j0 + nc], k-major.
void pack_b_sliver(const Operand& b, int64_t j0, int64_t nc, int64_t p0, int64_t kc, int64_t s,
                   double* dst) {
  const int64_t cols = std::min(kNr, nc - s);
  double* out = dst + s * kc;
  if (!b.trans) {
    for (int64_t p = 0; p < kc; ++p) {
      const double* src = b.p + (p0 + p) * b.ld + j0 + s;
      for (int64_t c = 0; c < kNr; ++c) out[p * kNr + c] = c < cols ? src[c] : 0.0;
    }
  } else {
    for (int64_t c = 0; c < kNr; ++c) {
      if (c < cols) {
        const double* src = b.p + (j0 + s + c) * b.ld + p0;
        for (int64_t p = 0; p < kc; ++p) out[p * kNr + c] = src[p];
      } else {
        for (int64_t p = 0; p < kc; ++p) out[p * kNr + c] = 0.0;
      }
    }
  }
}

// C[rows, cols] += alpha * (packed A block [mc x kc]) (packed B columns [kc x nt]), one register
// tile at a time. `c` points at the tile's first element.
PFGM_VECTOR_CLONES
void macro_kernel(int64_t mc, int64_t nt, int64_t kc, double alpha, const double* ap,
                  const double* bp, double* c, int64_t ldc) {
  for (int64_t j = 0; j < nt; j += kNr) {
    const double* bs = bp + j * kc;
    for (int64_t i = 0; i < mc; i += kMr) {
      const double* as = ap + i * kc;
      v4d acc[kMr][2];
      for (int64_t r = 0; r < kMr; ++r) acc[r][0] = acc[r][1] = v4d{0, 0, 0, 0};
      for (int64_t p = 0; p < kc; ++p) {
        v4d b0, b1;
        std::memcpy(&b0, bs + p * kNr, sizeof b0);
        std::memcpy(&b1, bs + p * kNr + 4, sizeof b1);
        for (int64_t r = 0; r < kMr; ++r) {
          const double x = as[p * kMr + r];
          const v4d xa = {x, x, x, x};
          acc[r][0] += xa * b0;
          acc[r][1] += xa * b1;
        }
      }
      const int64_t rows = std::min(kMr, mc - i), cols = std::min(kNr, nt - j);
      for (int64_t r = 0; r < rows; ++r) {
        double* crow = c + (i + r) * ldc + j;
        for (int64_t q = 0; q < cols; ++q) crow[q] += alpha * acc[r][q >> 2][q & 3];
      }
    }
  }
}

}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
          const double* a, int64_t lda, const double* b, int64_t ldb, double beta, double* c,
          int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (beta != 1.0) {
#pragma omp parallel for schedule(static) if (m * n > 65536)
    for (int64_t i = 0; i < m; ++i) {
      double* row = c + i * ldc;
      if (beta == 0.0) {
        std::fill(row, row + n, 0.0);
      } else {
        for (int64_t j = 0; j < n; ++j) row[j] *= beta;
      }
    }
  }
  if (k <= 0 || alpha == 0.0) return;
  const Operand A{a, lda, trans_a}, B{b, ldb, trans_b};
  std::vector<double> bpack;
  for (int64_t j0 = 0; j0 < n; j0 += kNc) {
    const int64_t nc = std::min(kNc, n - j0);
    const int64_t nc_pad = (nc + kNr - 1) / kNr * kNr;
    for (int64_t p0 = 0; p0 < k; p0 += kKc) {
      const int64_t kc = std::min(kKc, k - p0);
      bpack.resize(static_cast<size_t>(nc_pad * kc));
      const int64_t slivers = nc_pad / kNr;
#pragma omp parallel for schedule(static) if (slivers * kc > 4096)
      for (int64_t s = 0; s < slivers; ++s) pack_b_sliver(B, j0, nc, p0, kc, s * kNr, bpack.data());
      // Tiles of kMc rows x kNt columns; each packs its own rows of A (cheap next to the product).
      const int64_t row_tiles = (m + kMc - 1) / kMc, col_tiles = (nc + kNt - 1) / kNt;
      const int64_t tiles = row_tiles * col_tiles;
      const double work =
          static_cast<double>(m) * static_cast<double>(nc) * static_cast<double>(kc);
#pragma omp parallel for schedule(dynamic, 1) if (tiles > 1 && work > 1e6)
      for (int64_t t = 0; t < tiles; ++t) {
        thread_local std::vector<double> apack;
        const int64_t i0 = (t / col_tiles) * kMc, jt = (t % col_tiles) * kNt;
        const int64_t mc = std::min(kMc, m - i0), nt = std::min(kNt, nc - jt);
        apack.resize(static_cast<size_t>((mc + kMr - 1) / kMr * kMr * kc));
        pack_a(A, i0, mc, p0, kc, apack.data());
        macro_kernel(mc, nt, kc, alpha, apack.data(), bpack.data() + jt * kc,
                     c + i0 * ldc + j0 + jt, ldc);
      }
    }
  }
}

}  // namespace pfgm::linalg
