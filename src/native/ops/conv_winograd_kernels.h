// The per-tile transforms of F(2x2, 3x3) and F(4x4, 3x3) (Lavin and Gray, "Fast Algorithms for
// Convolutional Neural Networks", 2016; the matrices are theirs), compiled once per instruction
// set: conv_winograd_tiles.cc includes this file three times, under AVX-512, AVX2 and baseline
// x86-64 target options, each time in its own namespace PFGM_WINOGRAD_ISA, and picks one at run
// time. (No include guard, for that reason; nothing else includes it.) Each 1-D transform is
// written out with its common subexpressions instead of as a product with B, G or A, since half
// of their entries are 0 or +-1 and a compiler may not drop a product with 0 from float
// arithmetic. Every operation is on kBlock contiguous channels as one vector value.

namespace pfgm::cpu::winograd::PFGM_WINOGRAD_ISA {

constexpr int64_t B = kBlock;

// kBlock channels as one value of GCC's vector extension: one zmm register in the AVX-512 build,
// two ymm in the AVX2 one, four xmm in the baseline; loads and stores through memcpy, which
// compile to unaligned vector moves.
typedef float V __attribute__((vector_size(B * sizeof(float))));
inline __attribute__((always_inline)) V ld(const float* p) {
  V v;
  std::memcpy(&v, p, sizeof(V));
  return v;
}
inline __attribute__((always_inline)) void st(float* p, V v) { std::memcpy(p, &v, sizeof(V)); }

// r[i * rs] = (B^T d)[i], each entry a block of B channels at stride ds / rs.
template <int M>
inline __attribute__((always_inline)) void input_1d(const float* d, int64_t ds, float* r,
                                                    int64_t rs) {
  if constexpr (M == 2) {
    const V d0 = ld(d), d1 = ld(d + ds), d2 = ld(d + 2 * ds), d3 = ld(d + 3 * ds);
    st(r, d0 - d2);
    st(r + rs, d1 + d2);
    st(r + 2 * rs, d2 - d1);
    st(r + 3 * rs, d1 - d3);
  } else {
    const V d0 = ld(d), d1 = ld(d + ds), d2 = ld(d + 2 * ds), d3 = ld(d + 3 * ds),
            d4 = ld(d + 4 * ds), d5 = ld(d + 5 * ds);
    const V p = d4 - 4.0f * d2, q = d3 - 4.0f * d1;  // rows 1 and 2
    const V s = d4 - d2, t = 2.0f * (d3 - d1);       // rows 3 and 4
    st(r, 4.0f * d0 - 5.0f * d2 + d4);
    st(r + rs, p + q);
    st(r + 2 * rs, p - q);
    st(r + 3 * rs, s + t);
    st(r + 4 * rs, s - t);
    st(r + 5 * rs, 4.0f * d1 - 5.0f * d3 + d5);
  }
}

// o[q * os] = (A^T v)[q].
template <int M>
inline __attribute__((always_inline)) void output_1d(const float* v, int64_t vs, float* o,
                                                     int64_t os) {
  if constexpr (M == 2) {
    const V v0 = ld(v), v1 = ld(v + vs), v2 = ld(v + 2 * vs), v3 = ld(v + 3 * vs);
    st(o, v0 + v1 + v2);
    st(o + os, v1 - v2 - v3);
  } else {
    const V v0 = ld(v), v1 = ld(v + vs), v2 = ld(v + 2 * vs), v3 = ld(v + 3 * vs),
            v4 = ld(v + 4 * vs), v5 = ld(v + 5 * vs);
    const V a = v1 + v2, b = v1 - v2, e = v3 + v4, f = v3 - v4;
    st(o, v0 + a + e);
    st(o + os, b + 2.0f * f);
    st(o + 2 * os, a + 4.0f * e);
    st(o + 3 * os, b + 8.0f * f + v5);
  }
}

// r[i * rs] = (A o)[i] for the M values o[p * os]: the adjoint of output_1d.
template <int M>
inline __attribute__((always_inline)) void adjoint_1d(const float* o, int64_t os, float* r,
                                                      int64_t rs) {
  if constexpr (M == 2) {
    const V o0 = ld(o), o1 = ld(o + os);
    st(r, o0);
    st(r + rs, o0 + o1);
    st(r + 2 * rs, o0 - o1);
    st(r + 3 * rs, -o1);
  } else {
    const V o0 = ld(o), o1 = ld(o + os), o2 = ld(o + 2 * os), o3 = ld(o + 3 * os);
    const V e = o0 + o2, f = o1 + o3;                       // rows 1 and 2
    const V p = o0 + 4.0f * o2, q = 2.0f * o1 + 8.0f * o3;  // rows 3 and 4
    st(r, o0);
    st(r + rs, e + f);
    st(r + 2 * rs, e - f);
    st(r + 3 * rs, p + q);
    st(r + 4 * rs, p - q);
    st(r + 5 * rs, o3);
  }
}

template <int M>
inline __attribute__((always_inline)) void input_tiles(const Tiles& g, const float* x, int64_t c,
                                                       int64_t cp, float* v, int64_t t0,
                                                       int64_t t1) {
  constexpr int64_t A = M + 2;
  alignas(64) float d[A][B];  // one clipped row of the tile, zeros beyond the image
  alignas(64) float tmp[A][A][B];
  const int64_t plane = plane_stride(g.count, cp);
  for (int64_t t = t0; t < t1; ++t) {
    const auto [n, y_out, x_out] = g.origin(t);
    const int64_t y0 = y_out - 1, x0 = x_out - 1;  // the input tile starts one pixel before
    const bool inside_x = x0 >= 0 && x0 + A <= g.w;
    for (int64_t c0 = 0; c0 < cp; c0 += B) {
      const int64_t cw = std::min(B, c - c0);  // real channels in this block (may be <= 0)
      for (int64_t a = 0; a < A; ++a) {
        const int64_t yy = y0 + a;
        if (yy < 0 || yy >= g.h || cw <= 0) {
          // The row transform of a zero row is zero.
          std::memset(tmp[a], 0, sizeof(tmp[a]));
          continue;
        }
        const float* row = x + ((n * g.h + yy) * g.w + x0) * c + c0;
        if (inside_x && cw == B) {
          // Most tiles of a large image: read the row where it lies, without a copy.
          input_1d<M>(row, c, tmp[a][0], B);
          continue;
        }
        for (int64_t b = 0; b < A; ++b) {
          const int64_t xx = x0 + b;
          std::memset(d[b], 0, sizeof(d[b]));
          if (xx < 0 || xx >= g.w) continue;
          if (cw == B) {
            std::memcpy(d[b], row + b * c, sizeof(d[b]));
          } else {
            std::memcpy(d[b], row + b * c, static_cast<size_t>(cw) * sizeof(float));
          }
        }
        input_1d<M>(d[0], B, tmp[a][0], B);
      }
      float* out = v + t * cp + c0;
      for (int64_t j = 0; j < A; ++j) input_1d<M>(tmp[0][j], A * B, out + j * plane, A * plane);
    }
  }
}

template <int M>
inline __attribute__((always_inline)) void output_tiles(const Tiles& g, const float* mm, int64_t c,
                                                        int64_t cp, const float* bias, float* y,
                                                        int64_t t0, int64_t t1) {
  constexpr int64_t A = M + 2;
  alignas(64) float tmp[A][M][B];
  alignas(64) float o[M][M][B];
  alignas(64) float bias_block[B];
  const int64_t plane = plane_stride(g.count, cp);
  for (int64_t t = t0; t < t1; ++t) {
    const auto [n, y0, x0] = g.origin(t);
    for (int64_t c0 = 0; c0 < c; c0 += B) {
      const int64_t cw = std::min(B, c - c0);
      const float* in = mm + t * cp + c0;
      for (int64_t i = 0; i < A; ++i) output_1d<M>(in + i * A * plane, plane, tmp[i][0], B);
      for (int64_t q = 0; q < M; ++q) output_1d<M>(tmp[0][q], M * B, o[0][q], M * B);
      for (int64_t k = 0; k < B; ++k) bias_block[k] = bias != nullptr && k < cw ? bias[c0 + k] : 0;
      for (int64_t p = 0; p < M && y0 + p < g.h; ++p) {
        for (int64_t q = 0; q < M && x0 + q < g.w; ++q) {
          float* dst = y + ((n * g.h + y0 + p) * g.w + x0 + q) * c + c0;
          if (cw == B) {
            st(dst, ld(o[p][q]) + ld(bias_block));
          } else {
            for (int64_t k = 0; k < cw; ++k) dst[k] = o[p][q][k] + bias_block[k];
          }
        }
      }
    }
  }
}

template <int M>
inline __attribute__((always_inline)) void adjoint_tiles(const Tiles& g, const float* dy, int64_t c,
                                                         int64_t cp, float* dm, int64_t t0,
                                                         int64_t t1) {
  constexpr int64_t A = M + 2;
  alignas(64) float o[M][M][B];
  alignas(64) float tmp[M][A][B];
  const int64_t plane = plane_stride(g.count, cp);
  for (int64_t t = t0; t < t1; ++t) {
    const auto [n, y0, x0] = g.origin(t);
    for (int64_t c0 = 0; c0 < cp; c0 += B) {
      const int64_t cw = std::min(B, c - c0);
      for (int64_t p = 0; p < M; ++p) {
        for (int64_t q = 0; q < M; ++q) {
          if (y0 + p >= g.h || x0 + q >= g.w || cw <= 0) {
            std::memset(o[p][q], 0, sizeof(o[p][q]));
            continue;
          }
          const float* src = dy + ((n * g.h + y0 + p) * g.w + x0 + q) * c + c0;
          if (cw == B) {
            // A fixed-size copy, which compiles to vector moves; a variable one calls memmove.
            std::memcpy(o[p][q], src, sizeof(o[p][q]));
          } else {
            std::memset(o[p][q], 0, sizeof(o[p][q]));
            std::memcpy(o[p][q], src, static_cast<size_t>(cw) * sizeof(float));
          }
        }
      }
      for (int64_t p = 0; p < M; ++p) adjoint_1d<M>(o[p][0], B, tmp[p][0], B);
      float* out = dm + t * cp + c0;
      for (int64_t j = 0; j < A; ++j) adjoint_1d<M>(tmp[0][j], A * B, out + j * plane, A * plane);
    }
  }
}

void output_adjoint(const Tiles& g, const float* dy, int64_t c, int64_t cp, float* dm, int64_t t0,
                    int64_t t1) {
  if (g.m == 2) {
    adjoint_tiles<2>(g, dy, c, cp, dm, t0, t1);
  } else {
    adjoint_tiles<4>(g, dy, c, cp, dm, t0, t1);
  }
}

void input_transform(const Tiles& g, const float* x, int64_t c, int64_t cp, float* v, int64_t t0,
                     int64_t t1) {
  if (g.m == 2) {
    input_tiles<2>(g, x, c, cp, v, t0, t1);
  } else {
    input_tiles<4>(g, x, c, cp, v, t0, t1);
  }
}

void output_transform(const Tiles& g, const float* mm, int64_t c, int64_t cp, const float* bias,
                      float* y, int64_t t0, int64_t t1) {
  if (g.m == 2) {
    output_tiles<2>(g, mm, c, cp, bias, y, t0, t1);
  } else {
    output_tiles<4>(g, mm, c, cp, bias, y, t0, t1);
  }
}

// G of F(2x2, 3x3) and F(4x4, 3x3), rows i of the transformed kernel G g G^T.
template <int M>
struct GMatrix;
template <>
struct GMatrix<2> {
  static constexpr float g[4][3] = {{1, 0, 0}, {0.5f, 0.5f, 0.5f}, {0.5f, -0.5f, 0.5f}, {0, 0, 1}};
};
template <>
struct GMatrix<4> {
  static constexpr float g[6][3] = {{0.25f, 0, 0},
                                    {-1.0f / 6, -1.0f / 6, -1.0f / 6},
                                    {-1.0f / 6, 1.0f / 6, -1.0f / 6},
                                    {1.0f / 24, 1.0f / 12, 1.0f / 6},
                                    {1.0f / 24, -1.0f / 12, 1.0f / 6},
                                    {0, 0, 1}};
};

// The weight transforms run on kBlock output channels at once, as the tile transforms do on
// channels: in float (the products in the transformed domain are float anyway, and a rounding
// of u adds at most a few units of 2^-24 |w| to each product), with G's zeros dropped at compile
// time. The weights of one (ci, block of co) are read 9 contiguous floats per co and transposed
// through a small stack array, since consecutive co lie 9 cin (or 9) floats apart.
template <int M>
inline __attribute__((always_inline)) void weight_rows(const float* w, int64_t cin, int64_t cout,
                                                       int64_t coutp, bool flipped, int64_t ci,
                                                       float* rows) {
  constexpr int64_t A = M + 2;
  constexpr auto& G = GMatrix<M>::g;
  alignas(64) float k9[9][B];
  for (int64_t co0 = 0; co0 < coutp; co0 += B) {
    for (int64_t l = 0; l < B; ++l) {
      const int64_t co = co0 + l;
      if (ci >= cin || co >= cout) {
        for (int64_t pq = 0; pq < 9; ++pq) k9[pq][l] = 0.0f;
      } else if (flipped) {
        const float* src = w + (ci * cout + co) * 9;
        for (int64_t pq = 0; pq < 9; ++pq) k9[pq][l] = src[8 - pq];
      } else {
        const float* src = w + (co * cin + ci) * 9;
        for (int64_t pq = 0; pq < 9; ++pq) k9[pq][l] = src[pq];
      }
    }
    V gk[A][3];  // G k
    for (int64_t i = 0; i < A; ++i) {
      for (int64_t q = 0; q < 3; ++q) {
        gk[i][q] = G[i][0] * ld(k9[q]) + G[i][1] * ld(k9[3 + q]) + G[i][2] * ld(k9[6 + q]);
      }
    }
    for (int64_t i = 0; i < A; ++i) {
      for (int64_t j = 0; j < A; ++j) {
        st(rows + (i * A + j) * coutp + co0,
           gk[i][0] * G[j][0] + gk[i][1] * G[j][1] + gk[i][2] * G[j][2]);
      }
    }
  }
}

template <int M>
inline __attribute__((always_inline)) void adjoint_rows(const float* du, int64_t plane, int64_t cin,
                                                        int64_t cout, int64_t coutp, int64_t ci,
                                                        float* dw) {
  constexpr int64_t A = M + 2;
  constexpr auto& G = GMatrix<M>::g;
  const float* row = du + ci * coutp;
  alignas(64) float k9[9][B];
  for (int64_t co0 = 0; co0 < cout; co0 += B) {
    V gu[A][3];  // du G, row i
    for (int64_t i = 0; i < A; ++i) {
      V acc[3] = {};
      for (int64_t j = 0; j < A; ++j) {
        const V v = ld(row + (i * A + j) * plane + co0);
        for (int64_t q = 0; q < 3; ++q) acc[q] += v * G[j][q];
      }
      for (int64_t q = 0; q < 3; ++q) gu[i][q] = acc[q];
    }
    for (int64_t p = 0; p < 3; ++p) {
      for (int64_t q = 0; q < 3; ++q) {
        V sum = {};
        for (int64_t i = 0; i < A; ++i) sum += G[i][p] * gu[i][q];
        st(k9[p * 3 + q], sum);
      }
    }
    for (int64_t l = 0; l < B && co0 + l < cout; ++l) {
      float* dst = dw + ((co0 + l) * cin + ci) * 9;
      for (int64_t pq = 0; pq < 9; ++pq) dst[pq] = k9[pq][l];
    }
  }
}

void weight_transform(int64_t m, const float* w, int64_t cin, int64_t cout, int64_t cinp,
                      int64_t coutp, bool flipped, float* u, int64_t ci0, int64_t ci1) {
  const int64_t a = m + 2;
  const int64_t plane = cinp * coutp;
  // One row ci of all (m + 2)^2 matrices at a time, written out row by row: writing each
  // (ci, co) to its (m + 2)^2 matrices in turn would touch as many pages per element.
  std::vector<float> rows(static_cast<size_t>(a * a * coutp));
  for (int64_t ci = ci0; ci < ci1; ++ci) {
    if (m == 2) {
      weight_rows<2>(w, cin, cout, coutp, flipped, ci, rows.data());
    } else {
      weight_rows<4>(w, cin, cout, coutp, flipped, ci, rows.data());
    }
    for (int64_t k = 0; k < a * a; ++k) {
      std::memcpy(u + k * plane + ci * coutp, &rows[static_cast<size_t>(k * coutp)],
                  static_cast<size_t>(coutp) * sizeof(float));
    }
  }
}

void weight_adjoint(int64_t m, const float* du, int64_t cin, int64_t cout, int64_t cinp,
                    int64_t coutp, float* dw, int64_t ci0, int64_t ci1) {
  const int64_t plane = cinp * coutp;
  // Row ci of the (m + 2)^2 matrices at a time, as weight_transform writes them.
  for (int64_t ci = ci0; ci < ci1; ++ci) {
    if (m == 2) {
      adjoint_rows<2>(du, plane, cin, cout, coutp, ci, dw);
    } else {
      adjoint_rows<4>(du, plane, cin, cout, coutp, ci, dw);
    }
  }
}

}  // namespace pfgm::cpu::winograd::PFGM_WINOGRAD_ISA
