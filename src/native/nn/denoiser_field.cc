// PFGM's field model (docs/method.md §3): the backbone F predicts the normalised field of eq. (3.1)
// at an augmented point (x, z). Channels 0..C-1 of F are the x components (NCHW order at the
// boundary); channel C, averaged over the image, is the z component (one scalar per sample).
// Vectors are 1x1 images, so their last output is z directly.
#include <algorithm>
#include <cmath>
#include <vector>

#include "../errors.h"
#include "../ops/precond_math.h"
#include "denoiser.h"
#include "layers.h"

namespace pfgm::nn {

const float* Denoiser::field_forward(const Context& ctx, const float* x, const float* z,
                                     const Labels& labels) {
  check_mode(true);
  Backend& be = ctx.be();
  const int64_t n = ctx.batch;
  const op::Nhwc in = net_->input_shape(n), os = net_->output_shape(n);
  const int64_t per = in.numel() / n;
  std::vector<float> cn_host(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) cn_host[i] = c_noise(z[i], "z");
  float* xin = ctx.ensure(x_in_, in.numel());
  be.nchw_to_nhwc(n, in.c, in.h, in.w, x, xin);
  // c_in of the denoiser at sigma = z (the D = 1 alignment r = z): the perturbation's
  // per-coordinate scale grows like z, so this keeps the backbone's inputs near unit scale. With
  // the adaptive scale it depends on x's norms, so it is computed where x is: nothing returns to
  // the host, and a CUDA graph can record the z-ODE's evaluations.
  if (pc_.adaptive_scale) {
    float* c_in = ctx.ensure(coefs_, n);
    be.adaptive_coefs(n, per, x, z, pc_.sigma_data, 0.0, c_in, nullptr, nullptr);
    be.scale_rows_dev(n, per, c_in, xin, xin);
  } else {
    std::vector<float> c_in(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      const double zi = z[i];
      c_in[i] = precond::coefs(zi * zi, pc_.sigma_data, 0.0).c_in;
    }
    be.scale_rows(n, per, c_in.data(), xin, xin);
  }
  float* cn = ctx.ensure(c_noise_, n);
  be.upload(n, cn_host.data(), cn);
  float* f = ctx.ensure(f_, os.numel());
  net_->forward(ctx, xin, cn, labels.class_labels, labels.augment_labels, f);
  return f;
}

void Denoiser::field(const Context& ctx, const float* x, const float* z, const Labels& labels,
                     float* out) {
  Backend& be = ctx.be();
  const int64_t n = ctx.batch;
  const op::Nhwc in = net_->input_shape(n), os = net_->output_shape(n);
  const int64_t per = in.numel() / n, hw = in.h * in.w, c = in.c, co = os.c;
  const float* f = field_forward(ctx, x, z, labels);
  // Packing [n, hw, co] into [n, N + 1] is a host loop (free on the CPU; PFGM's path only).
  std::vector<float> hf, hout;
  const float* fs = host_view(be, f, os.numel(), hf);
  float* outs = host_target(be, out, n * (per + 1), hout);
  for (int64_t i = 0; i < n; ++i) {
    float* o = outs + i * (per + 1);
    const float* fi = fs + i * hw * co;
    double zsum = 0;
    for (int64_t p = 0; p < hw; ++p) {
      for (int64_t ch = 0; ch < c; ++ch) o[ch * hw + p] = fi[p * co + ch];
      zsum += fi[p * co + c];
    }
    o[per] = static_cast<float>(zsum / static_cast<double>(hw));
  }
  commit_host(be, out, n * (per + 1), hout);
}

double Denoiser::field_loss_and_grad(const Context& ctx, const float* x, const float* z,
                                     const Labels& labels, const float* target) {
  Backend& be = ctx.be();
  const int64_t n = ctx.batch;
  const op::Nhwc in = net_->input_shape(n), os = net_->output_shape(n);
  const int64_t per = in.numel() / n, hw = in.h * in.w, c = in.c, co = os.c;
  float* pred = ctx.ensure(d_, n * (per + 1));
  field(ctx, x, z, labels, pred);
  const std::vector<float> w(static_cast<size_t>(n), 1.0f);
  const double loss = be.weighted_mse_forward(n, per + 1, pred, target, w.data());
  float* dd = ctx.ensure(dd_, n * (per + 1));
  be.weighted_mse_backward(n, per + 1, pred, target, w.data(), dd);
  float* df = ctx.ensure(df_, os.numel());
  std::vector<float> hdd, hdf;
  const float* dds = host_view(be, dd, n * (per + 1), hdd);
  float* dfs = host_target(be, df, os.numel(), hdf);
  for (int64_t i = 0; i < n; ++i) {
    const float* g = dds + i * (per + 1);
    float* gi = dfs + i * hw * co;
    const float gz = g[per] / static_cast<float>(hw);  // the z output is a mean over pixels
    for (int64_t p = 0; p < hw; ++p) {
      for (int64_t ch = 0; ch < c; ++ch) gi[p * co + ch] = g[ch * hw + p];
      gi[p * co + c] = gz;
    }
  }
  commit_host(be, df, os.numel(), hdf);
  net_->backward(ctx, df, nullptr);
  return loss;
}

}  // namespace pfgm::nn
