#include "mapping.h"

#include <cmath>

#include "../ops/embedding.h"

namespace pfgm::nn {

Mapping::Mapping(ParamSet& ps, const MappingSpec& spec) : spec_(spec) {
  const InitSpec init = xavier();
  const Scope root{};
  const int64_t nc = spec.noise_channels, ec = spec.emb_channels;
  if (spec.fourier) {
    freqs_ =
        ps.add_buffer("map_noise.freqs", {nc / 2}, InitSpec{InitMode::kKaimingNormal, 1, 1, 16.0});
  }
  if (spec.label_dim > 0)
    map_label_ = Linear(ps, root.sub("map_label"), spec.label_dim, nc, true, init);
  if (spec.augment_dim > 0)
    map_augment_ = Linear(ps, root.sub("map_augment"), spec.augment_dim, nc, false, init);
  map_layer0_ = Linear(ps, root.sub("map_layer0"), nc, ec, true, init);
  map_layer1_ = Linear(ps, root.sub("map_layer1"), ec, ec, true, init);
}

const float* Mapping::forward(const Context& ctx, int64_t n, const float* noise_labels,
                              const float* class_labels, const float* augment_labels) {
  n_ = n;
  const int64_t nc = spec_.noise_channels, ec = spec_.emb_channels;
  float* e0 = ctx.ensure(raw_, n * nc);
  if (freqs_ >= 0) {
    ctx.be().fourier_embedding(n, nc, ctx.buffers + freqs_, noise_labels, e0);
  } else {
    ctx.be().positional_embedding(n, nc, 10000.0, true, noise_labels, e0);
  }
  float* e = ctx.ensure(emb0_, n * nc);
  ctx.be().swap_halves(n, nc, e0, e);  // EDM: [cos | sin] -> [sin | cos]
  if (spec_.label_dim > 0) {
    float* lab = ctx.ensure(label_in_, n * spec_.label_dim);
    // map_label's input with EDM's label dropout (ops/embedding.h; one Philox draw per sample).
    ctx.be().label_input(label_input_spec(ctx, n, spec_.label_dim, spec_.label_dropout),
                         class_labels, lab);
    float* t = ctx.ensure(tmp_, n * nc);
    map_label_.forward(ctx, n, lab, t);
    ctx.be().axpby(n * nc, 1.0f, e, 1.0f, t, e);
  }
  used_augment_ = spec_.augment_dim > 0 && augment_labels != nullptr;
  if (used_augment_) {
    float* t = ctx.ensure(tmp_, n * nc);
    map_augment_.forward(ctx, n, augment_labels, t);
    ctx.be().axpby(n * nc, 1.0f, e, 1.0f, t, e);
  }
  map_layer0_.forward(ctx, n, e, ctx.ensure(pre0_, n * ec));
  ctx.be().silu_forward(n * ec, pre0_.data(), ctx.ensure(emb1_, n * ec));
  map_layer1_.forward(ctx, n, emb1_.data(), ctx.ensure(pre1_, n * ec));
  ctx.be().silu_forward(n * ec, pre1_.data(), ctx.ensure(emb_, n * ec));
  return emb_.data();
}

void Mapping::backward(const Context& ctx, const float* demb) {
  const int64_t n = n_, ec = spec_.emb_channels, nc = spec_.noise_channels;
  float* g1 = ctx.ensure(g_a_, n * ec);
  ctx.be().silu_backward(n * ec, pre1_.data(), demb, g1);
  float* g0 = ctx.ensure(g_b_, n * ec);
  map_layer1_.backward(ctx, g1, g0);
  ctx.be().silu_backward(n * ec, pre0_.data(), g0, g1);
  const bool need_input_grad = spec_.label_dim > 0 || spec_.augment_dim > 0;
  float* ge = need_input_grad ? ctx.ensure(g_in_, n * nc) : nullptr;
  map_layer0_.backward(ctx, g1, ge);
  if (spec_.label_dim > 0) map_label_.backward(ctx, ge, nullptr);
  if (spec_.augment_dim > 0) {
    // EDM skips map_augment without augment labels: then its gradient is zero, not stale.
    if (used_augment_) {
      map_augment_.backward(ctx, ge, nullptr);
    } else {
      map_augment_.zero_grads(ctx);
    }
  }
}

}  // namespace pfgm::nn
