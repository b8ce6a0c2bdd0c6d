// Op cases for attention (attention.h) and FIR resampling (resample.h). Each runs the forward and,
// when the upstream gradient is given, the backward; leaving it out gives the forward alone (the
// finite-difference tests need only that).
#include <cmath>
#include <string>
#include <vector>

#include "errors.h"
#include "op_cases.h"
#include "ops/attention.h"
#include "ops/resample.h"

namespace pfgm::opcases {
namespace {

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

op::Nhwc nhwc(const std::string& op, const std::string& name, const HostTensor& t) {
  if (t.shape.size() != 4) {
    fail(code::kShape, op + ": " + name + " must be [n, h, w, c], got " + shape_str(t.shape));
  }
  for (int64_t d : t.shape) {
    if (d < 1)
      fail(code::kShape, op + ": " + name + " has an empty dimension " + shape_str(t.shape));
  }
  return {t.shape[0], t.shape[1], t.shape[2], t.shape[3]};
}

void expect_shape(const std::string& op, const std::string& name, const HostTensor& t,
                  const std::vector<int64_t>& want) {
  if (t.shape != want) {
    fail(code::kShape,
         op + ": " + name + " must be " + shape_str(want) + ", got " + shape_str(t.shape));
  }
}

int64_t positive_int(const std::string& op, const std::string& name, double v) {
  if (!(v >= 1) || v != std::floor(v) || v > 1e9) {
    fail(code::kArgument, op + ": attribute '" + name + "' must be a positive integer");
  }
  return static_cast<int64_t>(v);
}

PFGM_OP_CASE("attention", [](const Attrs& attrs, const Tensors& in, Tensors& out) {
  const HostTensor& qkv = input(in, "qkv");
  const op::Nhwc x = nhwc("attention", "qkv", qkv);
  const int64_t heads = positive_int("attention", "heads", attr(attrs, "heads", 1));
  if (x.c % 3 != 0 || (x.c / 3) % heads != 0) {
    fail(code::kShape, "attention: qkv's channels " + std::to_string(x.c) +
                           " must be 3 c with the heads (" + std::to_string(heads) +
                           ") dividing c");
  }
  const op::AttentionShape s{x.n, x.h * x.w, x.c / 3, heads};
  const HostTensor* dout = optional_input(in, "dout");
  if (dout != nullptr) expect_shape("attention", "dout", *dout, {x.n, x.h, x.w, s.c});

  float* y = output(out, "out", {x.n, x.h, x.w, s.c});
  float* w = output(out, "weights", {x.n, heads, s.hw, s.hw});
  cpu::attention_forward(s, qkv.data.data(), y, w);
  if (dout != nullptr) {
    float* dqkv = output(out, "dqkv", qkv.shape);
    cpu::attention_backward(s, qkv.data.data(), w, dout->data.data(), dqkv);
  }
});

enum class Direction { kDown, kUp };

void fir_case(Direction dir, const Attrs& attrs, const Tensors& in, Tensors& out) {
  const std::string op = dir == Direction::kDown ? "fir_down" : "fir_up";
  const HostTensor& x = input(in, "x");
  std::vector<float> f;
  for (double v : attr_list(attrs, "filter")) f.push_back(static_cast<float>(v));
  if (f.empty()) fail(code::kArgument, op + ": attribute 'filter' needs at least one tap");
  const double pad = attr(attrs, "pad", (static_cast<double>(f.size()) - 1) / 2);
  if (!(pad >= 0) || pad != std::floor(pad)) {
    fail(code::kArgument, op + ": attribute 'pad' must be a non-negative integer");
  }
  const op::ResampleShape s{nhwc(op, "x", x), f.data(), static_cast<int64_t>(f.size()),
                            static_cast<int64_t>(pad)};
  const bool down = dir == Direction::kDown;
  const int64_t oh = down ? s.down_h() : s.up_h(), ow = down ? s.down_w() : s.up_w();
  // The ops check this too; here the message names the case's tensors.
  if (oh < 1 || ow < 1 || (down && (s.in.h + 2 * s.pad < s.taps || s.in.w + 2 * s.pad < s.taps))) {
    fail(code::kShape, op + ": x " + shape_str(x.shape) + " is too small for " +
                           std::to_string(s.taps) + " taps with pad " + std::to_string(s.pad));
  }
  const std::vector<int64_t> yshape{s.in.n, oh, ow, s.in.c};
  const HostTensor* dy = optional_input(in, "dy");
  if (dy != nullptr) expect_shape(op, "dy", *dy, yshape);

  float* y = output(out, "y", yshape);
  (down ? cpu::fir_down_forward : cpu::fir_up_forward)(s, x.data.data(), y);
  if (dy != nullptr) {
    float* dx = output(out, "dx", x.shape);
    (down ? cpu::fir_down_backward : cpu::fir_up_backward)(s, dy->data.data(), dx);
  }
}

PFGM_OP_CASE("fir_down", [](const Attrs& a, const Tensors& in, Tensors& out) {
  fir_case(Direction::kDown, a, in, out);
});
PFGM_OP_CASE("fir_up", [](const Attrs& a, const Tensors& in, Tensors& out) {
  fir_case(Direction::kUp, a, in, out);
});

}  // namespace
}  // namespace pfgm::opcases
