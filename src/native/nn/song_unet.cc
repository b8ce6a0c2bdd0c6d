#include "song_unet.h"

#include <algorithm>
#include <cmath>

#include "../errors.h"
#include "../ops/activation.h"
#include "../ops/elementwise.h"
#include "mapping.h"
#include "unet_layout.h"

namespace pfgm::nn {

using op::Nhwc;

SongUNet::SongUNet(const SongUNetConfig& c) : cfg_(c) {
  if (c.embedding_type != "positional" && c.embedding_type != "fourier")
    fail(code::kArgument, "embedding_type must be 'positional' or 'fourier'");
  if (c.encoder_type != "standard" && c.encoder_type != "skip" && c.encoder_type != "residual")
    fail(code::kArgument, "encoder_type must be 'standard', 'skip' or 'residual'");
  if (c.decoder_type != "standard" && c.decoder_type != "skip")
    fail(code::kArgument, "decoder_type must be 'standard' or 'skip'");
  const int64_t levels = unet_levels(c.img_resolution, c.channel_mult);
  emb_channels_ = c.model_channels * c.channel_mult_emb;
  noise_channels_ = c.model_channels * c.channel_mult_noise;
  const InitSpec init = xavier(), init_zero = xavier(1e-5);
  const Scope root{};

  // Mapping network first: EDM's registration order.
  mapping_ = Mapping(ps_, MappingSpec{noise_channels_, emb_channels_, c.label_dim, c.augment_dim,
                                      c.embedding_type == "fourier", c.label_dropout});

  int64_t begin = ps_.param_count();
  auto tracked = [&](std::vector<int>& ids) {
    ids.push_back(ready_.add_module(begin, ps_.param_count()));
    begin = ps_.param_count();
  };
  uint32_t site = 0;
  auto block = [&](const Scope& s, int64_t cin, int64_t cout, bool attention, bool up, bool down) {
    UNetBlockSpec spec;
    spec.in_channels = cin;
    spec.out_channels = cout;
    spec.emb_channels = emb_channels_;
    spec.up = up;
    spec.down = down;
    spec.attention = attention;
    spec.dropout = c.dropout;
    spec.resample_filter = c.resample_filter;
    spec.dropout_site = site++;
    blocks_.push_back(std::make_unique<UNetBlock>(ps_, s, spec));
    tracked(block_ids_);
    return Item{Kind::kBlock, static_cast<int>(blocks_.size() - 1)};
  };
  auto conv = [&](Kind kind, const Scope& s, int64_t cin, int64_t cout, int64_t k, ResampleSpec rs,
                  InitSpec in) {
    convs_.push_back(std::make_unique<Conv2d>(ps_, s, cin, cout, k, true, rs, in));
    tracked(conv_ids_);
    return Item{kind, static_cast<int>(convs_.size() - 1)};
  };

  // Encoder.
  const Scope enc = root.sub("enc");
  int64_t cout = c.in_channels, caux = c.in_channels;
  std::vector<int64_t> skips;
  for (int64_t level = 0; level < levels; ++level) {
    const int64_t res = c.img_resolution >> level;
    if (level == 0) {
      const int64_t cin = cout;
      cout = c.model_channels;
      enc_.push_back(conv(Kind::kConv, enc.sub(res_name(res, "conv")), cin, cout, 3, {}, init));
      skips.push_back(cout);
    } else {
      enc_.push_back(block(enc.sub(res_name(res, "down")), cout, cout, false, false, true));
      skips.push_back(cout);
      if (c.encoder_type == "skip") {
        enc_.push_back(conv(Kind::kAuxDown, enc.sub(res_name(res, "aux_down")), caux, caux, 0,
                            ResampleSpec{false, true, false, c.resample_filter}, init));
        enc_.push_back(
            conv(Kind::kAuxSkip, enc.sub(res_name(res, "aux_skip")), caux, cout, 1, {}, init));
      }
      if (c.encoder_type == "residual") {
        enc_.push_back(conv(Kind::kAuxResidual, enc.sub(res_name(res, "aux_residual")), caux, cout,
                            3, ResampleSpec{false, true, true, c.resample_filter}, init));
        caux = cout;
      }
    }
    for (int64_t idx = 0; idx < c.num_blocks; ++idx) {
      const int64_t cin = cout;
      cout = c.model_channels * c.channel_mult[level];
      const bool attn = contains(c.attn_resolutions, res);
      enc_.push_back(block(enc.sub(res_name(res, "block" + std::to_string(idx))), cin, cout, attn,
                           false, false));
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
      const bool attn = idx == c.num_blocks && contains(c.attn_resolutions, res);
      dec_.push_back(block(dec.sub(res_name(res, "block" + std::to_string(idx))), cin, cout, attn,
                           false, false));
    }
    if (c.decoder_type == "skip" || level == 0) {
      if (c.decoder_type == "skip" && level < levels - 1) {
        dec_.push_back(conv(Kind::kAuxUp, dec.sub(res_name(res, "aux_up")), c.out_channels,
                            c.out_channels, 0, ResampleSpec{true, false, false, c.resample_filter},
                            init));
      }
      norms_.push_back(
          std::make_unique<GroupNorm>(ps_, dec.sub(res_name(res, "aux_norm")), cout, 1e-6f));
      tracked(norm_ids_);
      dec_.push_back(Item{Kind::kAuxNorm, static_cast<int>(norms_.size() - 1)});
      dec_.push_back(conv(Kind::kAuxConv, dec.sub(res_name(res, "aux_conv")), cout, c.out_channels,
                          3, {}, init_zero));
    }
  }
  if (site >= 256) fail(code::kArgument, "too many U-Net blocks (dropout sites are 8 bits)");
  ready_.seal(ps_.param_count());
}

op::Nhwc SongUNet::input_shape(int64_t n) const {
  return op::Nhwc{n, cfg_.img_resolution, cfg_.img_resolution, cfg_.in_channels};
}

op::Nhwc SongUNet::output_shape(int64_t n) const {
  return op::Nhwc{n, cfg_.img_resolution, cfg_.img_resolution, cfg_.out_channels};
}

int SongUNet::new_node(const Context& ctx, const op::Nhwc& shape) {
  const size_t id = tape_nodes_used_++;
  if (id == nodes_.size()) nodes_.emplace_back();
  Node& node = nodes_[id];
  node.shape = shape;
  ctx.ensure(node.value, shape.numel());
  node.has_grad = false;
  return static_cast<int>(id);
}

void SongUNet::forward(const Context& ctx, const float* x, const float* noise_labels,
                       const float* class_labels, const float* augment_labels, float* out) {
  n_ = ctx.batch;
  tape_.clear();
  tape_nodes_used_ = 0;
  ready_.start_pass();
  const float* emb = mapping_.forward(ctx, n_, noise_labels, class_labels, augment_labels);

  const int input = new_node(ctx, input_shape(n_));
  ctx.be().copy(nodes_[input].shape.numel(), x, nodes_[input].value.data());

  auto run_conv = [&](int module, int in) {
    Conv2d& m = *convs_[module];
    const int o = new_node(ctx, m.out_shape(nodes_[in].shape));
    m.forward(ctx, nodes_[in].shape, nodes_[in].value.data(), nodes_[o].value.data());
    tape_.push_back(Step{StepKind::kConv, module, in, -1, o, 0, 0});
    ready_.used(conv_ids_[module]);
    return o;
  };
  auto run_block = [&](int module, int in) {
    UNetBlock& m = *blocks_[module];
    const int o = new_node(ctx, m.out_shape(nodes_[in].shape));
    m.forward(ctx, nodes_[in].shape, nodes_[in].value.data(), emb, nodes_[o].value.data());
    tape_.push_back(Step{StepKind::kBlock, module, in, -1, o, 0, 0});
    ready_.used(block_ids_[module]);
    return o;
  };
  auto run_add = [&](int a, int b, float sa, float sb) {
    const int o = new_node(ctx, nodes_[a].shape);
    ctx.be().axpby(nodes_[a].shape.numel(), sa, nodes_[a].value.data(), sb, nodes_[b].value.data(),
                   nodes_[o].value.data());
    tape_.push_back(Step{StepKind::kAdd, -1, a, b, o, sa, sb});
    return o;
  };

  // Encoder (EDM SongUNet.forward).
  int cur = input, aux = input;
  std::vector<int> skips;
  for (const Item& it : enc_) {
    switch (it.kind) {
      case Kind::kAuxDown: aux = run_conv(it.index, aux); break;
      case Kind::kAuxSkip: {
        const int t = run_conv(it.index, aux);
        cur = skips.back() = run_add(cur, t, 1.0f, 1.0f);
        break;
      }
      case Kind::kAuxResidual: {
        const int t = run_conv(it.index, aux);
        const float r = static_cast<float>(1.0 / std::sqrt(2.0));
        cur = skips.back() = aux = run_add(cur, t, r, r);
        break;
      }
      case Kind::kConv:
        cur = run_conv(it.index, cur);
        skips.push_back(cur);
        break;
      case Kind::kBlock:
        cur = run_block(it.index, cur);
        skips.push_back(cur);
        break;
      default: break;
    }
  }

  // Decoder.
  aux = -1;
  int tmp = -1;
  for (const Item& it : dec_) {
    switch (it.kind) {
      case Kind::kAuxUp: aux = run_conv(it.index, aux); break;
      case Kind::kAuxNorm: {
        // aux_norm's output is only ever used through silu(): fuse the SiLU into the norm.
        GroupNorm& m = *norms_[it.index];
        tmp = new_node(ctx, nodes_[cur].shape);
        m.forward(ctx, nodes_[cur].shape, nodes_[cur].value.data(), nullptr, true,
                  nodes_[tmp].value.data());
        tape_.push_back(Step{StepKind::kNorm, it.index, cur, -1, tmp, 0, 0});
        ready_.used(norm_ids_[it.index]);
        break;
      }
      case Kind::kAuxConv: {
        const int t = run_conv(it.index, tmp);
        aux = aux < 0 ? t : run_add(t, aux, 1.0f, 1.0f);
        break;
      }
      case Kind::kBlock: {
        UNetBlock& m = *blocks_[it.index];
        if (nodes_[cur].shape.c != m.in_channels()) {
          const int s = skips.back();
          skips.pop_back();
          const op::Nhwc a = nodes_[cur].shape, b = nodes_[s].shape;
          const int o = new_node(ctx, op::Nhwc{a.n, a.h, a.w, a.c + b.c});
          ctx.be().concat_channels(a.pixels(), a.c, nodes_[cur].value.data(), b.c,
                                   nodes_[s].value.data(), nodes_[o].value.data());
          tape_.push_back(Step{StepKind::kConcat, -1, cur, s, o, 0, 0});
          cur = o;
        }
        cur = run_block(it.index, cur);
        break;
      }
      default: break;
    }
  }
  out_node_ = aux;
  ctx.be().copy(nodes_[aux].value.size(), nodes_[aux].value.data(), out);
}

float* SongUNet::grad_for_write(const Context& ctx, int node, bool* fresh) {
  Node& nd = nodes_[node];
  *fresh = !nd.has_grad;
  if (*fresh) {
    nd.has_grad = true;
    return ctx.ensure(nd.grad, nd.shape.numel());
  }
  return scratch_.data();  // sized for the largest node by backward()
}

void SongUNet::accumulate(const Context& ctx, int node, const float* g, bool fresh, float scale) {
  Node& nd = nodes_[node];
  const int64_t cnt = nd.shape.numel();
  if (fresh) {
    if (scale != 1.0f) ctx.be().scale(cnt, scale, nd.grad.data(), nd.grad.data());
    return;
  }
  ctx.be().axpby(cnt, 1.0f, nd.grad.data(), scale, g, nd.grad.data());
}

void SongUNet::backward(const Context& ctx, const float* dout, float* dx) {
  Node& o = nodes_[out_node_];
  o.has_grad = true;
  ctx.be().copy(o.shape.numel(), dout, ctx.ensure(o.grad, o.shape.numel()));
  float* demb = ctx.ensure(demb_, n_ * emb_channels_);
  ctx.be().fill(n_ * emb_channels_, 0.0f, demb);
  // One scratch for every node's second gradient, at the largest size: the same array in every
  // pass, which a training step replayed from a CUDA graph needs (docs/cuda.md).
  int64_t most = 0;
  for (const Node& nd : nodes_) most = std::max(most, nd.shape.numel());
  ctx.ensure(scratch_, most);
  const bool concats = std::any_of(tape_.begin(), tape_.end(),
                                   [](const Step& s) { return s.kind == StepKind::kConcat; });
  if (concats) ctx.ensure(concat_scratch_, most);
  const int input = 0;
  for (auto it = tape_.rbegin(); it != tape_.rend(); ++it) {
    const Step& s = *it;
    Node& out = nodes_[s.out];
    if (!out.has_grad) continue;
    const float* g = out.grad.data();
    bool fresh = false;
    switch (s.kind) {
      case StepKind::kConv: {
        // The first convolution's input is the network input: skip dx unless asked for.
        const bool want = s.a != input || dx != nullptr;
        float* d = want ? grad_for_write(ctx, s.a, &fresh) : nullptr;
        convs_[s.module]->backward(ctx, g, d);
        ready_.finished(ctx, conv_ids_[s.module]);
        if (want) accumulate(ctx, s.a, d, fresh);
        break;
      }
      case StepKind::kBlock: {
        float* d = grad_for_write(ctx, s.a, &fresh);
        blocks_[s.module]->backward(ctx, g, d, demb_.data());
        ready_.finished(ctx, block_ids_[s.module]);
        accumulate(ctx, s.a, d, fresh);
        break;
      }
      case StepKind::kNorm: {
        float* d = grad_for_write(ctx, s.a, &fresh);
        norms_[s.module]->backward(ctx, g, d, nullptr);
        ready_.finished(ctx, norm_ids_[s.module]);
        accumulate(ctx, s.a, d, fresh);
        break;
      }
      case StepKind::kAdd: {
        const int64_t cnt = out.shape.numel();
        for (int k = 0; k < 2; ++k) {
          const int in = k == 0 ? s.a : s.b;
          const float sc = k == 0 ? s.sa : s.sb;
          if (in == input && dx == nullptr) continue;
          Node& nd = nodes_[in];
          if (!nd.has_grad) {
            nd.has_grad = true;
            ctx.be().scale(cnt, sc, g, ctx.ensure(nd.grad, cnt));
          } else {
            ctx.be().axpby(cnt, 1.0f, nd.grad.data(), sc, g, nd.grad.data());
          }
        }
        break;
      }
      case StepKind::kConcat: {
        const op::Nhwc a = nodes_[s.a].shape, b = nodes_[s.b].shape;
        bool fa = false, fb = false;
        float* da = grad_for_write(ctx, s.a, &fa);
        // Both inputs may need scratch: the second has its own, as the first may hold scratch_.
        float* db = nullptr;
        if (!nodes_[s.b].has_grad) {
          fb = true;
          nodes_[s.b].has_grad = true;
          db = ctx.ensure(nodes_[s.b].grad, b.numel());
        } else {
          db = concat_scratch_.data();
        }
        ctx.be().split_channels(a.pixels(), a.c, da, b.c, db, g);
        accumulate(ctx, s.a, da, fa);
        accumulate(ctx, s.b, db, fb);
        break;
      }
    }
  }
  mapping_.backward(ctx, demb_.data());
  if (dx != nullptr) {
    Node& in = nodes_[input];
    if (in.has_grad) {
      ctx.be().copy(in.grad.size(), in.grad.data(), dx);
    } else {
      ctx.be().fill(in.shape.numel(), 0.0f, dx);
    }
  }
}

}  // namespace pfgm::nn
