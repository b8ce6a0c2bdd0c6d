// 2-D pooling over channels-last activations, forward only (the networks that pool, Inception-v3
// for FID, are inference-only). Semantics are PyTorch's F.max_pool2d, F.avg_pool2d and
// F.adaptive_avg_pool2d with ceil_mode=False:
//   oh = (h + 2 pad_h - kh) / stride_h + 1   (floor), and the same for the width;
//   padding is implicit: -inf for max pooling, zeros for average pooling with
//   count_include_pad=true; with count_include_pad=false the mean is over the window's pixels that
//   lie inside the input (TensorFlow's "SAME" average pool, which the FID Inception uses).
// Preconditions (checked, ERR_PFGM_SHAPE): sizes >= 1, pad <= kernel / 2 per axis (PyTorch's rule,
// which guarantees every window holds at least one input pixel), and h + 2 pad_h >= kh.
#pragma once

#include "layout.h"

namespace pfgm::op {

struct Pool2dShape {
  op::Nhwc in;
  int64_t kh, kw;  // window
  int64_t stride_h, stride_w;
  int64_t pad_h, pad_w;  // implicit padding on both sides of each axis
  int64_t oh() const { return (in.h + 2 * pad_h - kh) / stride_h + 1; }
  int64_t ow() const { return (in.w + 2 * pad_w - kw) / stride_w + 1; }
};

}  // namespace pfgm::op

namespace pfgm::cpu {

using op::Pool2dShape;

// Throws ERR_PFGM_SHAPE naming the problem when `s` breaks a precondition above.
void check_pool_shape(const Pool2dShape& s);

// y[n, oh, ow, c] = max over the window; a NaN in the window gives NaN (as PyTorch).
void max_pool2d_forward(const Pool2dShape& s, const float* x, float* y);

// y[n, oh, ow, c] = mean over the window (see count_include_pad above).
void avg_pool2d_forward(const Pool2dShape& s, bool count_include_pad, const float* x, float* y);

// y[n, oh, ow, c]: output cell (i, j) averages rows [floor(i h / oh), ceil((i + 1) h / oh)) and
// the same columns, PyTorch's adaptive windows (oh = ow = 1 is the global average pool).
void adaptive_avg_pool2d_forward(const op::Nhwc& in, int64_t oh, int64_t ow, const float* x,
                                 float* y);

}  // namespace pfgm::cpu
