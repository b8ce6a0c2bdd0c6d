// Bilinear resizing of channels-last activations, forward only: PyTorch's
// F.interpolate(x, size=(oh, ow), mode='bilinear', align_corners=False) without antialiasing,
// which is how pytorch-fid brings any image to Inception-v3's 299x299.
//
// Along each axis (in -> out pixels) output index d reads source coordinate
//   s = max((in / out) * (d + 0.5) - 0.5, 0),   i0 = floor(s),  i1 = min(i0 + 1, in - 1),
//   weights (1 - (s - i0), s - i0),
// computed in float as PyTorch's CPU kernel does; an axis whose size does not change is copied.
// The result is separable: y = wy0 (wx0 x00 + wx1 x01) + wy1 (wx0 x10 + wx1 x11). Because the
// weights sum to 1, resizing commutes with an affine map of the values (x -> 2x - 1).
#pragma once

#include "layout.h"

namespace pfgm::cpu {

// y[n, oh, ow, c] from x[n, h, w, c]; any sizes >= 1 (up or down). ERR_PFGM_SHAPE otherwise.
void resize_bilinear_forward(const op::Nhwc& in, int64_t oh, int64_t ow, const float* x, float* y);

}  // namespace pfgm::cpu
