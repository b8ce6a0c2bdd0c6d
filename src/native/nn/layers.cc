#include "layers.h"

#include <algorithm>

#include "../errors.h"
#include "../ops/conv.h"
#include "../ops/group_norm.h"
#include "../ops/linear.h"
#include "../ops/resample.h"
#include "profile.h"

namespace pfgm::nn {
namespace {

InitSpec with_fans(InitSpec init, double fan_in, double fan_out) {
  init.fan_in = fan_in;
  init.fan_out = fan_out;
  return init;
}

// EDM initialises biases with the weight's mode times init_bias: 0 in every SongUNet, sqrt(1/3)
// in the ADM network.
InitSpec bias_init(const InitSpec& weight, double init_bias) {
  if (init_bias == 0) return InitSpec{InitMode::kConstant, 1, 1, 0.0};
  InitSpec b = weight;
  b.gain = init_bias;
  return b;
}

}  // namespace

// --- Linear ----------------------------------------------------------------------------------

Linear::Linear(ParamSet& ps, const Scope& scope, int64_t in, int64_t out, bool bias, InitSpec init,
               double init_bias)
    : in_(in), out_(out) {
  const InitSpec wi = with_fans(init, static_cast<double>(in), static_cast<double>(out));
  w_ = ps.add(scope.name("weight"), {out, in}, wi);
  if (bias) b_ = ps.add(scope.name("bias"), {out}, bias_init(wi, init_bias));
}

void Linear::forward(const Context& ctx, int64_t rows, const float* x, float* y) {
  PFGM_PROFILE("linear.forward");
  rows_ = rows;
  x_ = x;
  ctx.be().linear_forward({rows, in_, out_}, x, ctx.p(w_), b_ >= 0 ? ctx.p(b_) : nullptr, y);
}

void Linear::backward(const Context& ctx, const float* dy, float* dx) {
  PFGM_PROFILE("linear.backward");
  ctx.be().linear_backward({rows_, in_, out_}, x_, ctx.p(w_), dy, dx, ctx.g(w_),
                           b_ >= 0 ? ctx.g(b_) : nullptr);
}

void Linear::zero_grads(const Context& ctx) {
  ctx.be().fill(in_ * out_, 0.0f, ctx.g(w_));
  if (b_ >= 0) ctx.be().fill(out_, 0.0f, ctx.g(b_));
}

// --- Conv2d ----------------------------------------------------------------------------------

Conv2d::Conv2d(ParamSet& ps, const Scope& scope, int64_t cin, int64_t cout, int64_t kernel,
               bool bias, ResampleSpec resample, InitSpec init, double init_bias)
    : cin_(cin), cout_(cout), k_(kernel), rs_(std::move(resample)) {
  if (rs_.up && rs_.down) fail(code::kArgument, "a convolution cannot both up- and downsample");
  if (k_ == 0 && !rs_.up && !rs_.down) fail(code::kArgument, "a kernel-0 conv must resample");
  if (k_ > 0) {
    const double fan = static_cast<double>(k_ * k_);
    const InitSpec wi = with_fans(init, cin * fan, cout * fan);
    w_ = ps.add(scope.name("weight"), {cout, cin, k_, k_}, wi);
    if (bias) b_ = ps.add(scope.name("bias"), {cout}, bias_init(wi, init_bias));
  } else {
    cout_ = cin_;
  }
  // EDM's Conv2d.forward: paddings of the filter (f_pad) and of the kernel (w_pad).
  const int64_t taps = static_cast<int64_t>(rs_.filter.size());
  const int64_t f_pad = (taps - 1) / 2, w_pad = k_ / 2;
  if (k_ == 0) {
    path_ = Path::kResampleOnly;
    fir_pad_ = f_pad;
  } else if (!rs_.up && !rs_.down) {
    path_ = Path::kConvOnly;
    conv_pad_ = w_pad;
  } else if (rs_.fused && rs_.down) {
    path_ = Path::kConvThenResample;
    conv_pad_ = w_pad + f_pad;
    fir_pad_ = 0;
  } else {
    path_ = Path::kResampleThenConv;
    fir_pad_ = rs_.fused ? std::max<int64_t>(f_pad - w_pad, 0) : f_pad;
    conv_pad_ = rs_.fused ? std::max<int64_t>(w_pad - f_pad, 0) : w_pad;
  }
}

namespace {

op::ResampleShape fir(const op::Nhwc& in, const std::vector<float>& f, int64_t pad) {
  return op::ResampleShape{in, f.data(), static_cast<int64_t>(f.size()), pad};
}

op::Nhwc fir_out(const op::ResampleShape& r, bool up) {
  return up ? op::Nhwc{r.in.n, r.up_h(), r.up_w(), r.in.c}
            : op::Nhwc{r.in.n, r.down_h(), r.down_w(), r.in.c};
}

op::Conv2dShape conv_shape(const op::Nhwc& in, int64_t cout, int64_t k, int64_t pad) {
  return op::Conv2dShape{in.n, in.h, in.w, in.c, cout, k, 1, pad};
}

}  // namespace

op::Nhwc Conv2d::out_shape(const op::Nhwc& in) const {
  switch (path_) {
    case Path::kConvOnly: {
      const auto s = conv_shape(in, cout_, k_, conv_pad_);
      return op::Nhwc{in.n, s.oh(), s.ow(), cout_};
    }
    case Path::kResampleOnly: return fir_out(fir(in, rs_.filter, fir_pad_), rs_.up);
    case Path::kResampleThenConv: {
      const op::Nhwc mid = fir_out(fir(in, rs_.filter, fir_pad_), rs_.up);
      const auto s = conv_shape(mid, cout_, k_, conv_pad_);
      return op::Nhwc{in.n, s.oh(), s.ow(), cout_};
    }
    case Path::kConvThenResample: {
      const auto s = conv_shape(in, cout_, k_, conv_pad_);
      return fir_out(fir(op::Nhwc{in.n, s.oh(), s.ow(), cout_}, rs_.filter, fir_pad_), false);
    }
  }
  return in;
}

// The stage's name for PFGM_PROFILE; with PFGM_PROFILE=shapes also its input's size, channels
// and whether it resamples, e.g. "conv3x3.forward[28x28 32->32]" or "[... down]".
const char* Conv2d::profile_name(const char* stage, const op::Nhwc& in) const {
  if (!profile::by_shape()) return stage;
  const char* resample = rs_.up ? " up" : rs_.down ? " down" : "";
  return profile::stage_name(stage, std::to_string(in.h) + "x" + std::to_string(in.w) + " " +
                                        std::to_string(cin_) + "->" + std::to_string(cout_) +
                                        resample);
}

void Conv2d::forward(const Context& ctx, const op::Nhwc& in, const float* x, float* y) {
  if (in.c != cin_) {
    fail(code::kShape,
         "conv expects " + std::to_string(cin_) + " channels, got " + std::to_string(in.c));
  }
  PFGM_PROFILE(profile_name(k_ == 3   ? "conv3x3.forward"
                            : k_ == 1 ? "conv1x1.forward"
                                      : "resample.forward",
                            in));
  in_ = in;
  x_ = x;
  const float* w = k_ > 0 ? ctx.p(w_) : nullptr;
  const float* b = b_ >= 0 ? ctx.p(b_) : nullptr;
  switch (path_) {
    case Path::kConvOnly:
      ctx.be().conv2d_forward(conv_shape(in, cout_, k_, conv_pad_), x, w, b, y);
      break;
    case Path::kResampleOnly: {
      const auto r = fir(in, rs_.filter, fir_pad_);
      rs_.up ? ctx.be().fir_up_forward(r, x, y) : ctx.be().fir_down_forward(r, x, y);
      break;
    }
    case Path::kResampleThenConv: {
      const auto r = fir(in, rs_.filter, fir_pad_);
      const op::Nhwc mid = fir_out(r, rs_.up);
      float* m = ctx.ensure(mid_, mid.numel());
      rs_.up ? ctx.be().fir_up_forward(r, x, m) : ctx.be().fir_down_forward(r, x, m);
      ctx.be().conv2d_forward(conv_shape(mid, cout_, k_, conv_pad_), m, w, b, y);
      break;
    }
    case Path::kConvThenResample: {
      const auto s = conv_shape(in, cout_, k_, conv_pad_);
      const op::Nhwc mid{in.n, s.oh(), s.ow(), cout_};
      float* m = ctx.ensure(mid_, mid.numel());
      ctx.be().conv2d_forward(s, x, w, nullptr, m);
      const auto r = fir(mid, rs_.filter, fir_pad_);
      ctx.be().fir_down_forward(r, m, y);
      // The bias after the resampling, as EDM adds it: one [cout] row over every pixel.
      if (b != nullptr) ctx.be().add_channel_bias(1, fir_out(r, false).pixels(), cout_, y, b, y);
      break;
    }
  }
}

void Conv2d::backward(const Context& ctx, const float* dy, float* dx) {
  PFGM_PROFILE(profile_name(k_ == 3   ? "conv3x3.backward"
                            : k_ == 1 ? "conv1x1.backward"
                                      : "resample.backward",
                            in_));
  const float* w = k_ > 0 ? ctx.p(w_) : nullptr;
  float* dw = k_ > 0 ? ctx.g(w_) : nullptr;
  float* db = b_ >= 0 ? ctx.g(b_) : nullptr;
  switch (path_) {
    case Path::kConvOnly:
      ctx.be().conv2d_backward(conv_shape(in_, cout_, k_, conv_pad_), x_, w, dy, dx, dw, db);
      break;
    case Path::kResampleOnly: {
      if (dx == nullptr) break;
      const auto r = fir(in_, rs_.filter, fir_pad_);
      rs_.up ? ctx.be().fir_up_backward(r, dy, dx) : ctx.be().fir_down_backward(r, dy, dx);
      break;
    }
    case Path::kResampleThenConv: {
      const auto r = fir(in_, rs_.filter, fir_pad_);
      const op::Nhwc mid = fir_out(r, rs_.up);
      float* dm = dx != nullptr ? ctx.ensure(dmid_, mid.numel()) : nullptr;
      ctx.be().conv2d_backward(conv_shape(mid, cout_, k_, conv_pad_), mid_.data(), w, dy, dm, dw,
                               db);
      if (dx != nullptr)
        rs_.up ? ctx.be().fir_up_backward(r, dm, dx) : ctx.be().fir_down_backward(r, dm, dx);
      break;
    }
    case Path::kConvThenResample: {
      const auto s = conv_shape(in_, cout_, k_, conv_pad_);
      const op::Nhwc mid{in_.n, s.oh(), s.ow(), cout_};
      const auto r = fir(mid, rs_.filter, fir_pad_);
      if (db != nullptr) ctx.be().sum_columns(fir_out(r, false).pixels(), cout_, dy, db);
      float* dm = ctx.ensure(dmid_, mid.numel());
      ctx.be().fir_down_backward(r, dy, dm);
      ctx.be().conv2d_backward(s, x_, w, dm, dx, dw, nullptr);
      break;
    }
  }
}

// --- GroupNorm -------------------------------------------------------------------------------

GroupNorm::GroupNorm(ParamSet& ps, const Scope& scope, int64_t channels, float eps)
    : c_(channels), groups_(cpu::edm_groups(channels)), eps_(eps) {
  if (groups_ < 1 || channels % groups_ != 0) {
    fail(code::kArgument, "group norm over " + std::to_string(channels) +
                              " channels: EDM's rule min(32, C / 4) gives no valid group count "
                              "(use at least 4 channels, a multiple of the group count)");
  }
  w_ = ps.add(scope.name("weight"), {channels}, InitSpec{InitMode::kConstant, 1, 1, 1.0});
  b_ = ps.add(scope.name("bias"), {channels}, InitSpec{InitMode::kConstant, 1, 1, 0.0});
}

void GroupNorm::forward(const Context& ctx, const op::Nhwc& in, const float* x, const float* shift,
                        bool silu, float* y) {
  PFGM_PROFILE("group_norm.forward");
  if (in.c != c_) fail(code::kShape, "group norm channel mismatch");
  in_ = in;
  x_ = x;
  shift_ = shift;
  silu_ = silu;
  const op::GroupNormShape s{in.n, in.h * in.w, c_, groups_, eps_, silu};
  ctx.be().group_norm_forward(s, x, shift, ctx.p(w_), ctx.p(b_), y,
                              ctx.ensure(mean_, in.n * groups_), ctx.ensure(rstd_, in.n * groups_));
}

void GroupNorm::backward(const Context& ctx, const float* dy, float* dx, float* dshift) {
  PFGM_PROFILE("group_norm.backward");
  const op::GroupNormShape s{in_.n, in_.h * in_.w, c_, groups_, eps_, silu_};
  ctx.be().group_norm_backward(s, x_, shift_, ctx.p(w_), ctx.p(b_), mean_.data(), rstd_.data(), dy,
                               dx, ctx.g(w_), ctx.g(b_), shift_ != nullptr ? dshift : nullptr);
}

}  // namespace pfgm::nn
