// Inception-v3 as the FID network of pytorch-fid (mseitzer/pytorch-fid, the TensorFlow weights of
// 2015-12-05): inference only, on the engine's CPU ops.
//
//   images [n, c, h, w] in [-1, 1], c = 1 (repeated to RGB) or 3
//     -> bilinear resize to 299x299 (F.interpolate, align_corners=False)
//     -> Conv2d_1a_3x3 (s2), Conv2d_2a_3x3, Conv2d_2b_3x3 (p1), max pool 3/2        "pool1"  64 x
//     73 x 73
//     -> Conv2d_3b_1x1, Conv2d_4a_3x3, max pool 3/2                                   "pool2" 192 x
//     35 x 35
//     -> Mixed_5b, 5c, 5d (A), Mixed_6a (B), Mixed_6b..6e (C)                                  768
//     x 17 x 17
//     -> Mixed_7a (D), Mixed_7b (E, average pool), Mixed_7c (E, max pool)                    2048 x
//     8 x  8
//     -> global average pool                                                                   2048
//     features
//
// The network is written once, over the ops of an nn::Backend (backend_ops.h): the CPU engine or
// CUDA, whichever the caller names (the same choice as a Network's). The one difference is the
// convolution: on the CPU engine each layer is an InferenceConv2d that keeps its weights in
// oneDNN's layout; on any other backend the folded weights are uploaded once, in OHWI, into one
// buffer of that backend and each layer is its conv2d_inference_forward (docs/dev/architecture.md,
// "The FID Inception"). A batch is uploaded once and its features downloaded once.
//
// Every convolution is torchvision's BasicConv2d: conv (no bias) -> batch norm (eps 0.001, running
// statistics) -> ReLU. The batch norm is folded into the convolution when the weights are loaded:
// w' = w * gamma / sqrt(var + eps), b' = beta - mean * gamma / sqrt(var + eps), so each layer is
// one oneDNN convolution with its bias and ReLU fused. The FID variants of the blocks
// (pytorch-fid's FIDInceptionA/C/E_1) average-pool their pool branch without counting the padding,
// as TensorFlow does; Mixed_7c (FIDInceptionE_2) max-pools it instead.
//
// Parameter names are pytorch-fid's state-dict names (e.g. `Mixed_6b.branch7x7_2.conv.weight`,
// `Conv2d_1a_3x3.bn.running_var`); `fc.*` and `num_batches_tracked` are not needed.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "../ops/conv_inference.h"
#include "backend.h"
#include "buffer.h"

namespace pfgm::nn {

// One tensor the network reads, in the order of PyTorch's state dict.
struct InceptionTensor {
  std::string name;
  std::vector<int64_t> shape;
};

// Every tensor the features need (470 of them: 94 convolutions x weight + 4 batch-norm tensors).
const std::vector<InceptionTensor>& inception_tensors();

// Activations by stage name ("input" = the resized image, "pool1", "pool2", "Mixed_5b" ...
// "Mixed_7c"), NCHW as PyTorch's, the samples of every call appended.
using InceptionTaps = std::map<std::string, std::vector<float>>;

class InceptionV3Fid {
 public:
  static constexpr int64_t kResolution = 299;
  static constexpr int64_t kFeatures = 2048;
  static constexpr double kBatchNormEps = 1e-3;

  // Takes every tensor of inception_tensors() by name (extra names are ignored) and runs on
  // `backend`. ERR_PFGM_SHAPE / ERR_PFGM_ARGUMENT naming the tensor when one is missing or has the
  // wrong size.
  explicit InceptionV3Fid(const std::map<std::string, std::vector<float>>& weights,
                          Backend& backend = cpu_backend());

  // The backend the network runs on.
  Backend& backend() const { return *be_; }

  // The names `taps` may ask for.
  static const std::vector<std::string>& stage_names();

  // features[n, 2048] of images[n, c, h, w] (NCHW, c = 1 or 3, any h, w >= 1), `batch` images at a
  // time; `images` and `out` are host arrays. When `taps` is given, the stages named by its keys
  // are appended to their vectors (downloaded stage by stage, a debugging aid). Calls on one
  // network run one at a time.
  void features(int64_t n, int64_t c, int64_t h, int64_t w, const float* images, int64_t batch,
                float* out, InceptionTaps* taps);

 private:
  class Forward;  // one chunk's pass (inception.cc)

  // One BasicConv2d, batch norm folded in: the oneDNN layer on the CPU engine, else the offsets of
  // its OHWI weight and its bias in params_.
  struct Layer {
    op::ConvGeometry g{};
    cpu::InferenceConv2d cpu;
    int64_t weight = -1, bias = -1;
  };

  Backend* be_;
  bool cpu_layers_;                      // be_ is the CPU engine itself
  std::map<std::string, Layer> layers_;  // by BasicConv2d name
  Buffer params_;                        // every layer's weights and biases, off the CPU engine
  std::mutex mu_;
  std::vector<Buffer> buffers_;  // activation slots in be_'s memory, kept from call to call
};

}  // namespace pfgm::nn
