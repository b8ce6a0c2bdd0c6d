// PFGM's field model (METHOD §3): the backbone F predicts the normalised field of eq. (3.1) at an
// augmented point (x, z). Channels 0..C-1 of F are the x components (NCHW order at the boundary);
// channel C, averaged over the image, is the z component (one scalar per sample). Vectors are
// 1x1 images, so their last output is z directly.
#include <algorithm>
#include <cmath>

#include "../errors.h"
#include "../ops/elementwise.h"
#include "../ops/loss.h"
#include "denoiser.h"
#include "layers.h"

namespace pfgm::nn {

void Denoiser::field(const Context& ctx, const float* x, const float* z, const Labels& labels,
                     float* out) {
  check_mode(true);
  const int64_t n = ctx.batch;
  const cpu::Nhwc in = net_->input_shape(n), os = net_->output_shape(n);
  const int64_t per = in.numel() / n, hw = in.h * in.w, c = in.c, co = os.c;
  float* xin = ensure(x_in_, in.numel());
  cpu::nchw_to_nhwc(n, in.c, in.h, in.w, x, xin);
  float* cn = ensure(c_noise_, n);
  for (int64_t i = 0; i < n; ++i) {
    if (!(z[i] > 0) || !std::isfinite(z[i]))
      fail(code::kArgument, "z must be positive and finite, got " + std::to_string(z[i]));
    cn[i] = static_cast<float>(std::log(static_cast<double>(z[i])) / 4);
    // c_in of the denoiser at sigma = z (the D = 1 alignment r = z): the perturbation's
    // per-coordinate scale grows like z, so this keeps the backbone's inputs near unit scale.
    const double c_in = 1.0 / std::sqrt(scale2(z[i], x + i * per) + pc_.sigma_data * pc_.sigma_data);
    cpu::scale(per, static_cast<float>(c_in), xin + i * per, xin + i * per);
  }
  float* f = ensure(f_, os.numel());
  net_->forward(ctx, xin, cn, labels.class_labels, labels.augment_labels, f);
  for (int64_t i = 0; i < n; ++i) {
    float* o = out + i * (per + 1);
    const float* fi = f + i * hw * co;
    double zsum = 0;
    for (int64_t p = 0; p < hw; ++p) {
      for (int64_t ch = 0; ch < c; ++ch) o[ch * hw + p] = fi[p * co + ch];
      zsum += fi[p * co + c];
    }
    o[per] = static_cast<float>(zsum / static_cast<double>(hw));
  }
}

double Denoiser::field_loss_and_grad(const Context& ctx, const float* x, const float* z,
                                     const Labels& labels, const float* target) {
  const int64_t n = ctx.batch;
  const cpu::Nhwc in = net_->input_shape(n), os = net_->output_shape(n);
  const int64_t per = in.numel() / n, hw = in.h * in.w, c = in.c, co = os.c;
  float* pred = ensure(d_, n * (per + 1));
  field(ctx, x, z, labels, pred);
  float* w = ensure(ones_, n);
  std::fill(w, w + n, 1.0f);
  const double loss = cpu::weighted_mse_forward(n, per + 1, pred, target, w, nullptr);
  float* dd = ensure(dd_, n * (per + 1));
  cpu::weighted_mse_backward(n, per + 1, pred, target, w, dd);
  float* df = ensure(df_, os.numel());
  for (int64_t i = 0; i < n; ++i) {
    const float* g = dd + i * (per + 1);
    float* gi = df + i * hw * co;
    const float gz = g[per] / static_cast<float>(hw);  // the z output is a mean over pixels
    for (int64_t p = 0; p < hw; ++p) {
      for (int64_t ch = 0; ch < c; ++ch) gi[p * co + ch] = g[ch * hw + p];
      gi[p * co + c] = gz;
    }
  }
  net_->backward(ctx, df, nullptr);
  return loss;
}

}  // namespace pfgm::nn
