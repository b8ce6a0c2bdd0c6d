// Fully connected layer (oneDNN matmul): EDM's Linear, y = x W^T + b.
#pragma once

#include <cstdint>

namespace pfgm::op {

struct LinearShape {
  int64_t rows;  // batch (or pixels, for a per-pixel projection)
  int64_t in, out;
};

}  // namespace pfgm::op

namespace pfgm::cpu {

// y[rows, out] = x[rows, in] * weight[out, in]^T + bias[out] (bias may be null).
void linear_forward(const op::LinearShape& s, const float* x, const float* weight,
                    const float* bias, float* y);

// Writes dx (nullable), dweight (nullable, [out, in]) and dbias (nullable, [out]).
void linear_backward(const op::LinearShape& s, const float* x, const float* weight, const float* dy,
                     float* dx, float* dweight, float* dbias);

}  // namespace pfgm::cpu
