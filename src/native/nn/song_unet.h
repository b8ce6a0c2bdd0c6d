// EDM's SongUNet (training/networks.py): DDPM++ and NCSN++ with every option of its config.
// The encoder/decoder wiring (skips, aux paths) is recorded while running forward as a short tape
// of node-to-node steps; backward replays it in reverse and sums gradients where a node fans out.
#pragma once

#include <string>
#include <vector>

#include "backbone.h"
#include "grads_ready.h"
#include "layers.h"
#include "mapping.h"
#include "unet_block.h"

namespace pfgm::nn {

struct SongUNetConfig {
  int64_t img_resolution = 32, in_channels = 3, out_channels = 3;
  int64_t label_dim = 0, augment_dim = 0;
  int64_t model_channels = 128;
  std::vector<int64_t> channel_mult{1, 2, 2, 2};
  int64_t channel_mult_emb = 4;
  int64_t num_blocks = 4;
  std::vector<int64_t> attn_resolutions{16};
  float dropout = 0.10f;
  float label_dropout = 0;
  std::string embedding_type = "positional";  // "positional" (DDPM++) or "fourier" (NCSN++)
  int64_t channel_mult_noise = 1;
  std::string encoder_type = "standard";  // standard | skip | residual
  std::string decoder_type = "standard";  // standard | skip
  std::vector<float> resample_filter{1, 1};
};

class SongUNet : public Backbone {
 public:
  explicit SongUNet(const SongUNetConfig& config);
  const ParamSet& params() const override { return ps_; }
  op::Nhwc input_shape(int64_t n) const override;
  op::Nhwc output_shape(int64_t n) const override;
  int64_t label_dim() const override { return cfg_.label_dim; }
  int64_t augment_dim() const override { return cfg_.augment_dim; }
  void forward(const Context& ctx, const float* x, const float* noise_labels,
               const float* class_labels, const float* augment_labels, float* out) override;
  void backward(const Context& ctx, const float* dout, float* dx) override;

 private:
  enum class Kind { kConv, kBlock, kAuxDown, kAuxSkip, kAuxResidual, kAuxUp, kAuxNorm, kAuxConv };
  struct Item {
    Kind kind;
    int index;  // into convs_, blocks_ or norms_
  };
  struct Node {
    op::Nhwc shape{};
    Buffer value, grad;
    bool has_grad = false;
  };
  enum class StepKind { kConv, kBlock, kNorm, kAdd, kConcat };
  struct Step {
    StepKind kind;
    int module;     // conv, block or norm index
    int a, b, out;  // node ids (b for kAdd / kConcat)
    float sa, sb;   // kAdd: out = sa * a + sb * b
  };

  int new_node(const Context& ctx, const op::Nhwc& shape);
  float* grad_for_write(const Context& ctx, int node, bool* fresh);
  void accumulate(const Context& ctx, int node, const float* g, bool fresh, float scale = 1.0f);
  void embed(const Context& ctx, const float* noise_labels, const float* class_labels,
             const float* augment_labels);
  void embed_backward(const Context& ctx);

  SongUNetConfig cfg_;
  ParamSet ps_;
  int64_t emb_channels_, noise_channels_;
  Mapping mapping_;
  std::vector<std::unique_ptr<Conv2d>> convs_;
  std::vector<std::unique_ptr<UNetBlock>> blocks_;
  std::vector<std::unique_ptr<GroupNorm>> norms_;
  std::vector<Item> enc_, dec_;
  // Each conv, block and norm is one module of the tracker that tells a data-parallel step which
  // gradient buckets backward has finished; *_ids_[i] is module i's tracker id.
  ReadyTracker ready_;
  std::vector<int> conv_ids_, block_ids_, norm_ids_;

  // Per-pass state.
  int64_t n_ = 0;
  std::vector<Node> nodes_;
  std::vector<Step> tape_;
  int out_node_ = -1;
  size_t tape_nodes_used_ = 0;
  Buffer demb_, scratch_, concat_scratch_;
};

}  // namespace pfgm::nn
