// EDM's ADM network, DhariwalUNet (training/networks.py; Dhariwal & Nichol's U-Net as EDM
// reimplements it for ImageNet-64): UNetBlocks with adaptive scale (unet_block.h), the ADM mapping
// (adm_mapping.h), attention with out_channels / 64 heads at attn_resolutions, every encoder output
// a skip that one decoder block concatenates, then silu(out_norm) and out_conv.
#pragma once

#include <memory>
#include <vector>

#include "adm_mapping.h"
#include "backbone.h"
#include "layers.h"
#include "unet_block.h"

namespace pfgm::nn {

struct DhariwalUNetConfig {
  int64_t img_resolution = 64, in_channels = 3, out_channels = 3;
  int64_t label_dim = 0, augment_dim = 0;
  int64_t model_channels = 192;
  std::vector<int64_t> channel_mult{1, 2, 3, 4};
  int64_t channel_mult_emb = 4;
  int64_t num_blocks = 3;
  std::vector<int64_t> attn_resolutions{32, 16, 8};
  float dropout = 0.10f;
  float label_dropout = 0;
};

class DhariwalUNet : public Backbone {
 public:
  explicit DhariwalUNet(const DhariwalUNetConfig& config);
  const ParamSet& params() const override { return ps_; }
  op::Nhwc input_shape(int64_t n) const override;
  op::Nhwc output_shape(int64_t n) const override;
  int64_t label_dim() const override { return cfg_.label_dim; }
  int64_t augment_dim() const override { return cfg_.augment_dim; }
  void forward(const Context& ctx, const float* x, const float* noise_labels,
               const float* class_labels, const float* augment_labels, float* out) override;
  void backward(const Context& ctx, const float* dout, float* dx) override;

 private:
  // A decoder block's step: its input is the previous output, or that concatenated with skip.
  struct DecStep {
    int skip = -1;  // encoder output it concatenates, or -1
    op::Nhwc in{};
  };

  DhariwalUNetConfig cfg_;
  ParamSet ps_;
  int64_t emb_channels_;
  AdmMapping mapping_;
  Conv2d enc_conv_, out_conv_;
  GroupNorm out_norm_;
  std::vector<std::unique_ptr<UNetBlock>> enc_, dec_;  // enc_: the blocks after enc_conv_

  // Per-pass state: the encoder's outputs (the skips; [0] is enc_conv_'s), the decoder's inputs
  // where they are concatenations, and outputs.
  int64_t n_ = 0;
  std::vector<op::Nhwc> enc_shape_;
  std::vector<Buffer> enc_out_, skip_grad_, cat_, dec_out_;
  std::vector<DecStep> steps_;
  Buffer norm_out_, g_norm_, demb_;
  Buffer g_[3];
};

}  // namespace pfgm::nn
