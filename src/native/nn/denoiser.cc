#include "denoiser.h"

#include <algorithm>
#include <cmath>

#include "../errors.h"
#include "../ops/elementwise.h"
#include "../ops/loss.h"
#include "layers.h"

namespace pfgm::nn {

Denoiser::Denoiser(std::unique_ptr<Backbone> net, PrecondConfig precond)
    : net_(std::move(net)), pc_(precond) {
  if (!(pc_.sigma_data > 0)) fail(code::kArgument, "sigma_data must be positive");
  const cpu::Nhwc in = net_->input_shape(1), os = net_->output_shape(1);
  const bool field_shape = os.c == in.c + 1 && os.h == in.h && os.w == in.w;
  if (pc_.pfgm_field && !field_shape)
    fail(code::kArgument, "a PFGM model needs one more output channel than input channels");
  if (!pc_.pfgm_field && os.numel() != in.numel())
    fail(code::kArgument, "a denoiser needs as many outputs as inputs (out_channels = in_channels)");
}

void Denoiser::check_mode(bool field) const {
  if (field && !pc_.pfgm_field)
    fail(code::kArgument, "this model denoises (objective pfgmpp): it has no PFGM field output");
  if (!field && pc_.pfgm_field)
    fail(code::kArgument, "this model predicts PFGM's field (objective pfgm): sample it with the "
                          "z-ODE (pfgmSample), not with a denoiser");
}

int64_t Denoiser::sample_numel() const { return net_->input_shape(1).numel(); }

double Denoiser::scale2(double sigma, const float* x) const {
  const double s2 = sigma * sigma;
  if (!pc_.adaptive_scale) return s2;
  const int64_t per = sample_numel();
  double q = 0;
  for (int64_t k = 0; k < per; ++k) q += static_cast<double>(x[k]) * x[k];
  return std::max(s2, q / static_cast<double>(per) - pc_.sigma_data * pc_.sigma_data);
}

Denoiser::Coefs Denoiser::coefs(double sigma, const float* x) const {
  if (!(sigma > 0) || !std::isfinite(sigma)) {
    fail(code::kArgument, "sigma must be positive and finite, got " + std::to_string(sigma));
  }
  const double sd = pc_.sigma_data, sd2 = sd * sd;
  const double s2 = scale2(sigma, x);
  const double scale = std::sqrt(s2);
  double var_in = s2 + sd2;
  if (pc_.d_aware_c_in && std::isfinite(pc_.D) && pc_.D > 2) var_in = s2 * pc_.D / (pc_.D - 2) + sd2;
  return Coefs{static_cast<float>(sd2 / (s2 + sd2)), static_cast<float>(scale * sd / std::sqrt(s2 + sd2)),
               static_cast<float>(1.0 / std::sqrt(var_in)), static_cast<float>(std::log(sigma) / 4),
               static_cast<float>((s2 + sd2) / (s2 * sd2))};
}

void Denoiser::run_forward(const Context& ctx, const float* x, const float* sigma,
                           const Labels& labels, float* out, float* raw) {
  check_mode(false);
  const int64_t n = ctx.batch;
  const cpu::Nhwc in = net_->input_shape(n), os = net_->output_shape(n);
  const int64_t per_in = in.numel() / n, per_out = os.numel() / n;
  if (per_in != per_out) fail(code::kInternal, "denoiser needs matching input/output sizes");
  float* xin = ensure(x_in_, in.numel());
  cpu::nchw_to_nhwc(n, in.c, in.h, in.w, x, xin);
  float* cn = ensure(c_noise_, n);
  std::vector<Coefs> k(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    k[i] = coefs(sigma[i], x + i * per_in);
    cn[i] = k[i].c_noise;
    cpu::scale(per_in, k[i].c_in, xin + i * per_in, xin + i * per_in);
  }
  float* f = ensure(f_, os.numel());
  net_->forward(ctx, xin, cn, labels.class_labels, labels.augment_labels, f);
  float* fn = ensure(df_, os.numel());
  cpu::nhwc_to_nchw(n, os.c, os.h, os.w, f, fn);
  if (raw != nullptr) std::copy(fn, fn + os.numel(), raw);
  for (int64_t i = 0; i < n; ++i) {
    cpu::axpby(per_out, k[i].c_skip, x + i * per_out, k[i].c_out, fn + i * per_out,
               out + i * per_out);
  }
}

void Denoiser::denoise(const Context& ctx, const float* x, const float* sigma,
                       const Labels& labels, float* out, float* raw) {
  run_forward(ctx, x, sigma, labels, out, raw);
}

void Denoiser::input_vjp(const Context& ctx, const float* x, const float* sigma,
                         const Labels& labels, const float* v, float* vjp, float* denoised) {
  const int64_t n = ctx.batch, per = sample_numel(), cnt = n * per;
  float* d = ensure(d_, cnt);
  // F itself is needed only when the coefficients depend on x (adaptive_scale).
  float* raw = pc_.adaptive_scale ? ensure(f_raw_, cnt) : nullptr;
  run_forward(ctx, x, sigma, labels, d, raw);
  if (denoised != nullptr) std::copy(d, d + cnt, denoised);
  std::vector<Coefs> k(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) k[i] = coefs(sigma[i], x + i * per);
  // dF = c_out v, in the backbone's channels-last layout.
  float* dd = ensure(dd_, cnt);
  for (int64_t i = 0; i < n; ++i) cpu::scale(per, k[i].c_out, v + i * per, dd + i * per);
  const cpu::Nhwc os = net_->output_shape(n), in = net_->input_shape(n);
  float* df = ensure(vjp_out_, cnt);
  cpu::nchw_to_nhwc(n, os.c, os.h, os.w, dd, df);
  float* dxin = ensure(vjp_in_, cnt);
  net_->backward(ctx, df, dxin);
  // Back to PyTorch's layout, then the chain rule through x -> c_in x and the skip path.
  cpu::nhwc_to_nchw(n, in.c, in.h, in.w, dxin, dd);
  for (int64_t i = 0; i < n; ++i) {
    const float* xi = x + i * per;
    const float* vi = v + i * per;
    const float* gi = dd + i * per;  // g = J_F^T (c_out v), in F's input space
    float* out = vjp + i * per;
    cpu::axpby(per, k[i].c_skip, vi, k[i].c_in, gi, out);
    if (!pc_.adaptive_scale) continue;
    // With adaptive_scale the coefficients depend on x through u = s^2 = ||x||^2 / N - sd^2
    // (where that exceeds sigma^2): add (du/dx) [c_skip'(u) v.x + c_out'(u) v.F + c_in'(u) g.x].
    const double sd2 = pc_.sigma_data * pc_.sigma_data, s2 = sigma[i] * static_cast<double>(sigma[i]);
    double q = 0, vx = 0, vf = 0, gx = 0;
    const float* fi = raw + i * per;
    for (int64_t j = 0; j < per; ++j) {
      q += static_cast<double>(xi[j]) * xi[j];
      vx += static_cast<double>(vi[j]) * xi[j];
      vf += static_cast<double>(vi[j]) * fi[j];
      gx += static_cast<double>(gi[j]) * xi[j];
    }
    const double u = q / static_cast<double>(per) - sd2;
    if (!(u > s2)) continue;  // sigma's branch of the max: no dependence on x
    const double a = u + sd2, sd = pc_.sigma_data;
    const double dcs = -sd2 / (a * a);
    const double dco = sd * sd2 / (2 * a * a * std::sqrt(u / a));
    const double dci = -0.5 / (a * std::sqrt(a));
    const double scale = 2.0 / static_cast<double>(per) * (dcs * vx + dco * vf + dci * gx);
    for (int64_t j = 0; j < per; ++j) out[j] += static_cast<float>(scale * xi[j]);
  }
}

double Denoiser::loss_and_grad(const Context& ctx, const float* y, const float* noise,
                               const float* sigma, const Labels& labels, float* denoised,
                               const float* target) {
  const float* t = target != nullptr ? target : y;
  const int64_t n = ctx.batch, per = sample_numel(), cnt = n * per;
  float* x = ensure(x_, cnt);
  cpu::axpby(cnt, 1.0f, y, 1.0f, noise, x);
  float* d = ensure(d_, cnt);
  run_forward(ctx, x, sigma, labels, d, nullptr);
  if (denoised != nullptr) std::copy(d, d + cnt, denoised);
  std::vector<Coefs> k(static_cast<size_t>(n));
  std::vector<float> weight(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    k[i] = coefs(sigma[i], x + i * per);
    weight[i] = k[i].weight;
  }
  const double loss = cpu::weighted_mse_forward(n, per, d, t, weight.data(), nullptr);
  float* dd = ensure(dd_, cnt);
  cpu::weighted_mse_backward(n, per, d, t, weight.data(), dd);
  // D = c_skip x + c_out F: dF = c_out dD (x is data, not a parameter).
  for (int64_t i = 0; i < n; ++i) cpu::scale(per, k[i].c_out, dd + i * per, dd + i * per);
  const cpu::Nhwc os = net_->output_shape(n);
  float* df = ensure(df_, cnt);
  cpu::nchw_to_nhwc(n, os.c, os.h, os.w, dd, df);
  net_->backward(ctx, df, nullptr);
  return loss;
}

}  // namespace pfgm::nn
