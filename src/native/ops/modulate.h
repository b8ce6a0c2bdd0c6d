// EDM's adaptive scale (UNetBlock with adaptive_scale = True: the blocks of its ADM network,
// DhariwalUNet): after norm1, each sample's embedding gives every channel a scale and a shift,
//   y = shift + x * (scale + 1)            (torch.addcmul(shift, norm1(x), scale + 1))
// with params [n, 2c] = [scale | shift], EDM's params.chunk(2, dim=1) of affine(emb). NHWC.
#pragma once

#include <cstdint>

namespace pfgm::cpu {

// y[i, p, ch] = params[i, c + ch] + x[i, p, ch] * (params[i, ch] + 1) over `hw` positions.
void modulate_forward(int64_t n, int64_t hw, int64_t c, const float* x, const float* params,
                      float* y);
// dx = dy * (scale + 1); dparams[i, ch] = sum_p dy x (the scale), dparams[i, c + ch] = sum_p dy
// (the shift), summed in double over the positions in order and rounded once.
void modulate_backward(int64_t n, int64_t hw, int64_t c, const float* x, const float* params,
                       const float* dy, float* dx, float* dparams);

}  // namespace pfgm::cpu
