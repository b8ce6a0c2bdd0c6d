#include "dhariwal_unet.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "../errors.h"
#include "unet_layout.h"

namespace pfgm::nn {

namespace {

constexpr int64_t kChannelsPerHead = 64;  // EDM's DhariwalUNet passes channels_per_head=64

}  // namespace

DhariwalUNet::DhariwalUNet(const DhariwalUNetConfig& c) : cfg_(c) {
  const int64_t levels = unet_levels(c.img_resolution, c.channel_mult);
  emb_channels_ = c.model_channels * c.channel_mult_emb;
  // EDM: init = kaiming_uniform with init_weight = init_bias = sqrt(1/3); init_zero = 0.
  const double third = std::sqrt(1.0 / 3.0);
  const InitSpec init = kaiming_uniform(third), init_zero = kaiming_uniform(0.0);
  const Scope root{};

  AdmMappingSpec ms;
  ms.noise_channels = c.model_channels;
  ms.emb_channels = emb_channels_;
  ms.label_dim = c.label_dim;
  ms.augment_dim = c.augment_dim;
  ms.label_dropout = c.label_dropout;
  ms.init = init;
  ms.init_bias = third;
  ms.init_zero = init_zero;
  mapping_ = AdmMapping(ps_, ms);

  uint32_t site = 0;
  auto block = [&](const Scope& s, int64_t cin, int64_t cout, bool attention, bool up, bool down) {
    UNetBlockSpec spec;
    spec.in_channels = cin;
    spec.out_channels = cout;
    spec.emb_channels = emb_channels_;
    spec.up = up;
    spec.down = down;
    // EDM: num_heads = out_channels // 64, and a block with no head has no attention layers.
    spec.num_heads = cout / kChannelsPerHead;
    spec.attention = attention && spec.num_heads > 0;
    spec.dropout = c.dropout;
    spec.skip_scale = 1.0f;
    spec.eps = 1e-5f;
    spec.resample_filter = {1, 1};
    spec.resample_proj = false;
    spec.adaptive_scale = true;
    spec.init = init;
    spec.init_zero = init_zero;
    spec.init_attn = init;
    spec.init_bias = third;
    spec.dropout_site = site++;
    return std::make_unique<UNetBlock>(ps_, s, spec);
  };

  // Encoder.
  const Scope enc = root.sub("enc");
  int64_t cout = c.in_channels;
  std::vector<int64_t> skips;
  for (int64_t level = 0; level < levels; ++level) {
    const int64_t res = c.img_resolution >> level;
    if (level == 0) {
      const int64_t cin = cout;
      cout = c.model_channels * c.channel_mult[level];
      enc_conv_ = Conv2d(ps_, enc.sub(res_name(res, "conv")), cin, cout, 3, true, ResampleSpec{},
                         init, third);
    } else {
      enc_.push_back(block(enc.sub(res_name(res, "down")), cout, cout, false, false, true));
    }
    skips.push_back(cout);
    for (int64_t idx = 0; idx < c.num_blocks; ++idx) {
      const int64_t cin = cout;
      cout = c.model_channels * c.channel_mult[level];
      enc_.push_back(block(enc.sub(res_name(res, "block" + std::to_string(idx))), cin, cout,
                           contains(c.attn_resolutions, res), false, false));
      skips.push_back(cout);
    }
  }

  // Decoder.
  const Scope dec = root.sub("dec");
  for (int64_t level = levels - 1; level >= 0; --level) {
    const int64_t res = c.img_resolution >> level;
    if (level == levels - 1) {
      dec_.push_back(block(dec.sub(res_name(res, "in0")), cout, cout, true, false, false));
      dec_.push_back(block(dec.sub(res_name(res, "in1")), cout, cout, false, false, false));
    } else {
      dec_.push_back(block(dec.sub(res_name(res, "up")), cout, cout, false, true, false));
    }
    for (int64_t idx = 0; idx <= c.num_blocks; ++idx) {
      const int64_t cin = cout + skips.back();
      skips.pop_back();
      cout = c.model_channels * c.channel_mult[level];
      dec_.push_back(block(dec.sub(res_name(res, "block" + std::to_string(idx))), cin, cout,
                           contains(c.attn_resolutions, res), false, false));
    }
  }
  out_norm_ = GroupNorm(ps_, root.sub("out_norm"), cout, 1e-5f);
  out_conv_ =
      Conv2d(ps_, root.sub("out_conv"), cout, c.out_channels, 3, true, ResampleSpec{}, init_zero);
  if (site >= 256) fail(code::kArgument, "too many U-Net blocks (dropout sites are 8 bits)");

  enc_out_.resize(enc_.size() + 1);
  skip_grad_.resize(enc_.size() + 1);
  enc_shape_.resize(enc_.size() + 1);
  cat_.resize(dec_.size());
  dec_out_.resize(dec_.size());
  steps_.resize(dec_.size());
}

op::Nhwc DhariwalUNet::input_shape(int64_t n) const {
  return op::Nhwc{n, cfg_.img_resolution, cfg_.img_resolution, cfg_.in_channels};
}

op::Nhwc DhariwalUNet::output_shape(int64_t n) const {
  return op::Nhwc{n, cfg_.img_resolution, cfg_.img_resolution, cfg_.out_channels};
}

void DhariwalUNet::forward(const Context& ctx, const float* x, const float* noise_labels,
                           const float* class_labels, const float* augment_labels, float* out) {
  n_ = ctx.batch;
  const float* emb = mapping_.forward(ctx, n_, noise_labels, class_labels, augment_labels);

  // Encoder (EDM DhariwalUNet.forward): every output is kept as a skip.
  op::Nhwc shape = input_shape(n_);
  enc_shape_[0] = enc_conv_.out_shape(shape);
  enc_conv_.forward(ctx, shape, x, ctx.ensure(enc_out_[0], enc_shape_[0].numel()));
  for (size_t k = 0; k < enc_.size(); ++k) {
    enc_shape_[k + 1] = enc_[k]->out_shape(enc_shape_[k]);
    enc_[k]->forward(ctx, enc_shape_[k], enc_out_[k].data(), emb,
                     ctx.ensure(enc_out_[k + 1], enc_shape_[k + 1].numel()));
  }

  // Decoder: a block whose input channels differ from the running tensor's takes the last skip
  // concatenated to it.
  int next_skip = static_cast<int>(enc_.size());
  shape = enc_shape_.back();
  const float* cur = enc_out_.back().data();
  for (size_t j = 0; j < dec_.size(); ++j) {
    UNetBlock& b = *dec_[j];
    DecStep& st = steps_[j];
    st.skip = -1;
    if (shape.c != b.in_channels()) {
      if (next_skip < 0) fail(code::kInternal, "DhariwalUNet: the decoder ran out of skips");
      st.skip = next_skip--;
      const op::Nhwc s = enc_shape_[st.skip];
      float* cat = ctx.ensure(cat_[j], shape.pixels() * (shape.c + s.c));
      ctx.be().concat_channels(shape.pixels(), shape.c, cur, s.c, enc_out_[st.skip].data(), cat);
      shape.c += s.c;
      cur = cat;
    }
    st.in = shape;
    const op::Nhwc o = b.out_shape(shape);
    b.forward(ctx, shape, cur, emb, ctx.ensure(dec_out_[j], o.numel()));
    shape = o;
    cur = dec_out_[j].data();
  }
  if (next_skip >= 0) fail(code::kInternal, "DhariwalUNet: the decoder left a skip unused");
  // silu(out_norm(x)): the SiLU fused into the norm.
  out_norm_.forward(ctx, shape, cur, nullptr, true, ctx.ensure(norm_out_, shape.numel()));
  out_conv_.forward(ctx, shape, norm_out_.data(), out);
}

void DhariwalUNet::backward(const Context& ctx, const float* dout, float* dx) {
  float* demb = ctx.ensure(demb_, n_ * emb_channels_);
  ctx.be().fill(n_ * emb_channels_, 0.0f, demb);
  int64_t most = 0;
  for (const op::Nhwc& s : enc_shape_) most = std::max(most, s.numel());
  for (const DecStep& st : steps_) most = std::max(most, st.in.numel());
  for (Buffer& b : g_) ctx.ensure(b, most);

  const op::Nhwc last = dec_.empty() ? enc_shape_.back() : dec_.back()->out_shape(steps_.back().in);
  float* gn = ctx.ensure(g_norm_, last.numel());
  out_conv_.backward(ctx, dout, gn);
  int cur = 0;  // g_[cur] holds the gradient of the running tensor
  out_norm_.backward(ctx, gn, g_[cur].data(), nullptr);

  for (size_t j = dec_.size(); j-- > 0;) {
    const DecStep& st = steps_[j];
    const int gin = (cur + 1) % 3;
    dec_[j]->backward(ctx, g_[cur].data(), g_[gin].data(), demb);
    if (st.skip < 0) {
      cur = gin;
      continue;
    }
    // Each skip is concatenated once, so its gradient from the decoder is written, not summed.
    const op::Nhwc s = enc_shape_[st.skip];
    const int da = (cur + 2) % 3;
    ctx.be().split_channels(st.in.pixels(), st.in.c - s.c, g_[da].data(), s.c,
                            ctx.ensure(skip_grad_[st.skip], s.numel()), g_[gin].data());
    cur = da;
  }

  // Encoder: output k gets the gradient of its skip plus that of the next block's input.
  for (size_t k = enc_.size() + 1; k-- > 0;) {
    const op::Nhwc s = enc_shape_[k];
    float* g = g_[cur].data();
    ctx.be().axpby(s.numel(), 1.0f, g, 1.0f, skip_grad_[k].data(), g);
    if (k == 0) {
      enc_conv_.backward(ctx, g, dx);
    } else {
      const int gin = (cur + 1) % 3;
      enc_[k - 1]->backward(ctx, g, g_[gin].data(), demb);
      cur = gin;
    }
  }
  mapping_.backward(ctx, demb);
}

}  // namespace pfgm::nn
