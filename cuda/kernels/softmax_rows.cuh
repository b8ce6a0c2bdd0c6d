// Row softmax and its backward on the GPU, shared by both attention paths
// (cuda/kernels/attention.cu, the tiled kernels; cuda/libs/attention_blas.cu, over cuBLAS). The CPU
// reference is ops/attention.cc.
//
// One warp per row. The reductions have a fixed order: per-lane sums in index order (lane,
// lane + 32, ...), then a xor butterfly that leaves every lane the same bits (a + b == b + a), so
// each run gives the same result and no atomics are needed. Rows up to 256 long are held in
// registers (one read and one write per element: the networks' attention has 64 or 256 positions);
// longer rows loop over memory. Both variants compute the same bits (the register variant's padding
// adds exact zeros).
#pragma once

#include <cstdint>

namespace pfgm::cuda {

// In place over `rows` rows of `len` floats: w = exp(w - max) / sum exp(w - max), with expf
// (full single precision).
void softmax_rows(int64_t rows, int64_t len, float* w);

// In place over g: g = scale * w * (g - sum_j g_j w_j), the CPU's expression and order of
// operations (attention's dS from dW, with the 1 / sqrt d as scale).
void softmax_rows_backward(int64_t rows, int64_t len, const float* w, float* g, float scale);

}  // namespace pfgm::cuda
