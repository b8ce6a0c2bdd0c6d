// EDM's UNetBlock, as SongUNet configures it (adaptive_scale = False, skip_scale = sqrt(1/2),
// eps = 1e-6, resample_proj = True, one attention head) and as the ADM network does
// (adaptive_scale = True, skip_scale = 1, eps = 1e-5, resample_proj = False, out_channels / 64
// heads, kaiming_uniform init):
//   h = conv0(silu(norm0(x)))
//   h = silu(norm1(h + affine(emb)))                         (SongUNet)
//   h = silu(shift + norm1(h) * (scale + 1)), [scale | shift] = affine(emb)   (adaptive scale)
//   h = conv1(dropout(h));  x = (h + skip(x)) * skip_scale
//   if attention: x = (proj(attn(qkv(norm2(x)))) + x) * skip_scale
#pragma once

#include <vector>

#include "layers.h"

namespace pfgm::nn {

struct UNetBlockSpec {
  int64_t in_channels, out_channels, emb_channels;
  bool up = false, down = false, attention = false;
  int64_t num_heads = 1;
  float dropout = 0;
  float skip_scale = 0.70710678118654752f;
  float eps = 1e-6f;
  std::vector<float> resample_filter{1, 1};
  bool resample_proj = true;
  bool adaptive_scale = false;
  // EDM's init dicts and init_bias (init's bias gain); init_attn is init's when EDM passes none.
  InitSpec init = xavier(), init_zero = xavier(1e-5), init_attn = xavier(0.44721359549995793);
  double init_bias = 0;
  uint32_t dropout_site = 0;  // tells this block's dropout stream from the others'
};

class UNetBlock {
 public:
  UNetBlock(ParamSet& ps, const Scope& scope, const UNetBlockSpec& spec);
  int64_t in_channels() const { return spec_.in_channels; }
  int64_t out_channels() const { return spec_.out_channels; }
  op::Nhwc out_shape(const op::Nhwc& in) const { return conv0_.out_shape(in); }
  // x and emb [n, emb_channels] must stay alive until backward.
  void forward(const Context& ctx, const op::Nhwc& in, const float* x, const float* emb, float* y);
  // Writes dx and *adds* this block's gradient with respect to emb into demb.
  void backward(const Context& ctx, const float* dy, float* dx, float* demb);

 private:
  UNetBlockSpec spec_;
  GroupNorm norm0_, norm1_, norm2_;
  Conv2d conv0_, conv1_, skip_, qkv_, proj_;
  Linear affine_;
  bool has_skip_ = false;
  op::Nhwc in_{}, out_{};
  const float* x_ = nullptr;
  // Saved activations (forward) and their gradients (backward), reused across steps.
  Buffer a0_, a1_, shift_, n1_, z1_, a2_, a3_, a4_, sk_, x1_, n2_, qkv_buf_, att_, attw_;
  Buffer mask_;  // dropout's keep-mask as bits (op::DropoutSpec), from forward to backward
  Buffer g_res_, g_att_, g_qkv_, g_n2_, g_x1_, g_sum_, g_a3_, g_a2_, g_a1_, g_shift_, g_emb_, g_a0_,
      g_skip_, g_z1_, g_n1_;
};

}  // namespace pfgm::nn
