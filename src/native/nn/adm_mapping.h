// The mapping network of EDM's ADM network (DhariwalUNet, training/networks.py), which differs from
// SongUNet's (mapping.h) in every step: the positional embedding without endpoint and without the
// half swap, map_augment before the layers, and the class label added after them, with no bias and
// no sqrt(label_dim) factor on its input:
//   emb = silu(map_layer1(silu(map_layer0(map_noise(c) + map_augment(a)))) + map_label(l))
#pragma once

#include "layers.h"

namespace pfgm::nn {

struct AdmMappingSpec {
  int64_t noise_channels;  // = model_channels
  int64_t emb_channels;
  int64_t label_dim = 0;
  int64_t augment_dim = 0;
  float label_dropout = 0;  // classifier-free guidance: drop a sample's label while training
  InitSpec init;            // map_layer0 / map_layer1, with init_bias as their bias's gain
  double init_bias = 0;
  InitSpec init_zero;  // map_augment
};

class AdmMapping {
 public:
  AdmMapping() = default;
  // Declares map_augment, map_layer0, map_layer1, map_label in EDM's state-dict order.
  AdmMapping(ParamSet& ps, const AdmMappingSpec& spec);
  // Returns emb [n, emb_channels], valid until the next forward. Null class labels act as zeros;
  // null augment labels skip map_augment, as EDM does.
  const float* forward(const Context& ctx, int64_t n, const float* noise_labels,
                       const float* class_labels, const float* augment_labels);
  // Writes the mapping's weight gradients from the gradient with respect to emb.
  void backward(const Context& ctx, const float* demb);

 private:
  AdmMappingSpec spec_;
  Linear map_augment_, map_layer0_, map_layer1_, map_label_;
  int64_t n_ = 0;
  bool used_augment_ = false;
  Buffer emb0_, tmp_, pre0_, emb1_, pre1_, label_in_, label_out_, emb_, g_a_, g_b_, g_in_;
};

}  // namespace pfgm::nn
