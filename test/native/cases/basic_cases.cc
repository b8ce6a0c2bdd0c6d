// Op cases for group norm, activations, elementwise helpers, embeddings and the loss: the door
// through which test/native/ops-basic.test.ts checks them against PyTorch golden tensors
// (test/fixtures/gen/ops_basic.py). Every case validates its inputs, so a wrong shape from a
// test comes back as ERR_PFGM_SHAPE instead of reading out of bounds.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "errors.h"
#include "op_cases.h"
#include "ops/activation.h"
#include "ops/elementwise.h"
#include "ops/embedding.h"
#include "ops/group_norm.h"
#include "ops/loss.h"

namespace {

using pfgm::code::kArgument;
using pfgm::code::kShape;
using pfgm::opcases::attr;
using pfgm::opcases::Attrs;
using pfgm::opcases::HostTensor;
using pfgm::opcases::input;
using pfgm::opcases::optional_input;
using pfgm::opcases::output;
using pfgm::opcases::Tensors;

using pfgm::opcases::shape_text;

int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

void expect_shape(const std::string& op, const std::string& name, const HostTensor& t,
                  const std::vector<int64_t>& want) {
  if (t.shape != want) {
    pfgm::fail(kShape, op + ": '" + name + "' must have shape " + shape_text(want) + ", got " +
                           shape_text(t.shape));
  }
}

// An NHWC activation: rank 4 with every dimension >= 1.
pfgm::op::Nhwc expect_nhwc(const std::string& op, const std::string& name, const HostTensor& t) {
  if (t.shape.size() != 4 || numel(t.shape) <= 0) {
    pfgm::fail(kShape, op + ": '" + name + "' must be a non-empty NHWC tensor [n, h, w, c], got " +
                           shape_text(t.shape));
  }
  return {t.shape[0], t.shape[1], t.shape[2], t.shape[3]};
}

// A batch [n, ...] with n >= 1 and at least one element per sample.
void expect_batch(const std::string& op, const std::string& name, const HostTensor& t) {
  if (t.shape.empty() || numel(t.shape) <= 0) {
    pfgm::fail(kShape, op + ": '" + name + "' must be a non-empty batch [n, ...], got " +
                           shape_text(t.shape));
  }
}

int64_t int_attr(const Attrs& a, const std::string& op, const std::string& name, double fallback,
                 double lo, double hi) {
  const double v = attr(a, name, fallback);
  if (!(v >= lo && v <= hi) || v != std::floor(v)) {
    pfgm::fail(kArgument, op + ": attribute '" + name + "' must be an integer in [" +
                              std::to_string(static_cast<int64_t>(lo)) + ", " +
                              std::to_string(static_cast<int64_t>(hi)) + "], got " +
                              std::to_string(v));
  }
  return static_cast<int64_t>(v);
}

bool flag(const Attrs& a, const std::string& name, bool fallback) {
  return attr(a, name, fallback ? 1.0 : 0.0) != 0.0;
}

pfgm::op::GroupNormShape group_norm_shape(const Attrs& a, const std::string& op,
                                          const pfgm::op::Nhwc& d) {
  pfgm::op::GroupNormShape s{};
  s.n = d.n;
  s.hw = d.h * d.w;
  s.c = d.c;
  s.groups = int_attr(a, op, "groups", static_cast<double>(pfgm::cpu::edm_groups(d.c)), 1,
                      static_cast<double>(d.c));
  if (d.c % s.groups != 0) {
    pfgm::fail(kShape, op + ": " + std::to_string(s.groups) + " groups do not divide " +
                           std::to_string(d.c) + " channels");
  }
  const double eps = attr(a, "eps", 1e-5);
  if (!(eps >= 0.0 && std::isfinite(eps)))
    pfgm::fail(kArgument, op + ": eps must be finite and >= 0");
  s.eps = static_cast<float>(eps);
  s.silu = flag(a, "silu", false);
  return s;
}

// Inputs x [n,h,w,c], gamma [c], beta [c], optional shift [n,c] and dy [n,h,w,c]; attrs groups,
// eps, silu, and no_dx / no_params / no_dshift to leave gradients out.
PFGM_OP_CASE("group_norm", [](const Attrs& a, const Tensors& in, Tensors& out) {
  const std::string op = "group_norm";
  const HostTensor& x = input(in, "x");
  const pfgm::op::Nhwc d = expect_nhwc(op, "x", x);
  const pfgm::op::GroupNormShape s = group_norm_shape(a, op, d);
  const HostTensor& gamma = input(in, "gamma");
  const HostTensor& beta = input(in, "beta");
  expect_shape(op, "gamma", gamma, {d.c});
  expect_shape(op, "beta", beta, {d.c});
  const HostTensor* shift = optional_input(in, "shift");
  if (shift != nullptr) expect_shape(op, "shift", *shift, {d.n, d.c});
  const HostTensor* dy = optional_input(in, "dy");
  if (dy != nullptr) expect_shape(op, "dy", *dy, x.shape);

  const float* sh = shift != nullptr ? shift->data.data() : nullptr;
  float* y = output(out, "y", x.shape);
  float* mean = output(out, "mean", {d.n, s.groups});
  float* rstd = output(out, "rstd", {d.n, s.groups});
  pfgm::cpu::group_norm_forward(s, x.data.data(), sh, gamma.data.data(), beta.data.data(), y, mean,
                                rstd);
  if (dy == nullptr) return;
  // no_dx, no_params, no_dshift: leave those gradients out (null), as callers may.
  float* dx = flag(a, "no_dx", false) ? nullptr : output(out, "dx", x.shape);
  const bool params = !flag(a, "no_params", false);
  float* dgamma = params ? output(out, "dgamma", {d.c}) : nullptr;
  float* dbeta = params ? output(out, "dbeta", {d.c}) : nullptr;
  float* dshift = shift != nullptr && !flag(a, "no_dshift", false)
                      ? output(out, "dshift", {d.n, d.c})
                      : nullptr;
  pfgm::cpu::group_norm_backward(s, x.data.data(), sh, gamma.data.data(), beta.data.data(), mean,
                                 rstd, dy->data.data(), dx, dgamma, dbeta, dshift);
});

// Times group norm forward and backward on generated data: attrs n, h, w, c, iters, silu, shift
// (and groups/eps as in "group_norm"). Outputs forward_ms and backward_ms, each per iteration.
PFGM_OP_CASE("group_norm_bench", [](const Attrs& a, const Tensors&, Tensors& out) {
  const std::string op = "group_norm_bench";
  const pfgm::op::Nhwc d{int_attr(a, op, "n", 0, 1, 1 << 16), int_attr(a, op, "h", 0, 1, 1 << 14),
                         int_attr(a, op, "w", 0, 1, 1 << 14), int_attr(a, op, "c", 0, 1, 1 << 14)};
  if (d.numel() > (int64_t{1} << 28)) pfgm::fail(kShape, op + ": at most 2^28 elements");
  const pfgm::op::GroupNormShape s = group_norm_shape(a, op, d);
  const int64_t iters = int_attr(a, op, "iters", 10, 1, 1e6);
  const bool with_shift = flag(a, "shift", false);
  // Deterministic pseudo-random data in [-2, 2): the timing does not depend on the values, but
  // SiLU's exp must see a realistic spread.
  uint32_t state = 12345u;
  auto next = [&state]() {
    state = state * 1664525u + 1013904223u;
    return static_cast<float>(state >> 8) * (4.0f / 16777216.0f) - 2.0f;
  };
  const auto total = static_cast<size_t>(d.numel());
  std::vector<float> x(total), dy(total), y(total), dx(total);
  std::vector<float> shift(static_cast<size_t>(d.n * d.c)), dshift(shift.size());
  std::vector<float> gamma(static_cast<size_t>(d.c)), beta(gamma.size()), dgamma(gamma.size()),
      dbeta(gamma.size());
  std::vector<float> mean(static_cast<size_t>(d.n * s.groups)), rstd(mean.size());
  for (float& v : x) v = next();
  for (float& v : dy) v = next();
  for (float& v : shift) v = next();
  for (float& v : gamma) v = 1.0f + 0.25f * next();
  for (float& v : beta) v = 0.25f * next();
  const float* sh = with_shift ? shift.data() : nullptr;
  float* dsh = with_shift ? dshift.data() : nullptr;
  using clock = std::chrono::steady_clock;
  double fwd = 0.0, bwd = 0.0;
  for (int64_t it = -1; it < iters; ++it) {  // iteration -1 warms caches and threads
    const auto t0 = clock::now();
    pfgm::cpu::group_norm_forward(s, x.data(), sh, gamma.data(), beta.data(), y.data(), mean.data(),
                                  rstd.data());
    const auto t1 = clock::now();
    pfgm::cpu::group_norm_backward(s, x.data(), sh, gamma.data(), beta.data(), mean.data(),
                                   rstd.data(), dy.data(), dx.data(), dgamma.data(), dbeta.data(),
                                   dsh);
    const auto t2 = clock::now();
    if (it < 0) continue;
    fwd += std::chrono::duration<double, std::milli>(t1 - t0).count();
    bwd += std::chrono::duration<double, std::milli>(t2 - t1).count();
  }
  output(out, "forward_ms", {1})[0] = static_cast<float>(fwd / static_cast<double>(iters));
  output(out, "backward_ms", {1})[0] = static_cast<float>(bwd / static_cast<double>(iters));
});

// Inputs x (any shape) and optional dy; outputs y and dx.
PFGM_OP_CASE("silu", [](const Attrs&, const Tensors& in, Tensors& out) {
  const HostTensor& x = input(in, "x");
  const HostTensor* dy = optional_input(in, "dy");
  if (dy != nullptr) expect_shape("silu", "dy", *dy, x.shape);
  const int64_t count = numel(x.shape);
  pfgm::cpu::silu_forward(count, x.data.data(), output(out, "y", x.shape));
  if (dy != nullptr) {
    pfgm::cpu::silu_backward(count, x.data.data(), dy->data.data(), output(out, "dx", x.shape));
  }
});

// Inputs x [samples, ...] and optional dy; attrs p, seed, step, site, sample_offset, in_place
// (0 / 1: y over a copy of x, dx over a copy of dy). Outputs y, mask [samples, words] (the
// forward's keep-mask, its words' bits as floats; zeros when p = 0, which writes none), and with
// dy: dx (the backward reading the mask) and dx_regen (the backward drawing it again).
PFGM_OP_CASE("dropout", [](const Attrs& a, const Tensors& in, Tensors& out) {
  const std::string op = "dropout";
  const HostTensor& x = input(in, "x");
  expect_batch(op, "x", x);
  const HostTensor* dy = optional_input(in, "dy");
  if (dy != nullptr) expect_shape(op, "dy", *dy, x.shape);
  pfgm::op::DropoutSpec s{};
  s.samples = x.shape[0];
  s.per_sample = numel(x.shape) / s.samples;
  if (s.per_sample > (int64_t{1} << 26))
    pfgm::fail(kShape, op + ": at most 2^26 elements per sample");
  const double p = attr(a, "p");
  if (!(p >= 0.0 && p < 1.0))
    pfgm::fail(kArgument, op + ": p must be in [0, 1), got " + std::to_string(p));
  s.p = static_cast<float>(p);
  if (!(s.p < 1.0f)) pfgm::fail(kArgument, op + ": p rounds to 1 in float32");
  s.seed = static_cast<uint64_t>(int_attr(a, op, "seed", 0, 0, 9007199254740992.0));
  s.sample_offset =
      static_cast<uint64_t>(int_attr(a, op, "sample_offset", 0, 0, 9007199254740992.0));
  s.step = static_cast<uint32_t>(int_attr(a, op, "step", 0, 0, 4294967295.0));
  s.site = static_cast<uint32_t>(int_attr(a, op, "site", 0, 0, 255));
  const bool in_place = int_attr(a, op, "in_place", 0, 0, 1) != 0;
  // The case's own arrays, so that the in-place calls may write over their input.
  auto place = [&](const std::string& name, const HostTensor& from) {
    float* o = output(out, name, x.shape);
    if (in_place) std::copy(from.data.begin(), from.data.end(), o);
    return o;
  };
  const std::vector<int64_t> words{s.samples, pfgm::op::dropout_mask_words(s.per_sample)};
  auto* mask = reinterpret_cast<uint32_t*>(output(out, "mask", words));
  float* y = place("y", x);
  pfgm::cpu::dropout_forward(s, in_place ? y : x.data.data(), y, mask);
  if (dy == nullptr) return;
  float* dx = place("dx", *dy);
  pfgm::cpu::dropout_backward(s, mask, in_place ? dx : dy->data.data(), dx);
  float* dx_regen = place("dx_regen", *dy);
  pfgm::cpu::dropout_backward(s, nullptr, in_place ? dx_regen : dy->data.data(), dx_regen);
});

// Inputs a, b (same shape); attrs alpha, beta; output y = alpha a + beta b.
PFGM_OP_CASE("axpby", [](const Attrs& a, const Tensors& in, Tensors& out) {
  const HostTensor& x = input(in, "a");
  const HostTensor& y = input(in, "b");
  expect_shape("axpby", "b", y, x.shape);
  pfgm::cpu::axpby(numel(x.shape), static_cast<float>(attr(a, "alpha")), x.data.data(),
                   static_cast<float>(attr(a, "beta")), y.data.data(), output(out, "y", x.shape));
});

// Input a; attr alpha; output y = alpha a.
PFGM_OP_CASE("scale", [](const Attrs& a, const Tensors& in, Tensors& out) {
  const HostTensor& x = input(in, "a");
  pfgm::cpu::scale(numel(x.shape), static_cast<float>(attr(a, "alpha")), x.data.data(),
                   output(out, "y", x.shape));
});

// Inputs a [..., ca], b [..., cb] with equal leading dimensions, optional dy [..., ca + cb];
// outputs y and, given dy, da and db (split_channels).
PFGM_OP_CASE("concat_channels", [](const Attrs&, const Tensors& in, Tensors& out) {
  const std::string op = "concat_channels";
  const HostTensor& ta = input(in, "a");
  const HostTensor& tb = input(in, "b");
  if (ta.shape.empty() || tb.shape.size() != ta.shape.size() ||
      !std::equal(ta.shape.begin(), ta.shape.end() - 1, tb.shape.begin())) {
    pfgm::fail(kShape, op + ": a and b must differ only in their last (channel) dimension, got " +
                           shape_text(ta.shape) + " and " + shape_text(tb.shape));
  }
  const int64_t ca = ta.shape.back(), cb = tb.shape.back();
  const int64_t pixels = ca > 0 ? numel(ta.shape) / ca : numel(tb.shape) / std::max<int64_t>(cb, 1);
  std::vector<int64_t> ys = ta.shape;
  ys.back() = ca + cb;
  pfgm::cpu::concat_channels(pixels, ca, ta.data.data(), cb, tb.data.data(), output(out, "y", ys));
  const HostTensor* dy = optional_input(in, "dy");
  if (dy == nullptr) return;
  expect_shape(op, "dy", *dy, ys);
  pfgm::cpu::split_channels(pixels, ca, output(out, "da", ta.shape), cb,
                            output(out, "db", tb.shape), dy->data.data());
});

// Inputs x [n, h, w, c], bias [n, c]; output y.
PFGM_OP_CASE("add_channel_bias", [](const Attrs&, const Tensors& in, Tensors& out) {
  const HostTensor& x = input(in, "x");
  const pfgm::op::Nhwc d = expect_nhwc("add_channel_bias", "x", x);
  const HostTensor& bias = input(in, "bias");
  expect_shape("add_channel_bias", "bias", bias, {d.n, d.c});
  pfgm::cpu::add_channel_bias(d.n, d.h * d.w, d.c, x.data.data(), bias.data.data(),
                              output(out, "y", x.shape));
});

// Input x [n, c, h, w]; output y [n, h, w, c].
PFGM_OP_CASE("nchw_to_nhwc", [](const Attrs&, const Tensors& in, Tensors& out) {
  const HostTensor& x = input(in, "x");
  if (x.shape.size() != 4 || numel(x.shape) <= 0) {
    pfgm::fail(kShape, "nchw_to_nhwc: 'x' must be a non-empty NCHW tensor [n, c, h, w], got " +
                           shape_text(x.shape));
  }
  const int64_t n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3];
  pfgm::cpu::nchw_to_nhwc(n, c, h, w, x.data.data(), output(out, "y", {n, h, w, c}));
});

// Input x [n, h, w, c]; output y [n, c, h, w].
PFGM_OP_CASE("nhwc_to_nchw", [](const Attrs&, const Tensors& in, Tensors& out) {
  const HostTensor& x = input(in, "x");
  const pfgm::op::Nhwc d = expect_nhwc("nhwc_to_nchw", "x", x);
  pfgm::cpu::nhwc_to_nchw(d.n, d.c, d.h, d.w, x.data.data(),
                          output(out, "y", {d.n, d.c, d.h, d.w}));
});

// Input x [n]; attrs channels, max_positions (10000), endpoint (false); output y [n, channels].
PFGM_OP_CASE("positional_embedding", [](const Attrs& a, const Tensors& in, Tensors& out) {
  const std::string op = "positional_embedding";
  const HostTensor& x = input(in, "x");
  if (x.shape.size() != 1) pfgm::fail(kShape, op + ": x must be [n], got " + shape_text(x.shape));
  const bool endpoint = flag(a, "endpoint", false);
  const int64_t channels = int_attr(a, op, "channels", 0, endpoint ? 4 : 2, 1 << 20);
  if (channels % 2 != 0) pfgm::fail(kShape, op + ": channels must be even");
  const double max_positions = attr(a, "max_positions", 10000.0);
  if (!(max_positions > 0.0 && std::isfinite(max_positions))) {
    pfgm::fail(kArgument, op + ": max_positions must be finite and > 0");
  }
  pfgm::cpu::positional_embedding(x.shape[0], channels, max_positions, endpoint, x.data.data(),
                                  output(out, "y", {x.shape[0], channels}));
});

// Inputs x [n], freqs [channels / 2]; output y [n, channels].
PFGM_OP_CASE("fourier_embedding", [](const Attrs&, const Tensors& in, Tensors& out) {
  const std::string op = "fourier_embedding";
  const HostTensor& x = input(in, "x");
  const HostTensor& freqs = input(in, "freqs");
  if (x.shape.size() != 1) pfgm::fail(kShape, op + ": x must be [n], got " + shape_text(x.shape));
  if (freqs.shape.size() != 1 || freqs.shape[0] < 1) {
    pfgm::fail(kShape, op + ": freqs must be [channels / 2], got " + shape_text(freqs.shape));
  }
  const int64_t channels = 2 * freqs.shape[0];
  pfgm::cpu::fourier_embedding(x.shape[0], channels, freqs.data.data(), x.data.data(),
                               output(out, "y", {x.shape[0], channels}));
});

// Inputs pred, target [n, ...], weight [n]; outputs loss [1], per_sample [n], dpred.
PFGM_OP_CASE("weighted_mse", [](const Attrs&, const Tensors& in, Tensors& out) {
  const std::string op = "weighted_mse";
  const HostTensor& pred = input(in, "pred");
  const HostTensor& target = input(in, "target");
  const HostTensor& weight = input(in, "weight");
  expect_batch(op, "pred", pred);
  expect_shape(op, "target", target, pred.shape);
  const int64_t n = pred.shape[0], per = numel(pred.shape) / n;
  expect_shape(op, "weight", weight, {n});
  const double loss =
      pfgm::cpu::weighted_mse_forward(n, per, pred.data.data(), target.data.data(),
                                      weight.data.data(), output(out, "per_sample", {n}));
  output(out, "loss", {1})[0] = static_cast<float>(loss);
  pfgm::cpu::weighted_mse_backward(n, per, pred.data.data(), target.data.data(), weight.data.data(),
                                   output(out, "dpred", pred.shape));
});

}  // namespace
