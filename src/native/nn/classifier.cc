#include "classifier.h"

#include <algorithm>
#include <string>

#include "../errors.h"
#include "../ops/activation.h"
#include "../ops/group_norm.h"
#include "../ops/pooling.h"

namespace pfgm::nn {

Classifier::Classifier(const ClassifierConfig& c) : cfg_(c) {
  if (c.in_channels < 1 || c.resolution < 1 || c.feature_dim < 1 || c.classes < 2 || c.blocks < 0 ||
      c.channels.empty()) {
    fail(code::kArgument,
         "classifier: in_channels, resolution and feature_dim must be positive, "
         "classes at least 2, blocks >= 0 and channels non-empty");
  }
  // Each level after the first halves the resolution exactly (2x2 average pooling).
  int64_t res = c.resolution;
  for (size_t l = 1; l < c.channels.size(); ++l) {
    if (res % 2 != 0) {
      fail(code::kArgument, "classifier: resolution " + std::to_string(c.resolution) +
                                " cannot be halved " + std::to_string(c.channels.size() - 1) +
                                " times (level " + std::to_string(l) + " gets " +
                                std::to_string(res) + "); use fewer levels");
    }
    res /= 2;
  }
  for (int64_t ch : c.channels) {
    if (ch < 4 || ch % cpu::edm_groups(ch) != 0) {
      fail(code::kArgument, "classifier: " + std::to_string(ch) +
                                " channels do not split into group-norm groups (min(32, C/4)); "
                                "use a multiple of 4 of at least 4");
    }
  }
  const Scope root{};
  const InitSpec init = xavier();
  int64_t cin = c.in_channels, index = 0;
  for (size_t l = 0; l < c.channels.size(); ++l) {
    const int64_t ch = c.channels[l];
    for (int64_t b = 0; b <= c.blocks; ++b) {
      const Scope s = root.sub("layers").sub(std::to_string(index++));
      ResampleSpec rs;
      rs.down = l > 0 && b == 0;  // EDM's down-sampling conv with filter [1, 1]: 2x2 mean first
      Layer layer;
      layer.conv = Conv2d(ps_, s.sub("conv"), cin, ch, 3, true, rs, init);
      layer.norm = GroupNorm(ps_, s.sub("norm"), ch, 1e-5f);
      layers_.push_back(std::move(layer));
      cin = ch;
    }
  }
  feature_ = Linear(ps_, root.sub("feature"), cin, c.feature_dim, true, init);
  head_ = Linear(ps_, root.sub("head"), c.feature_dim, c.classes, true, init);
}

void Classifier::forward(const Context& ctx, const float* x, float* logits, float* features) {
  const int64_t n = n_ = ctx.batch, C = cfg_.in_channels, R = cfg_.resolution;
  // NCHW -> NHWC at the boundary (engine.md "Layout").
  float* in = ensure(input_, n * C * R * R);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t p = 0; p < R * R; ++p) in[(i * R * R + p) * C + c] = x[(i * C + c) * R * R + p];
  op::Nhwc shape{n, R, R, C};
  const float* h = in;
  for (Layer& l : layers_) {
    l.in = shape;
    l.out = l.conv.out_shape(shape);
    float* pre = ensure(l.pre, l.out.numel());
    l.conv.forward(ctx, shape, h, pre);
    float* act = ensure(l.act, l.out.numel());
    l.norm.forward(ctx, l.out, pre, nullptr, true, act);
    h = act;
    shape = l.out;
  }
  float* pooled = ensure(pooled_, n * shape.c);
  cpu::global_avg_pool_forward(shape, h, pooled);
  float* pre = ensure(feat_pre_, n * cfg_.feature_dim);
  feature_.forward(ctx, n, pooled, pre);
  float* feat = ensure(feat_, n * cfg_.feature_dim);
  cpu::silu_forward(n * cfg_.feature_dim, pre, feat);
  if (features != nullptr) std::copy(feat, feat + n * cfg_.feature_dim, features);
  head_.forward(ctx, n, feat, logits);
}

void Classifier::backward(const Context& ctx, const float* dlogits) {
  const int64_t n = n_, fd = cfg_.feature_dim;
  float* g_feat = ensure(g_feat_, n * fd);
  head_.backward(ctx, dlogits, g_feat);
  float* g_pre = ensure(g_pre_, n * fd);
  cpu::silu_backward(n * fd, feat_pre_.data(), g_feat, g_pre);
  const op::Nhwc last = layers_.back().out;
  float* g_pooled = ensure(g_pooled_, n * last.c);
  feature_.backward(ctx, g_pre, g_pooled);
  float* g_act = ensure(g_act_, last.numel());
  cpu::global_avg_pool_backward(last, g_pooled, g_act);
  for (size_t k = layers_.size(); k-- > 0;) {
    Layer& l = layers_[k];
    float* g_norm_in = ensure(g_tmp_, l.out.numel());
    l.norm.backward(ctx, g_act, g_norm_in, nullptr);
    // The first conv's input is the image: its gradient is not needed.
    float* g_in = k > 0 ? ensure(g_act_, l.in.numel()) : nullptr;
    l.conv.backward(ctx, g_norm_in, g_in);
    g_act = g_in;
  }
}

}  // namespace pfgm::nn
