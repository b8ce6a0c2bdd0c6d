// Attention on the GPU with its six products as cuBLAS strided-batched GEMMs (attention_blas.cu):
// the same contract as the CPU ops (ops/attention.h) and kernels/attention.cu's tiled twin, plus
// the math mode of the convolutions and linear layers (ops.h's MathMode):
//   kFp32  CUBLAS_COMPUTE_32F on a handle whose math mode is CUBLAS_DEFAULT_MATH: IEEE fp32, no
//   TF32; kTf32  CUBLAS_COMPUTE_32F_FAST_TF32: TF32 tensor cores, fp32 accumulation; kBf16
//   CUBLAS_COMPUTE_32F_FAST_16BF: fp32 operands down-converted to bf16 inside cuBLAS, bf16
//          tensor-core products, fp32 accumulation and fp32 results.
// In every mode q, k, v, the weights, every gradient and the softmax and its backward stay fp32 in
// memory. Every pointer is device memory; the work is queued on gpu::engine_stream().
//
// `weights` [n, heads, hw, hw] is written by the forward for the backward; it may be null for
// inference (then pooled scratch holds it during the call). Shapes are checked as on the CPU
// (ERR_PFGM_SHAPE); a build without cuBLAS refuses both functions with ERR_PFGM_DEVICE.
#pragma once

#include "ops.h"

namespace pfgm::cuda {

void attention_forward_blas(const op::AttentionShape& s, const float* qkv, float* out,
                            float* weights, MathMode math = MathMode::kFp32);
// Writes dqkv [n, hw, 3c] (nothing when it is null); `weights` must be the forward's.
void attention_backward_blas(const op::AttentionShape& s, const float* qkv, const float* weights,
                             const float* dout, float* dqkv, MathMode math = MathMode::kFp32);

}  // namespace pfgm::cuda
