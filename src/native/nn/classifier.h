// A small image classifier whose penultimate activations serve as the feature space of the
// image metrics (Fréchet distance, precision/recall; docs/metrics.md), built from the engine's
// layers:
//   for each level l (resolution halved between levels, by 2x2 average pooling before the conv):
//     conv3x3 -> GroupNorm + SiLU, then `blocks` x (conv3x3 -> GroupNorm + SiLU)
//   global average pool -> feature = SiLU(Linear) [n, feature_dim] -> head = Linear [n, classes]
// Parameter names: layers.{i}.conv.{weight,bias}, layers.{i}.norm.{weight,bias},
// feature.{weight,bias}, head.{weight,bias}; the PyTorch twin is in
// test/fixtures/gen/classifier.py.
#pragma once

#include <vector>

#include "layers.h"

namespace pfgm::nn {

struct ClassifierConfig {
  int64_t in_channels = 1;
  int64_t resolution = 28;                    // square images
  std::vector<int64_t> channels{24, 48, 96};  // per level
  int64_t blocks = 1;                         // extra conv blocks per level
  int64_t feature_dim = 128;
  int64_t classes = 10;
};

class Classifier {
 public:
  explicit Classifier(const ClassifierConfig& config);
  const ClassifierConfig& config() const { return cfg_; }
  const ParamSet& params() const { return ps_; }
  int64_t sample_numel() const { return cfg_.in_channels * cfg_.resolution * cfg_.resolution; }

  // x: [n, C, H, W] (PyTorch layout), n = ctx.batch. Writes logits [n, classes] and, when not
  // null, features [n, feature_dim]. Keeps what backward needs.
  void forward(const Context& ctx, const float* x, float* logits, float* features);
  // Gradients of every parameter (written to ctx.grads) from dlogits [n, classes].
  void backward(const Context& ctx, const float* dlogits);

 private:
  struct Layer {
    Conv2d conv;
    GroupNorm norm;
    op::Nhwc in{}, out{};
    std::vector<float> pre, act;  // conv output (the norm's input) and the block's output
  };
  ClassifierConfig cfg_;
  ParamSet ps_;
  std::vector<Layer> layers_;
  Linear feature_, head_;
  int64_t n_ = 0;
  std::vector<float> input_, pooled_, feat_pre_, feat_;
  std::vector<float> g_feat_, g_pre_, g_pooled_, g_act_, g_tmp_;
};

}  // namespace pfgm::nn
