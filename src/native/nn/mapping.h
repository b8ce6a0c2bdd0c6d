// EDM's mapping network, shared by SongUNet and the MLP: the noise-level embedding (positional
// with endpoint, or Fourier with the `map_noise.freqs` buffer), EDM's [cos | sin] -> [sin | cos]
// swap, the class-label and augment-label projections added to it, then two SiLU layers:
//   emb = silu(map_layer1(silu(map_layer0(swap(map_noise(c)) + map_label(l sqrt(L)) +
//   map_augment(a)))))
#pragma once

#include <vector>

#include "../ops/embedding.h"
#include "layers.h"

namespace pfgm::nn {

// map_label's input for this pass: the labels with EDM's label dropout (ops/embedding.h; one
// Philox draw per sample, keyed by the context's seed, sample offset and step).
inline op::LabelInputSpec label_input_spec(const Context& ctx, int64_t n, int64_t label_dim,
                                           float p) {
  op::LabelInputSpec ls;
  ls.n = n;
  ls.label_dim = label_dim;
  ls.p = p;
  ls.training = ctx.training;
  ls.seed = ctx.seed;
  ls.sample_offset = ctx.sample_offset;
  ls.step = ctx.step;
  ls.step_at = ctx.step_at;
  return ls;
}

struct MappingSpec {
  int64_t noise_channels;
  int64_t emb_channels;
  int64_t label_dim = 0;
  int64_t augment_dim = 0;
  bool fourier = false;     // NCSN++'s Fourier embedding instead of the positional one
  float label_dropout = 0;  // classifier-free guidance: drop a sample's label while training
};

class Mapping {
 public:
  Mapping() = default;
  // Declares map_noise.freqs (Fourier only), map_label, map_augment, map_layer0, map_layer1 in
  // EDM's state-dict order.
  Mapping(ParamSet& ps, const MappingSpec& spec);
  // Returns emb [n, emb_channels], valid until the next forward. Null labels act as zeros; null
  // augment labels skip map_augment, as EDM does.
  const float* forward(const Context& ctx, int64_t n, const float* noise_labels,
                       const float* class_labels, const float* augment_labels);
  // Writes the mapping's weight gradients from the gradient with respect to emb.
  void backward(const Context& ctx, const float* demb);

 private:
  MappingSpec spec_;
  int64_t freqs_ = -1;
  Linear map_label_, map_augment_, map_layer0_, map_layer1_;
  int64_t n_ = 0;
  bool used_augment_ = false;
  Buffer raw_, emb0_, label_in_, tmp_, pre0_, emb1_, pre1_, emb_, g_a_, g_b_, g_in_;
};

}  // namespace pfgm::nn
