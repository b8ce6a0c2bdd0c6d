// Helpers of the cuDNN convolutions and cuBLAS linear layers (conv.cu, linear.cu) that need
// neither library: bias add and bias gradient (bias.cu), fp32 <-> bf16 conversion and the
// weights' OIHW <-> OHWI transposes (bf16.cu). Every pointer is device memory; every kernel is
// queued on gpu::engine_stream().
#pragma once

#include <cstdint>

namespace pfgm::gpu {

// ---- bias.cu ---------------------------------------------------------------------------------

// y[r, c] += bias[c] for a row-major [rows, cols] y (NHWC activations are rows = n*h*w).
void add_bias_rows(int64_t rows, int64_t cols, const float* bias, float* y);

// out[c] = sum over r of dy[r, c]. Deterministic and in a fixed order: blocks of 256 rows x 32
// columns, each thread sums <= 32 rows of one column in fp32, the block's 8 partial sums meet in
// a fixed tree, and the per-block sums are added in double in block order (docs/cuda.md).
// rows == 0 gives zeros.
void column_sums(int64_t rows, int64_t cols, const float* dy, float* out);

// ---- bf16.cu ---------------------------------------------------------------------------------

// bf16 values are passed as their 16 bits (uint16_t), the layout cuDNN's and cuBLAS's bf16 types
// have; rounding is ops/bf16_math.h's (to nearest, ties to even).
void f32_to_bf16(int64_t count, const float* x, uint16_t* y);
// y = float(bf16(x)) in fp32 storage (y may be x): the bf16 autocast's operands for cuDNN's fp32
// fallbacks (conv.cu), the same values f32_to_bf16 gives.
void round_bf16(int64_t count, const float* x, float* y);
// y[r, c] = float(x[r, c]) + bias[c] (bias may be null): a bf16 result back to fp32.
void bf16_to_f32_bias(int64_t rows, int64_t cols, const uint16_t* x, const float* bias, float* y);

// PyTorch's OIHW weights [o][i][kh][kw] as OHWI [o][kh][kw][i] (cuDNN's filter layout for NHWC
// data), in fp32 or rounded to bf16.
void oihw_to_ohwi(int64_t o, int64_t i, int64_t kk, const float* w, float* out);
void oihw_to_ohwi_bf16(int64_t o, int64_t i, int64_t kk, const float* w, uint16_t* out);
// The filter gradient back: OHWI (fp32 or bf16) to OIHW fp32. kk = kh * kw.
void ohwi_to_oihw(int64_t o, int64_t i, int64_t kk, const float* w, float* out);
void ohwi_bf16_to_oihw(int64_t o, int64_t i, int64_t kk, const uint16_t* w, float* out);

}  // namespace pfgm::gpu
