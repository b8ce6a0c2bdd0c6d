// Winograd convolutions F(m x m, 3 x 3) for the engine's 3x3, stride-1, padding-1 convolutions
// (docs/dev/architecture.md, "Convolution algorithms (CPU)"): fewer multiplications than oneDNN's
// direct kernels, which on the CPU are already near the machine's fp32 peak. conv.cc chooses
// between them and the direct path per shape; this file only computes.
#pragma once

#include "conv.h"

namespace pfgm::cpu::winograd {

// Whether the Winograd path computes this convolution (3x3 kernel, stride 1, padding 1).
inline bool applies(const op::Conv2dShape& s) {
  return s.k == 3 && s.stride == 1 && s.pad == 1 && s.n > 0;
}

// y[n, h, w, cout] = conv(x, weight) + bias (bias may be null), through F(m x m, 3x3), m 2 or 4.
// Same contract as cpu::conv2d_forward for shapes where applies() holds.
void forward(const op::Conv2dShape& s, int64_t m, const float* x, const float* weight,
             const float* bias, float* y);

// dx[n, h, w, cin] from dy[n, h, w, cout]: the forward algorithm on dy with the kernel flipped in
// space and its two channel axes swapped (the adjoint of a stride-1, padding-1 convolution).
void backward_data(const op::Conv2dShape& s, int64_t m, const float* weight, const float* dy,
                   float* dx);

// dweight[cout, cin, 3, 3] and dbias[cout] (either nullable) from x and dy: the adjoint of
// forward's algorithm with respect to the weights, its GEMMs summing over the tiles.
void backward_weights(const op::Conv2dShape& s, int64_t m, const float* x, const float* dy,
                      float* dweight, float* dbias);

}  // namespace pfgm::cpu::winograd
