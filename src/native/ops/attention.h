// Self-attention over spatial positions, EDM's layout (UNetBlock with num_heads heads):
// qkv = conv1x1(norm2(x)) has 3C channels, and PyTorch's reshape(N*heads, C/heads, 3, HW) means
// channel (h * C/heads + i) * 3 + j of qkv is component j (0 = q, 1 = k, 2 = v) of channel i of
// head h. For each head: w = softmax_k(q^T k / sqrt(C/heads)), out[:, q] = sum_k w[q, k] v[:, k],
// and out's channel h * C/heads + i is channel i of head h. Softmax in fp32 with max subtraction.
#pragma once

#include <cstdint>

namespace pfgm::op {

struct AttentionShape {
  int64_t n, hw, c;  // c = channels of x (qkv has 3c), NHWC
  int64_t heads;     // divides c
};

}  // namespace pfgm::op

namespace pfgm::cpu {

// qkv: [n, hw, 3c]; out: [n, hw, c]; weights: [n, heads, hw, hw], saved for backward (may be
// null for inference).
void attention_forward(const op::AttentionShape& s, const float* qkv, float* out, float* weights);
// Writes dqkv [n, hw, 3c] from dout [n, hw, c].
void attention_backward(const op::AttentionShape& s, const float* qkv, const float* weights,
                        const float* dout, float* dqkv);

}  // namespace pfgm::cpu
