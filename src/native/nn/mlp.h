// The MLP denoiser for vectors (our own network; the PyTorch twin is bench/torch_ref/edm_nets.py):
//   emb = silu(map_layer1(silu(map_layer0(swap(posemb(c_noise)) [+ map_label(labels sqrt(L))]))))
//   h = in_proj(x)
//   for each block: t = silu(fc0(silu(h)) + affine(emb)); h = h + fc1(dropout(t))
//   F = out_proj(silu(h))
// Xavier-uniform weights, zero biases; fc1 and out_proj start at 1e-5 scale (EDM's init_zero).
#pragma once

#include <vector>

#include "backbone.h"
#include "grads_ready.h"
#include "layers.h"
#include "mapping.h"

namespace pfgm::nn {

struct MlpConfig {
  int64_t features = 2;      // N
  int64_t out_features = 0;  // 0: N (a denoiser); N + 1 for PFGM's field (docs/method.md §3)
  int64_t hidden = 256;
  int64_t num_blocks = 4;
  int64_t emb_channels = 256;
  int64_t noise_channels = 64;
  int64_t label_dim = 0;
  float dropout = 0;
  float label_dropout = 0;
};

class Mlp : public Backbone {
 public:
  explicit Mlp(const MlpConfig& config);
  const ParamSet& params() const override { return ps_; }
  op::Nhwc input_shape(int64_t n) const override { return {n, 1, 1, cfg_.features}; }
  op::Nhwc output_shape(int64_t n) const override { return {n, 1, 1, cfg_.out_features}; }
  int64_t label_dim() const override { return cfg_.label_dim; }
  int64_t augment_dim() const override { return 0; }
  void forward(const Context& ctx, const float* x, const float* noise_labels,
               const float* class_labels, const float* augment_labels, float* out) override;
  void backward(const Context& ctx, const float* dout, float* dx) override;

 private:
  struct Block {
    Linear fc0, affine, fc1;
    Buffer h_in, act_h, pre, t, t_drop;
    Buffer mask;  // dropout's keep-mask as bits (op::DropoutSpec), from forward to backward
  };
  MlpConfig cfg_;
  ParamSet ps_;
  Mapping mapping_;
  Linear in_proj_, out_proj_;
  std::vector<Block> blocks_;
  // Backward finishes out_proj, the blocks from the last, then in_proj: each is one module.
  ReadyTracker ready_;
  int in_id_ = -1, out_id_ = -1;
  std::vector<int> block_ids_;
  int64_t n_ = 0;
  Buffer tmp_, h0_, h_out_, act_out_;
  Buffer gh_, ga_, gb_, gc_, demb_, ge_;
};

}  // namespace pfgm::nn
