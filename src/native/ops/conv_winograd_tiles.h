// The per-tile transforms of the Winograd convolutions (conv_winograd.cc), over blocks of
// kBlock channels so that every transform is a handful of vector operations on the channels that
// NHWC keeps contiguous.
#pragma once

#include <cstdint>

namespace pfgm::cpu::winograd {

inline constexpr int64_t kBlock = 16;  // channels per transform: one AVX-512 or two AVX2 vectors

// Floats between the matrices of two consecutive (i, j) of count x cp: count * cp, or one block
// more where that is an even number of 64-byte lines, so that the 16 or 36 lines one tile
// writes fall into different sets of the L1 cache (at a power-of-two stride they would all map
// to one set and evict each other).
inline int64_t plane_stride(int64_t count, int64_t cp) {
  const int64_t p = count * cp;
  return (p / kBlock) % 2 == 0 ? p + kBlock : p;
}

// Where the tiles of one convolution lie. Input and output have the same h x w (stride 1,
// padding 1); tile (n, ty, tx) reads input rows m ty - 1 .. m ty + m and writes output rows
// m ty .. m ty + m - 1 (clipped to the image), and likewise for columns.
struct Tiles {
  int64_t m;                 // output tile edge: 2 or 4 (the input tile is m + 2)
  int64_t h, w;              // image size
  int64_t tiles_y, tiles_x;  // tiles per column and row of one image
  int64_t count;             // tiles in the batch chunk being transformed
  int64_t n_first;           // the chunk's first image
  int64_t per_image() const { return tiles_y * tiles_x; }
  int64_t alpha() const { return m + 2; }
  // Tile t of the chunk: its image and the first output row and column it covers.
  struct Origin {
    int64_t n, y, x;
  };
  Origin origin(int64_t t) const {
    const int64_t k = t % per_image();
    return {n_first + t / per_image(), k / tiles_x * m, k % tiles_x * m};
  }
};

// Refuses (ERR_PFGM_ARGUMENT) a PFGM_WINOGRAD_ISA it does not know: avx512, avx2 or baseline cap
// the instruction set the transforms below use (the best this CPU has when unset). Called before
// the parallel regions that run them, where nothing may throw.
void check_isa_setting();

// v[(i * alpha + j) * plane_stride(count, cp) + t * cp + c] for t in [t0, t1): the transformed
// input tiles B^T d B of x[n, h, w, c] (NHWC), channels padded with zeros to cp (a multiple of
// kBlock).
void input_transform(const Tiles& g, const float* x, int64_t c, int64_t cp, float* v, int64_t t0,
                     int64_t t1);

// y[n, h, w, c] = A^T M A + bias for the tiles [t0, t1) of
// mm[(i * alpha + j) * plane_stride(count, cp) + t * cp + c].
void output_transform(const Tiles& g, const float* mm, int64_t c, int64_t cp, const float* bias,
                      float* y, int64_t t0, int64_t t1);

// dm[(i * alpha + j) * plane_stride(count, cp) + t * cp + c] = (A dy A^T)[i][j] for the tiles
// [t0, t1) of dy[n, h, w, c], zero beyond the image: the adjoint of output_transform, for the
// weight gradient.
void output_adjoint(const Tiles& g, const float* dy, int64_t c, int64_t cp, float* dm, int64_t t0,
                    int64_t t1);

// u[(i * alpha + j)][ci][co] = (G g G^T)[i][j] for g = w[co][ci] (OIHW), or, flipped, for
// g = w[ci][co] rotated by 180 degrees (backward data: the caller's co and ci are then the
// weights' ci and co). Padded channels are zero; rows [ci0, ci1) only.
void weight_transform(int64_t m, const float* w, int64_t cin, int64_t cout, int64_t cinp,
                      int64_t coutp, bool flipped, float* u, int64_t ci0, int64_t ci1);

// dw[co][ci][p][q] = (G^T du G)[p][q] for du = u[(i * alpha + j)][ci][co] (the layout of
// weight_transform, unflipped): the adjoint of weight_transform, for ci in [ci0, ci1).
void weight_adjoint(int64_t m, const float* du, int64_t cin, int64_t cout, int64_t cinp,
                    int64_t coutp, float* dw, int64_t ci0, int64_t ci1);

}  // namespace pfgm::cpu::winograd
