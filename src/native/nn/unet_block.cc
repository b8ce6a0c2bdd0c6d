#include "unet_block.h"

#include <cmath>

#include "../ops/activation.h"
#include "../ops/attention.h"
#include "../ops/elementwise.h"
#include "profile.h"

namespace pfgm::nn {

UNetBlock::UNetBlock(ParamSet& ps, const Scope& scope, const UNetBlockSpec& spec) : spec_(spec) {
  const InitSpec init = spec.init, init_zero = spec.init_zero;
  const double bias = spec.init_bias;
  const int64_t cin = spec.in_channels, cout = spec.out_channels;
  ResampleSpec rs{spec.up, spec.down, false, spec.resample_filter};
  // Registration order = EDM's state-dict order.
  norm0_ = GroupNorm(ps, scope.sub("norm0"), cin, spec.eps);
  conv0_ = Conv2d(ps, scope.sub("conv0"), cin, cout, 3, true, rs, init, bias);
  affine_ = Linear(ps, scope.sub("affine"), spec.emb_channels, cout * (spec.adaptive_scale ? 2 : 1),
                   true, init, bias);
  norm1_ = GroupNorm(ps, scope.sub("norm1"), cout, spec.eps);
  conv1_ = Conv2d(ps, scope.sub("conv1"), cout, cout, 3, true, ResampleSpec{}, init_zero);
  if (cout != cin || spec.up || spec.down) {
    has_skip_ = true;
    const int64_t kernel = spec.resample_proj || cout != cin ? 1 : 0;
    skip_ = Conv2d(ps, scope.sub("skip"), cin, cout, kernel, true, rs, init, bias);
  }
  if (spec.attention) {
    norm2_ = GroupNorm(ps, scope.sub("norm2"), cout, spec.eps);
    qkv_ =
        Conv2d(ps, scope.sub("qkv"), cout, cout * 3, 1, true, ResampleSpec{}, spec.init_attn, bias);
    proj_ = Conv2d(ps, scope.sub("proj"), cout, cout, 1, true, ResampleSpec{}, init_zero);
  }
}

void UNetBlock::forward(const Context& ctx, const op::Nhwc& in, const float* x, const float* emb,
                        float* y) {
  in_ = in;
  x_ = x;
  const int64_t n = in.n;
  const op::Nhwc mid = conv0_.out_shape(in);
  out_ = mid;
  const int64_t cnt = mid.numel();
  const float ss = spec_.skip_scale;

  norm0_.forward(ctx, in, x, nullptr, true, ctx.ensure(a0_, in.numel()));
  conv0_.forward(ctx, in, a0_.data(), ctx.ensure(a1_, cnt));
  if (spec_.adaptive_scale) {
    // silu(shift + norm1(h) * (scale + 1)): the norm, the modulation and the SiLU apart, as the
    // modulation comes after the norm's affine.
    affine_.forward(ctx, n, emb, ctx.ensure(shift_, n * 2 * mid.c));
    norm1_.forward(ctx, mid, a1_.data(), nullptr, false, ctx.ensure(n1_, cnt));
    ctx.be().modulate_forward(n, mid.h * mid.w, mid.c, n1_.data(), shift_.data(),
                              ctx.ensure(z1_, cnt));
    ctx.be().silu_forward(cnt, z1_.data(), ctx.ensure(a2_, cnt));
  } else {
    affine_.forward(ctx, n, emb, ctx.ensure(shift_, n * mid.c));
    norm1_.forward(ctx, mid, a1_.data(), shift_.data(), true, ctx.ensure(a2_, cnt));
  }
  const float* c1_in = a2_.data();
  if (ctx.training && spec_.dropout > 0) {
    PFGM_PROFILE("dropout.forward");
    // The mask (1/32 of the activation) spares the backward a second pass of Philox draws.
    ctx.be().dropout_forward({n, cnt / n, spec_.dropout, ctx.seed, ctx.sample_offset, ctx.step,
                              spec_.dropout_site, ctx.step_at},
                             a2_.data(), ctx.ensure(a3_, cnt),
                             ctx.ensure_words(mask_, n * op::dropout_mask_words(cnt / n)));
    c1_in = a3_.data();
  }
  float* x1 = spec_.attention ? ctx.ensure(x1_, cnt) : y;
  conv1_.forward(ctx, mid, c1_in, x1);
  if (has_skip_) {
    skip_.forward(ctx, in, x, ctx.ensure(sk_, cnt));
    ctx.be().axpby(cnt, ss, x1, ss, sk_.data(), x1);
  } else {
    ctx.be().axpby(cnt, ss, x1, ss, x, x1);
  }
  if (!spec_.attention) return;

  const int64_t hw = mid.h * mid.w;
  norm2_.forward(ctx, mid, x1, nullptr, false, ctx.ensure(n2_, cnt));
  qkv_.forward(ctx, mid, n2_.data(), ctx.ensure(qkv_buf_, cnt * 3));
  {
    PFGM_PROFILE("attention.forward");
    ctx.be().attention_forward({n, hw, mid.c, spec_.num_heads}, qkv_buf_.data(),
                               ctx.ensure(att_, cnt),
                               ctx.ensure(attw_, n * spec_.num_heads * hw * hw));
  }
  proj_.forward(ctx, mid, att_.data(), y);
  ctx.be().axpby(cnt, ss, y, ss, x1, y);
}

void UNetBlock::backward(const Context& ctx, const float* dy, float* dx, float* demb) {
  const op::Nhwc mid = out_;
  const int64_t n = in_.n, cnt = mid.numel(), in_cnt = in_.numel();
  const float ss = spec_.skip_scale;

  // gx1: the gradient reaching the residual sum x1 (which is y itself without attention).
  const float* gx1 = dy;
  if (spec_.attention) {
    const int64_t hw = mid.h * mid.w;
    float* gres = ctx.ensure(g_res_, cnt);
    ctx.be().scale(cnt, ss, dy, gres);  // y = ss * (proj(...) + x1): both terms get ss * dy
    float* gatt = ctx.ensure(g_att_, cnt);
    proj_.backward(ctx, gres, gatt);
    float* gqkv = ctx.ensure(g_qkv_, cnt * 3);
    {
      PFGM_PROFILE("attention.backward");
      ctx.be().attention_backward({n, hw, mid.c, spec_.num_heads}, qkv_buf_.data(), attw_.data(),
                                  gatt, gqkv);
    }
    float* gn2 = ctx.ensure(g_n2_, cnt);
    qkv_.backward(ctx, gqkv, gn2);
    float* g = ctx.ensure(g_x1_, cnt);
    norm2_.backward(ctx, gn2, g, nullptr);
    ctx.be().axpby(cnt, 1.0f, g, 1.0f, gres, g);
    gx1 = g;
  }
  // x1 = ss * (conv1(...) + skip(x)): both branches receive ss * gx1.
  float* gsum = ctx.ensure(g_sum_, cnt);
  ctx.be().scale(cnt, ss, gx1, gsum);
  float* g3 = ctx.ensure(g_a3_, cnt);
  conv1_.backward(ctx, gsum, g3);
  const float* g2 = g3;
  if (ctx.training && spec_.dropout > 0) {
    PFGM_PROFILE("dropout.backward");
    ctx.be().dropout_backward({n, cnt / n, spec_.dropout, ctx.seed, ctx.sample_offset, ctx.step,
                               spec_.dropout_site, ctx.step_at},
                              mask_.words(), g3, ctx.ensure(g_a2_, cnt));
    g2 = g_a2_.data();
  }
  float* g1 = ctx.ensure(g_a1_, cnt);
  float* gshift = ctx.ensure(g_shift_, n * mid.c * (spec_.adaptive_scale ? 2 : 1));
  if (spec_.adaptive_scale) {
    float* gz = ctx.ensure(g_z1_, cnt);
    ctx.be().silu_backward(cnt, z1_.data(), g2, gz);
    float* gn = ctx.ensure(g_n1_, cnt);
    ctx.be().modulate_backward(n, mid.h * mid.w, mid.c, n1_.data(), shift_.data(), gz, gn, gshift);
    norm1_.backward(ctx, gn, g1, nullptr);
  } else {
    norm1_.backward(ctx, g2, g1, gshift);
  }
  float* ge = ctx.ensure(g_emb_, n * spec_.emb_channels);
  affine_.backward(ctx, gshift, ge);
  ctx.be().axpby(n * spec_.emb_channels, 1.0f, demb, 1.0f, ge, demb);
  float* g0 = ctx.ensure(g_a0_, in_cnt);
  conv0_.backward(ctx, g1, g0);
  norm0_.backward(ctx, g0, dx, nullptr);
  if (has_skip_) {
    float* gsk = ctx.ensure(g_skip_, in_cnt);
    skip_.backward(ctx, gsum, gsk);
    ctx.be().axpby(in_cnt, 1.0f, dx, 1.0f, gsk, dx);
  } else {
    ctx.be().axpby(in_cnt, 1.0f, dx, 1.0f, gsum, dx);
  }
}

}  // namespace pfgm::nn
