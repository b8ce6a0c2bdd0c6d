// Row softmax and its backward on the GPU, shared by both attention paths (attention.cu, the tiled
// kernels; attention_blas.cu, over cuBLAS); the CPU reference is ops/attention.cc. One warp per
// row, a fixed reduction order (the same bits on every run, no atomics); rows up to 256 in
// registers, longer ones looping over memory. Variants and history: bench/kernels/softmax_rows/.
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
