// Op cases for the inference ops of Inception-v3: pooling (pool.h), bilinear resize (resize.h) and
// the rectangular, ReLU-fused inference convolution (conv_inference.h). The golden test
// (test/native/ops-pool.test.ts) runs them against PyTorch
// through runOp; every case validates its inputs, so a bad shape comes back as ERR_PFGM_SHAPE.
//
// Geometry attributes take one number (both axes) or two ([height, width]):
//   kernel, stride (default 1 for convolutions, the kernel for pooling as in PyTorch), pad (default
//   0).
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "errors.h"
#include "op_cases.h"
#include "ops/conv_inference.h"
#include "ops/pool.h"
#include "ops/resize.h"

namespace pfgm::opcases {
namespace {

using op::Nhwc;

struct Pair {
  int64_t h, w;
};

// Attribute `name` as one or two whole numbers >= lo; `fallback` when absent.
Pair pair_attr(const Attrs& a, const std::string& op, const std::string& name, int64_t lo,
               Pair fallback) {
  if (a.count(name) == 0) return fallback;
  const std::vector<double> v = attr_list(a, name);
  const bool whole = !v.empty() && v.size() <= 2 && [&] {
    for (double d : v) {
      if (!(d >= static_cast<double>(lo) && d < 2147483648.0) || d != std::floor(d)) return false;
    }
    return true;
  }();
  if (!whole) {
    fail(code::kArgument, op + ": attribute '" + name +
                              "' must be one or two whole numbers >= " + std::to_string(lo));
  }
  return {static_cast<int64_t>(v[0]), static_cast<int64_t>(v.size() == 2 ? v[1] : v[0])};
}

op::Nhwc nhwc_input(const std::string& op, const HostTensor& x) {
  if (x.shape.size() != 4 || x.shape[0] < 1 || x.shape[1] < 1 || x.shape[2] < 1 || x.shape[3] < 1) {
    fail(code::kShape,
         op + ": 'x' must be a non-empty NHWC tensor [n, h, w, c], got " + shape_text(x.shape));
  }
  return {x.shape[0], x.shape[1], x.shape[2], x.shape[3]};
}

cpu::Pool2dShape pool_shape(const std::string& op, const Attrs& a, const HostTensor& x) {
  const op::Nhwc in = nhwc_input(op, x);
  const Pair k = pair_attr(a, op, "kernel", 1, {0, 0});
  if (k.h == 0) fail(code::kArgument, op + ": attribute 'kernel' is required");
  const Pair s = pair_attr(a, op, "stride", 1, k);  // PyTorch: stride defaults to the kernel
  const Pair p = pair_attr(a, op, "pad", 0, {0, 0});
  cpu::Pool2dShape shape{in, k.h, k.w, s.h, s.w, p.h, p.w};
  cpu::check_pool_shape(shape);
  return shape;
}

// inputs x [n, h, w, c]; attrs kernel, stride, pad; output y [n, oh, ow, c].
void max_pool_case(const Attrs& a, const Tensors& in, Tensors& out) {
  const HostTensor& x = input(in, "x");
  const cpu::Pool2dShape s = pool_shape("max_pool2d", a, x);
  cpu::max_pool2d_forward(s, x.data.data(), output(out, "y", {s.in.n, s.oh(), s.ow(), s.in.c}));
}

// As max_pool2d, plus attr count_include_pad (0 or 1, default 1 as in PyTorch).
void avg_pool_case(const Attrs& a, const Tensors& in, Tensors& out) {
  const HostTensor& x = input(in, "x");
  const cpu::Pool2dShape s = pool_shape("avg_pool2d", a, x);
  const bool include_pad = attr(a, "count_include_pad", 1.0) != 0.0;
  cpu::avg_pool2d_forward(s, include_pad, x.data.data(),
                          output(out, "y", {s.in.n, s.oh(), s.ow(), s.in.c}));
}

// inputs x [n, h, w, c]; attr size [oh, ow]; output y [n, oh, ow, c].
void adaptive_avg_pool_case(const Attrs& a, const Tensors& in, Tensors& out) {
  const HostTensor& x = input(in, "x");
  const op::Nhwc s = nhwc_input("adaptive_avg_pool2d", x);
  const Pair size = pair_attr(a, "adaptive_avg_pool2d", "size", 1, {1, 1});
  cpu::adaptive_avg_pool2d_forward(s, size.h, size.w, x.data.data(),
                                   output(out, "y", {s.n, size.h, size.w, s.c}));
}

// inputs x [n, h, w, c]; attr size [oh, ow] (required); output y [n, oh, ow, c].
void resize_case(const Attrs& a, const Tensors& in, Tensors& out) {
  const HostTensor& x = input(in, "x");
  const op::Nhwc s = nhwc_input("resize_bilinear", x);
  const Pair size = pair_attr(a, "resize_bilinear", "size", 1, {0, 0});
  if (size.h == 0) fail(code::kArgument, "resize_bilinear: attribute 'size' is required");
  cpu::resize_bilinear_forward(s, size.h, size.w, x.data.data(),
                               output(out, "y", {s.n, size.h, size.w, s.c}));
}

// inputs x [n, h, w, cin], weight [cout, cin, kh, kw], bias [cout] (optional); attrs stride, pad,
// relu (0 or 1); output y [n, oh, ow, cout].
void conv_inference_case(const Attrs& a, const Tensors& in, Tensors& out) {
  const std::string op = "conv2d_inference";
  const HostTensor& x = input(in, "x");
  const HostTensor& weight = input(in, "weight");
  const HostTensor* bias = optional_input(in, "bias");
  const op::Nhwc s = nhwc_input(op, x);
  if (weight.shape.size() != 4 || weight.shape[1] != s.c) {
    fail(code::kShape, op + ": 'weight' must be [cout, " + std::to_string(s.c) + ", kh, kw], got " +
                           shape_text(weight.shape));
  }
  const Pair stride = pair_attr(a, op, "stride", 1, {1, 1});
  const Pair pad = pair_attr(a, op, "pad", 0, {0, 0});
  const cpu::ConvGeometry g{s.c,      weight.shape[0], weight.shape[2], weight.shape[3],
                            stride.h, stride.w,        pad.h,           pad.w};
  const cpu::InferenceConv2d conv(g, weight.data,
                                  bias != nullptr ? bias->data : std::vector<float>{},
                                  attr(a, "relu", 0.0) != 0.0);
  if (s.h + 2 * pad.h < g.kh || s.w + 2 * pad.w < g.kw) {
    fail(code::kShape, op + ": input " + shape_text(x.shape) +
                           " padded is smaller than the kernel " + shape_text(weight.shape));
  }
  conv.forward(s.n, s.h, s.w, x.data.data(), output(out, "y", {s.n, g.oh(s.h), g.ow(s.w), g.cout}));
}

PFGM_OP_CASE("max_pool2d", max_pool_case);
PFGM_OP_CASE("avg_pool2d", avg_pool_case);
PFGM_OP_CASE("adaptive_avg_pool2d", adaptive_avg_pool_case);
PFGM_OP_CASE("resize_bilinear", resize_case);
PFGM_OP_CASE("conv2d_inference", conv_inference_case);

}  // namespace
}  // namespace pfgm::opcases
