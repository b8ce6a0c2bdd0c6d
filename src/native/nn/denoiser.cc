#include "denoiser.h"

#include <cmath>
#include <string>

#include "../errors.h"
#include "../ops/precond_math.h"
#include "layers.h"

namespace pfgm::nn {

Denoiser::Denoiser(std::unique_ptr<Backbone> net, PrecondConfig precond)
    : net_(std::move(net)), pc_(precond) {
  if (!(pc_.sigma_data > 0)) fail(code::kArgument, "sigma_data must be positive");
  const op::Nhwc in = net_->input_shape(1), os = net_->output_shape(1);
  const bool field_shape = os.c == in.c + 1 && os.h == in.h && os.w == in.w;
  if (pc_.pfgm_field && !field_shape)
    fail(code::kArgument, "a PFGM model needs one more output channel than input channels");
  if (!pc_.pfgm_field && os.numel() != in.numel())
    fail(code::kArgument,
         "a denoiser needs as many outputs as inputs (out_channels = in_channels)");
}

void Denoiser::check_mode(bool field) const {
  if (field && !pc_.pfgm_field)
    fail(code::kArgument, "this model denoises (objective pfgmpp): it has no PFGM field output");
  if (!field && pc_.pfgm_field)
    fail(code::kArgument,
         "this model predicts PFGM's field (objective pfgm): sample it with the "
         "z-ODE (pfgmSample), not with a denoiser");
}

int64_t Denoiser::sample_numel() const { return net_->input_shape(1).numel(); }

double Denoiser::scale2(double sigma, double sumsq) const {
  if (!pc_.adaptive_scale) return sigma * sigma;
  return precond::adaptive_scale2(sigma, sumsq, static_cast<double>(sample_numel()),
                                  pc_.sigma_data);
}

double Denoiser::d_aware_D() const {
  return pc_.d_aware_c_in && std::isfinite(pc_.D) && pc_.D > 2 ? pc_.D : 0.0;
}

float Denoiser::c_noise(double level, const char* name) {
  if (!(level > 0) || !std::isfinite(level)) {
    fail(code::kArgument,
         std::string(name) + " must be positive and finite, got " + std::to_string(level));
  }
  return static_cast<float>(std::log(level) / 4);
}

std::vector<double> Denoiser::sample_sumsq(const Context& ctx, const float* x) const {
  std::vector<double> q(static_cast<size_t>(ctx.batch), 0.0);
  if (pc_.adaptive_scale) ctx.be().sumsq_rows(ctx.batch, sample_numel(), x, q.data());
  return q;
}

Denoiser::Coefs Denoiser::coefs(double sigma, double sumsq) const {
  const float cn = c_noise(sigma, "sigma");
  const double sd = pc_.sigma_data, sd2 = sd * sd;
  const double s2 = scale2(sigma, sumsq);
  const precond::Coefs k = precond::coefs(s2, sd, d_aware_D());
  return Coefs{k.c_skip, k.c_out, k.c_in, cn, static_cast<float>((s2 + sd2) / (s2 * sd2))};
}

namespace {

// One coefficient of every sample, as the per-row ops take them.
template <class Member>
std::vector<float> column(const std::vector<Member>& k, float Member::*field) {
  std::vector<float> out(k.size());
  for (size_t i = 0; i < k.size(); ++i) out[i] = k[i].*field;
  return out;
}

}  // namespace

std::vector<Denoiser::Coefs> Denoiser::run_forward(const Context& ctx, const float* x,
                                                   const float* sigma, const Labels& labels,
                                                   float* out, float* raw, bool host_coefs) {
  check_mode(false);
  Backend& be = ctx.be();
  const int64_t n = ctx.batch;
  const op::Nhwc in = net_->input_shape(n), os = net_->output_shape(n);
  const int64_t per_in = in.numel() / n, per_out = os.numel() / n;
  if (per_in != per_out) fail(code::kInternal, "denoiser needs matching input/output sizes");
  // The adaptive scale's coefficients depend on x: computed where x is, they never return to the
  // host, so a CUDA graph can record the evaluation. c_noise depends on sigma only.
  const bool on_device = pc_.adaptive_scale && !host_coefs;
  std::vector<Coefs> k(static_cast<size_t>(n));
  if (on_device) {
    for (int64_t i = 0; i < n; ++i) k[i].c_noise = c_noise(sigma[i], "sigma");
  } else {
    const std::vector<double> q = sample_sumsq(ctx, x);
    for (int64_t i = 0; i < n; ++i) k[i] = coefs(sigma[i], q[i]);
  }
  float* xin = ctx.ensure(x_in_, in.numel());
  be.nchw_to_nhwc(n, in.c, in.h, in.w, x, xin);
  float* dk = nullptr;  // [3, n]: c_in, c_skip, c_out in the backend's memory
  if (on_device) {
    dk = ctx.ensure(coefs_, 3 * n);
    be.adaptive_coefs(n, per_in, x, sigma, pc_.sigma_data, d_aware_D(), dk, dk + n, dk + 2 * n);
    be.scale_rows_dev(n, per_in, dk, xin, xin);
  } else {
    be.scale_rows(n, per_in, column(k, &Coefs::c_in).data(), xin, xin);
  }
  float* cn = ctx.ensure(c_noise_, n);
  be.upload(n, column(k, &Coefs::c_noise).data(), cn);
  float* f = ctx.ensure(f_, os.numel());
  net_->forward(ctx, xin, cn, labels.class_labels, labels.augment_labels, f);
  float* fn = ctx.ensure(df_, os.numel());
  be.nhwc_to_nchw(n, os.c, os.h, os.w, f, fn);
  if (raw != nullptr) be.copy(os.numel(), fn, raw);
  if (on_device) {
    be.axpby_rows_dev(n, per_out, dk + n, x, dk + 2 * n, fn, out);
    return {};
  }
  be.axpby_rows(n, per_out, column(k, &Coefs::c_skip).data(), x, column(k, &Coefs::c_out).data(),
                fn, out);
  return k;
}

void Denoiser::denoise(const Context& ctx, const float* x, const float* sigma, const Labels& labels,
                       float* out, float* raw) {
  run_forward(ctx, x, sigma, labels, out, raw, false);
}

void Denoiser::input_vjp(const Context& ctx, const float* x, const float* sigma,
                         const Labels& labels, const float* v, float* vjp, float* denoised) {
  Backend& be = ctx.be();
  const int64_t n = ctx.batch, per = sample_numel(), cnt = n * per;
  float* d = ctx.ensure(d_, cnt);
  // F itself is needed only when the coefficients depend on x (adaptive_scale).
  float* raw = pc_.adaptive_scale ? ctx.ensure(f_raw_, cnt) : nullptr;
  const std::vector<Coefs> k = run_forward(ctx, x, sigma, labels, d, raw, true);
  if (denoised != nullptr) be.copy(cnt, d, denoised);
  // dF = c_out v, in the backbone's channels-last layout.
  float* dd = ctx.ensure(dd_, cnt);
  be.scale_rows(n, per, column(k, &Coefs::c_out).data(), v, dd);
  const op::Nhwc os = net_->output_shape(n), in = net_->input_shape(n);
  float* df = ctx.ensure(vjp_out_, cnt);
  be.nchw_to_nhwc(n, os.c, os.h, os.w, dd, df);
  float* dxin = ctx.ensure(vjp_in_, cnt);
  net_->backward(ctx, df, dxin);
  // Back to PyTorch's layout, then the chain rule through x -> c_in x and the skip path.
  be.nhwc_to_nchw(n, in.c, in.h, in.w, dxin, dd);
  be.axpby_rows(n, per, column(k, &Coefs::c_skip).data(), v, column(k, &Coefs::c_in).data(), dd,
                vjp);
  if (!pc_.adaptive_scale) return;
  // With adaptive_scale the coefficients depend on x through u = s^2 = ||x||^2 / N - sd^2
  // (where that exceeds sigma^2): add (du/dx) [c_skip'(u) v.x + c_out'(u) v.F + c_in'(u) g.x].
  // A per-sample host loop (the likelihood's path only): host views cost nothing on the CPU.
  std::vector<float> hx, hv, hf, hg, hout;
  const float* xs = host_view(be, x, cnt, hx);
  const float* vs = host_view(be, v, cnt, hv);
  const float* fs = host_view(be, raw, cnt, hf);
  const float* gs = host_view(be, dd, cnt, hg);
  float* outs = host_edit(be, vjp, cnt, hout);
  for (int64_t i = 0; i < n; ++i) {
    const float* xi = xs + i * per;
    const float* vi = vs + i * per;
    const float* gi = gs + i * per;  // g = J_F^T (c_out v), in F's input space
    const float* fi = fs + i * per;
    float* out = outs + i * per;
    const double sd2 = pc_.sigma_data * pc_.sigma_data,
                 s2 = sigma[i] * static_cast<double>(sigma[i]);
    double q = 0, vx = 0, vf = 0, gx = 0;
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
  commit_host(be, vjp, cnt, hout);
}

double Denoiser::loss_and_grad(const Context& ctx, const float* y, const float* noise,
                               const float* sigma, const Labels& labels, float* denoised,
                               const float* target) {
  Backend& be = ctx.be();
  const float* t = target != nullptr ? target : y;
  const int64_t n = ctx.batch, per = sample_numel(), cnt = n * per;
  float* x = ctx.ensure(x_, cnt);
  be.axpby(cnt, 1.0f, y, 1.0f, noise, x);
  float* d = ctx.ensure(d_, cnt);
  const std::vector<Coefs> k = run_forward(ctx, x, sigma, labels, d, nullptr, true);
  if (denoised != nullptr) be.copy(cnt, d, denoised);
  const std::vector<float> weight = column(k, &Coefs::weight);
  double loss = 0.0;
  if (ctx.loss_total != nullptr)
    be.weighted_mse_accumulate(n, per, d, t, weight.data(), ctx.loss_share, ctx.loss_total);
  else
    loss = be.weighted_mse_forward(n, per, d, t, weight.data());
  float* dd = ctx.ensure(dd_, cnt);
  be.weighted_mse_backward(n, per, d, t, weight.data(), dd);
  // D = c_skip x + c_out F: dF = c_out dD (x is data, not a parameter).
  be.scale_rows(n, per, column(k, &Coefs::c_out).data(), dd, dd);
  const op::Nhwc os = net_->output_shape(n);
  float* df = ctx.ensure(df_, cnt);
  be.nchw_to_nhwc(n, os.c, os.h, os.w, dd, df);
  net_->backward(ctx, df, nullptr);
  return loss;
}

}  // namespace pfgm::nn
