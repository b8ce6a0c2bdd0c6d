#include "mlp.h"

#include <cmath>

#include "../errors.h"
#include "../ops/activation.h"
#include "../ops/elementwise.h"
#include "mapping.h"

namespace pfgm::nn {

Mlp::Mlp(const MlpConfig& c) : cfg_(c) {
  if (cfg_.out_features == 0) cfg_.out_features = c.features;
  if (c.features < 1 || cfg_.out_features < 1 || c.hidden < 1 || c.num_blocks < 0 ||
      c.noise_channels < 2 || c.noise_channels % 2 != 0 || c.emb_channels < 1) {
    fail(code::kArgument,
         "mlp: features, hidden and emb_channels must be positive and "
         "noise_channels an even number >= 2");
  }
  const InitSpec init = xavier(), init_zero = xavier(1e-5);
  const Scope root{};
  mapping_ = Mapping(
      ps_, MappingSpec{c.noise_channels, c.emb_channels, c.label_dim, 0, false, c.label_dropout});
  int64_t begin = ps_.param_count();
  auto module_end = [&] {
    const int id = ready_.add_module(begin, ps_.param_count());
    begin = ps_.param_count();
    return id;
  };
  in_proj_ = Linear(ps_, root.sub("in_proj"), c.features, c.hidden, true, init);
  in_id_ = module_end();
  blocks_.resize(static_cast<size_t>(c.num_blocks));
  for (int64_t i = 0; i < c.num_blocks; ++i) {
    const Scope b = root.sub("blocks").sub(std::to_string(i));
    blocks_[i].fc0 = Linear(ps_, b.sub("fc0"), c.hidden, c.hidden, true, init);
    blocks_[i].affine = Linear(ps_, b.sub("affine"), c.emb_channels, c.hidden, true, init);
    blocks_[i].fc1 = Linear(ps_, b.sub("fc1"), c.hidden, c.hidden, true, init_zero);
    block_ids_.push_back(module_end());
  }
  out_proj_ = Linear(ps_, root.sub("out_proj"), c.hidden, cfg_.out_features, true, init_zero);
  out_id_ = module_end();
  ready_.seal(ps_.param_count());
}

void Mlp::forward(const Context& ctx, const float* x, const float* noise_labels,
                  const float* class_labels, const float*, float* out) {
  const int64_t n = n_ = ctx.batch, hd = cfg_.hidden;
  ready_.start_pass();
  ready_.used(in_id_);
  ready_.used(out_id_);
  for (const int id : block_ids_) ready_.used(id);
  const float* emb = mapping_.forward(ctx, n, noise_labels, class_labels, nullptr);

  const int64_t cnt = n * hd;
  in_proj_.forward(ctx, n, x, ctx.ensure(h0_, cnt));
  const float* h = h0_.data();
  for (size_t i = 0; i < blocks_.size(); ++i) {
    Block& b = blocks_[i];
    // h_in is this block's input, kept because the residual output overwrites the next one.
    ctx.be().copy(cnt, h, ctx.ensure(b.h_in, cnt));
    ctx.be().silu_forward(cnt, b.h_in.data(), ctx.ensure(b.act_h, cnt));
    float* pre = ctx.ensure(b.pre, cnt);
    b.fc0.forward(ctx, n, b.act_h.data(), pre);
    float* a = ctx.ensure(tmp_, cnt);
    b.affine.forward(ctx, n, emb, a);
    ctx.be().axpby(cnt, 1.0f, pre, 1.0f, a, pre);
    ctx.be().silu_forward(cnt, pre, ctx.ensure(b.t, cnt));
    const float* t = b.t.data();
    if (ctx.training && cfg_.dropout > 0) {
      ctx.be().dropout_forward({n, hd, cfg_.dropout, ctx.seed, ctx.sample_offset, ctx.step,
                                static_cast<uint32_t>(i), ctx.step_at},
                               t, ctx.ensure(b.t_drop, cnt),
                               ctx.ensure_words(b.mask, n * op::dropout_mask_words(hd)));
      t = b.t_drop.data();
    }
    float* hn = ctx.ensure(h_out_, cnt);
    b.fc1.forward(ctx, n, t, hn);
    ctx.be().axpby(cnt, 1.0f, hn, 1.0f, b.h_in.data(), hn);
    h = hn;
  }
  // The last residual sum is out_proj's pre-activation; keep it for silu's backward.
  ctx.be().copy(cnt, h, ctx.ensure(act_out_, cnt));
  float* act = ctx.ensure(tmp_, cnt);
  ctx.be().silu_forward(cnt, act_out_.data(), act);
  ctx.be().copy(cnt, act, ctx.ensure(h0_, cnt));  // out_proj reads (and keeps a pointer to) h0_
  out_proj_.forward(ctx, n, h0_.data(), out);
}

void Mlp::backward(const Context& ctx, const float* dout, float* dx) {
  const int64_t n = n_, hd = cfg_.hidden, cnt = n * hd, ec = cfg_.emb_channels;
  float* gh = ctx.ensure(gh_, cnt);
  float* ga = ctx.ensure(ga_, cnt);
  out_proj_.backward(ctx, dout, ga);
  ready_.finished(ctx, out_id_);
  ctx.be().silu_backward(cnt, act_out_.data(), ga, gh);  // gh: gradient at the residual stream
  float* demb = ctx.ensure(demb_, n * ec);
  ctx.be().fill(n * ec, 0.0f, demb);
  float* ge = ctx.ensure(ge_, n * ec);
  for (size_t k = blocks_.size(); k-- > 0;) {
    Block& b = blocks_[k];
    float* gt = ctx.ensure(gb_, cnt);
    b.fc1.backward(ctx, gh, gt);
    if (ctx.training && cfg_.dropout > 0) {
      ctx.be().dropout_backward({n, hd, cfg_.dropout, ctx.seed, ctx.sample_offset, ctx.step,
                                 static_cast<uint32_t>(k), ctx.step_at},
                                b.mask.words(), gt, gt);
    }
    float* gpre = ctx.ensure(gc_, cnt);
    ctx.be().silu_backward(cnt, b.pre.data(), gt, gpre);
    b.affine.backward(ctx, gpre, ge);
    ctx.be().axpby(n * ec, 1.0f, demb, 1.0f, ge, demb);
    b.fc0.backward(ctx, gpre, ga);
    ctx.be().silu_backward(cnt, b.h_in.data(), ga, gt);
    ctx.be().axpby(cnt, 1.0f, gh, 1.0f, gt,
                   gh);  // residual: h_in feeds both fc0's branch and h_out
    ready_.finished(ctx, block_ids_[k]);
  }
  in_proj_.backward(ctx, gh, dx);
  ready_.finished(ctx, in_id_);
  mapping_.backward(ctx, demb);
}

}  // namespace pfgm::nn
