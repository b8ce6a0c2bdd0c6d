#include "adm_mapping.h"

#include <cmath>

#include "../ops/embedding.h"
#include "mapping.h"

namespace pfgm::nn {

AdmMapping::AdmMapping(ParamSet& ps, const AdmMappingSpec& spec) : spec_(spec) {
  const Scope root{};
  const int64_t nc = spec.noise_channels, ec = spec.emb_channels;
  if (spec.augment_dim > 0)
    map_augment_ = Linear(ps, root.sub("map_augment"), spec.augment_dim, nc, false, spec.init_zero);
  map_layer0_ = Linear(ps, root.sub("map_layer0"), nc, ec, true, spec.init, spec.init_bias);
  map_layer1_ = Linear(ps, root.sub("map_layer1"), ec, ec, true, spec.init, spec.init_bias);
  if (spec.label_dim > 0) {
    // EDM: kaiming_normal times sqrt(label_dim), i.e. unit-variance weights.
    const InitSpec label_init{InitMode::kKaimingNormal, 1, 1,
                              std::sqrt(static_cast<double>(spec.label_dim))};
    map_label_ = Linear(ps, root.sub("map_label"), spec.label_dim, ec, false, label_init);
  }
}

const float* AdmMapping::forward(const Context& ctx, int64_t n, const float* noise_labels,
                                 const float* class_labels, const float* augment_labels) {
  n_ = n;
  const int64_t nc = spec_.noise_channels, ec = spec_.emb_channels;
  float* e = ctx.ensure(emb0_, n * nc);
  ctx.be().positional_embedding(n, nc, 10000.0, false, noise_labels, e);  // [cos | sin], kept
  used_augment_ = spec_.augment_dim > 0 && augment_labels != nullptr;
  if (used_augment_) {
    float* t = ctx.ensure(tmp_, n * nc);
    map_augment_.forward(ctx, n, augment_labels, t);
    ctx.be().axpby(n * nc, 1.0f, e, 1.0f, t, e);
  }
  map_layer0_.forward(ctx, n, e, ctx.ensure(pre0_, n * ec));
  ctx.be().silu_forward(n * ec, pre0_.data(), ctx.ensure(emb1_, n * ec));
  float* pre1 = ctx.ensure(pre1_, n * ec);
  map_layer1_.forward(ctx, n, emb1_.data(), pre1);
  if (spec_.label_dim > 0) {
    // label_input is SongUNet's map_label input (labels * sqrt(label_dim), with EDM's label
    // dropout); the ADM network feeds the labels unscaled, so the factor is taken out again.
    float* lab = ctx.ensure(label_in_, n * spec_.label_dim);
    ctx.be().label_input(label_input_spec(ctx, n, spec_.label_dim, spec_.label_dropout),
                         class_labels, lab);
    ctx.be().scale(n * spec_.label_dim,
                   static_cast<float>(1.0 / std::sqrt(static_cast<double>(spec_.label_dim))), lab,
                   lab);
    float* t = ctx.ensure(label_out_, n * ec);
    map_label_.forward(ctx, n, lab, t);
    ctx.be().axpby(n * ec, 1.0f, pre1, 1.0f, t, pre1);
  }
  ctx.be().silu_forward(n * ec, pre1, ctx.ensure(emb_, n * ec));
  return emb_.data();
}

void AdmMapping::backward(const Context& ctx, const float* demb) {
  const int64_t n = n_, ec = spec_.emb_channels, nc = spec_.noise_channels;
  float* g1 = ctx.ensure(g_a_, n * ec);
  ctx.be().silu_backward(n * ec, pre1_.data(), demb, g1);
  if (spec_.label_dim > 0) map_label_.backward(ctx, g1, nullptr);
  float* g0 = ctx.ensure(g_b_, n * ec);
  map_layer1_.backward(ctx, g1, g0);
  ctx.be().silu_backward(n * ec, pre0_.data(), g0, g1);
  float* ge = spec_.augment_dim > 0 ? ctx.ensure(g_in_, n * nc) : nullptr;
  map_layer0_.backward(ctx, g1, ge);
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
