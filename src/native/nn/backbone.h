// The raw network F of docs/method.md §2.2 (EDM's `model` inside the preconditioning): SongUNet for
// images, an MLP for vectors. Activations cross this interface channels-last: [n, H, W, C]
// (vectors are [n, 1, 1, N], the same bytes as [n, N]).
#pragma once

#include <memory>

#include "../ops/layout.h"
#include "context.h"
#include "params.h"

namespace pfgm::nn {

class Backbone {
 public:
  virtual ~Backbone() = default;
  virtual const ParamSet& params() const = 0;
  virtual op::Nhwc input_shape(int64_t n) const = 0;
  virtual op::Nhwc output_shape(int64_t n) const = 0;
  virtual int64_t label_dim() const = 0;
  virtual int64_t augment_dim() const = 0;
  // out = F(x, noise_labels, class_labels, augment_labels); labels may be null (then zeros).
  // Inputs must stay alive until backward.
  virtual void forward(const Context& ctx, const float* x, const float* noise_labels,
                       const float* class_labels, const float* augment_labels, float* out) = 0;
  // Writes every parameter gradient (ctx.grads) and, when dx is not null, the input gradient.
  virtual void backward(const Context& ctx, const float* dout, float* dx) = 0;
};

}  // namespace pfgm::nn
