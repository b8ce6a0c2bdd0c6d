// CUDA twins of the op cases for attention, FIR resampling (cases/attention_cases.cc), the noise
// embeddings (cases/basic_cases.cc) and label dropout (cases/label_cases.cc): the same names,
// inputs, attributes, outputs and input checks as the CPU cases, so
// test/gpu/attention-resample-parity.test.ts runs one set of inputs on both devices.
#include <cmath>
#include <string>
#include <vector>

#include "cases/cuda/op_case_session.cuh"
#include "cases/label_case.h"
#include "cases/op_cases.h"
#include "ops.h"

namespace pfgm::cuda {
namespace {

using opcase::int_attr;
using opcase::Session;
using opcases::attr;
using opcases::attr_list;
using opcases::Attrs;
using opcases::HostTensor;
using opcases::input;
using opcases::optional_input;
using opcases::require_shape;
using opcases::shape_text;
using opcases::Tensors;

op::Nhwc nhwc(const std::string& op, const std::string& name, const HostTensor& t) {
  if (t.shape.size() != 4)
    fail(code::kShape, op + ": " + name + " must be [n, h, w, c], got " + shape_text(t.shape));
  for (int64_t d : t.shape) {
    if (d < 1)
      fail(code::kShape, op + ": " + name + " has an empty dimension " + shape_text(t.shape));
  }
  return {t.shape[0], t.shape[1], t.shape[2], t.shape[3]};
}

// ---- attention -------------------------------------------------------------------------------

// Inputs qkv [n, h, w, 3c], optional dout [n, h, w, c]; attr heads (1); outputs out, weights
// [n, heads, hw, hw], and dqkv when dout is given.
PFGM_GPU_OP_CASE("attention", [](const Attrs& attrs, const Tensors& in, Tensors& out) {
  const HostTensor& qkv = input(in, "qkv");
  const op::Nhwc x = nhwc("attention", "qkv", qkv);
  const int64_t heads = int_attr(attrs, "attention", "heads", 1, 1, 1e9);
  if (x.c % 3 != 0 || (x.c / 3) % heads != 0) {
    fail(code::kShape, "attention: qkv's channels " + std::to_string(x.c) +
                           " must be 3 c with the heads (" + std::to_string(heads) +
                           ") dividing c");
  }
  const op::AttentionShape s{x.n, x.h * x.w, x.c / 3, heads};
  const HostTensor* dout = optional_input(in, "dout");
  if (dout != nullptr) require_shape("attention", "dout", *dout, {x.n, x.h, x.w, s.c});
  Session ss;
  const float* q = ss.in(qkv);
  float* y = ss.out("out", {x.n, x.h, x.w, s.c});
  float* w = ss.out("weights", {x.n, heads, s.hw, s.hw});
  // Qualified: the cpu:: argument types would otherwise bring in the CPU op by ADL.
  cuda::attention_forward(s, q, y, w);
  if (dout != nullptr) cuda::attention_backward(s, q, w, ss.in(*dout), ss.out("dqkv", qkv.shape));
  ss.finish("attention", out);
});

// ---- FIR resampling --------------------------------------------------------------------------

// Input x [n, h, w, c], optional dy; attrs filter (taps), pad ((taps - 1) / 2); outputs y, dx.
void fir_case(bool down, const Attrs& attrs, const Tensors& in, Tensors& out) {
  const std::string op = down ? "fir_down" : "fir_up";
  const HostTensor& x = input(in, "x");
  std::vector<float> f;
  for (double v : attr_list(attrs, "filter")) f.push_back(static_cast<float>(v));
  if (f.empty()) fail(code::kArgument, op + ": attribute 'filter' needs at least one tap");
  const double pad = attr(attrs, "pad", (static_cast<double>(f.size()) - 1) / 2);
  if (!(pad >= 0) || pad != std::floor(pad))
    fail(code::kArgument, op + ": attribute 'pad' must be a non-negative integer");
  // f stays on the host: the ops copy the taps into a kernel argument.
  const op::ResampleShape s{nhwc(op, "x", x), f.data(), static_cast<int64_t>(f.size()),
                            static_cast<int64_t>(pad)};
  const int64_t oh = down ? s.down_h() : s.up_h(), ow = down ? s.down_w() : s.up_w();
  if (oh < 1 || ow < 1 || (down && (s.in.h + 2 * s.pad < s.taps || s.in.w + 2 * s.pad < s.taps))) {
    fail(code::kShape, op + ": x " + shape_text(x.shape) + " is too small for " +
                           std::to_string(s.taps) + " taps with pad " + std::to_string(s.pad));
  }
  const std::vector<int64_t> yshape{s.in.n, oh, ow, s.in.c};
  const HostTensor* dy = optional_input(in, "dy");
  if (dy != nullptr) require_shape(op, "dy", *dy, yshape);
  Session ss;
  (down ? cuda::fir_down_forward : cuda::fir_up_forward)(s, ss.in(x), ss.out("y", yshape));
  if (dy != nullptr)
    (down ? cuda::fir_down_backward : cuda::fir_up_backward)(s, ss.in(*dy), ss.out("dx", x.shape));
  ss.finish(op.c_str(), out);
}

PFGM_GPU_OP_CASE("fir_down", [](const Attrs& a, const Tensors& in, Tensors& out) {
  fir_case(true, a, in, out);
});
PFGM_GPU_OP_CASE("fir_up", [](const Attrs& a, const Tensors& in, Tensors& out) {
  fir_case(false, a, in, out);
});

// ---- embeddings ------------------------------------------------------------------------------

// Input x [n]; attrs channels, max_positions (10000), endpoint (false); output y [n, channels].
PFGM_GPU_OP_CASE("positional_embedding", [](const Attrs& a, const Tensors& in, Tensors& out) {
  const std::string op = "positional_embedding";
  const HostTensor& x = input(in, "x");
  if (x.shape.size() != 1) fail(code::kShape, op + ": x must be [n], got " + shape_text(x.shape));
  const bool endpoint = attr(a, "endpoint", 0.0) != 0.0;
  const int64_t channels = int_attr(a, op, "channels", 0, endpoint ? 4 : 2, 1 << 20);
  if (channels % 2 != 0) fail(code::kShape, op + ": channels must be even");
  const double max_positions = attr(a, "max_positions", 10000.0);
  if (!(max_positions > 0.0 && std::isfinite(max_positions))) {
    fail(code::kArgument, op + ": max_positions must be finite and > 0");
  }
  Session ss;
  cuda::positional_embedding(x.shape[0], channels, max_positions, endpoint, ss.in(x),
                             ss.out("y", {x.shape[0], channels}));
  ss.finish(op.c_str(), out);
});

// Inputs x [n], freqs [channels / 2]; output y [n, channels].
PFGM_GPU_OP_CASE("fourier_embedding", [](const Attrs&, const Tensors& in, Tensors& out) {
  const std::string op = "fourier_embedding";
  const HostTensor& x = input(in, "x");
  const HostTensor& freqs = input(in, "freqs");
  if (x.shape.size() != 1) fail(code::kShape, op + ": x must be [n], got " + shape_text(x.shape));
  if (freqs.shape.size() != 1 || freqs.shape[0] < 1) {
    fail(code::kShape, op + ": freqs must be [channels / 2], got " + shape_text(freqs.shape));
  }
  const int64_t channels = 2 * freqs.shape[0];
  Session ss;
  cuda::fourier_embedding(x.shape[0], channels, ss.in(freqs), ss.in(x),
                          ss.out("y", {x.shape[0], channels}));
  ss.finish(op.c_str(), out);
});

// Optional input labels [n, label_dim]; attrs as cases/label_case.h; output out [n, label_dim].
PFGM_GPU_OP_CASE("label_input", [](const Attrs& a, const Tensors& in, Tensors& out) {
  const HostTensor* labels = optional_input(in, "labels");
  const op::LabelInputSpec s = opcases::label_case_spec(a, labels);
  Session ss;
  cuda::label_input(s, ss.in_opt(labels), ss.out("out", {s.n, s.label_dim}));
  ss.finish("label_input", out);
});

}  // namespace
}  // namespace pfgm::cuda
