// The CUDA twins of the op cases `conv2d` and `linear` (cases/conv_cases.cc): the same inputs,
// attributes and outputs, so test/gpu/conv-linear-parity.test.ts runs one set of inputs on both
// devices. Two attributes only the GPU reads (the CPU cases ignore attributes they do not know):
//   math        0 fp32 (default), 1 tf32, 2 bf16 (ops.h's MathMode)
//   plan_stats  conv2d only: 1 adds output `plan` = [created (1 when this call made the cuDNN plan,
//               0 when it reused the cached one), forward, backward-data and backward-filter
//               algorithm ids kept after this call's runs (-1: not run), their three deterministic
//               flags, plans cached], `plan_workspace` = the three workspaces in bytes, and per
//               direction `plan_variant` (ConvPlanInfo::variant), `plan_rejected` (candidates that
//               refused to run in the choice), `plan_candidates` (how many were offered) and
//               `plan_ms` (the kept algorithm's time when the choice was timed, else -1).
// Inputs are validated as on the CPU, so a bad shape is ERR_PFGM_SHAPE here too.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "cases/cuda/op_case_session.cuh"
#include "cases/op_cases.h"
#include "kernels/dense.cuh"
#include "ops.h"

namespace pfgm::cuda {
namespace {

using opcase::Session;
using opcases::Attrs;
using opcases::HostTensor;
using opcases::input;
using opcases::optional_input;
using opcases::require_shape;
using opcases::Tensors;

// A required whole-number attribute >= lo, as the CPU case reads it (conv_cases.cc).
int64_t whole_attr(const Attrs& a, const std::string& name, int64_t lo) {
  const double v = opcases::attr(a, name);
  if (!(v >= static_cast<double>(lo) && v < 2147483648.0) || v != std::floor(v)) {
    fail(code::kArgument,
         "attribute '" + name + "' must be a whole number >= " + std::to_string(lo));
  }
  return static_cast<int64_t>(v);
}

MathMode math_attr(const Attrs& a, const std::string& op) {
  return static_cast<MathMode>(opcase::int_attr(a, op, "math", 0, 0, 2));
}

void expect_rank(const char* op, const char* name, const HostTensor& t, size_t rank) {
  if (t.shape.size() != rank) {
    fail(code::kShape, std::string(op) + ": " + name + " has shape " +
                           opcases::shape_text(t.shape) + ", expected rank " +
                           std::to_string(rank));
  }
}

PFGM_GPU_OP_CASE("conv2d", [](const Attrs& a, const Tensors& in, Tensors& out) {
  const HostTensor& x = input(in, "x");
  const HostTensor& weight = input(in, "weight");
  const HostTensor* bias = optional_input(in, "bias");
  const HostTensor* dy = optional_input(in, "dy");
  expect_rank("conv2d", "x", x, 4);
  expect_rank("conv2d", "weight", weight, 4);
  const op::Conv2dShape s{x.shape[0],
                          x.shape[1],
                          x.shape[2],
                          x.shape[3],
                          weight.shape[0],
                          whole_attr(a, "k", 1),
                          whole_attr(a, "stride", 1),
                          whole_attr(a, "pad", 0)};
  require_shape("conv2d", "weight", weight, {s.cout, s.cin, s.k, s.k});
  if (bias != nullptr) require_shape("conv2d", "bias", *bias, {s.cout});
  if (s.h + 2 * s.pad < s.k || s.w + 2 * s.pad < s.k) {
    fail(code::kShape, "conv2d: input " + opcases::shape_text(x.shape) + " padded by " +
                           std::to_string(s.pad) + " is smaller than the kernel " +
                           std::to_string(s.k));
  }
  const std::vector<int64_t> y_shape{s.n, s.oh(), s.ow(), s.cout};
  if (dy != nullptr) require_shape("conv2d", "dy", *dy, y_shape);
  const MathMode math = math_attr(a, "conv2d");
  const bool stats = opcases::attr(a, "plan_stats", 0) != 0;
  // Whether this call makes the plan is known before it runs; what it keeps, only after.
  const bool created = stats && conv2d_plan(s, math).created;
  Session d;
  const float* dx_in = d.in(x);
  const float* dw_in = d.in(weight);
  const float* db_in = d.in_opt(bias);
  conv2d_forward(s, dx_in, dw_in, db_in, d.out("y", y_shape), math);
  if (dy != nullptr) {
    const float* ddy = d.in(*dy);
    float* dx = d.out("dx", x.shape);
    float* dweight = d.out("dweight", weight.shape);
    float* dbias = bias != nullptr ? d.out("dbias", {s.cout}) : nullptr;
    conv2d_backward(s, dx_in, dw_in, ddy, dx, dweight, dbias, math);
  }
  if (stats) {
    const ConvPlanInfo info = conv2d_plan(s, math);
    float* plan = opcases::output(out, "plan", {8});
    plan[0] = created ? 1.0f : 0.0f;
    float* ws = opcases::output(out, "plan_workspace", {3});
    float* variant = opcases::output(out, "plan_variant", {3});
    float* rejected = opcases::output(out, "plan_rejected", {3});
    float* offered = opcases::output(out, "plan_candidates", {3});
    float* ms = opcases::output(out, "plan_ms", {3});
    for (int i = 0; i < 3; ++i) {
      plan[1 + i] = static_cast<float>(info.algo[i]);
      plan[4 + i] = info.deterministic[i] ? 1.0f : 0.0f;
      ws[i] = static_cast<float>(info.workspace_bytes[i]);
      variant[i] = static_cast<float>(info.variant[i]);
      rejected[i] = static_cast<float>(info.rejected[i]);
      offered[i] = static_cast<float>(info.candidates[i]);
      ms[i] = info.milliseconds[i];
    }
    plan[7] = static_cast<float>(info.plans);
  }
  d.finish("conv2d", out);
});

PFGM_GPU_OP_CASE("linear", [](const Attrs& a, const Tensors& in, Tensors& out) {
  const HostTensor& x = input(in, "x");
  const HostTensor& weight = input(in, "weight");
  const HostTensor* bias = optional_input(in, "bias");
  const HostTensor* dy = optional_input(in, "dy");
  expect_rank("linear", "x", x, 2);
  expect_rank("linear", "weight", weight, 2);
  const op::LinearShape s{x.shape[0], x.shape[1], weight.shape[0]};
  require_shape("linear", "weight", weight, {s.out, s.in});
  if (bias != nullptr) require_shape("linear", "bias", *bias, {s.out});
  if (dy != nullptr) require_shape("linear", "dy", *dy, {s.rows, s.out});
  const MathMode math = math_attr(a, "linear");
  Session d;
  const float* dx_in = d.in(x);
  const float* dw_in = d.in(weight);
  const float* db_in = d.in_opt(bias);
  linear_forward(s, dx_in, dw_in, db_in, d.out("y", {s.rows, s.out}), math);
  if (dy != nullptr) {
    const float* ddy = d.in(*dy);
    float* dx = d.out("dx", x.shape);
    float* dweight = d.out("dweight", weight.shape);
    float* dbias = bias != nullptr ? d.out("dbias", {s.out}) : nullptr;
    linear_backward(s, dx_in, dw_in, ddy, dx, dweight, dbias, math);
  }
  d.finish("linear", out);
});

// y = float(bf16(x)) through cuda/kernels/bf16.cu's conversion kernels, the twin of
// cases/bf16_cases.cc.
PFGM_GPU_OP_CASE("bf16_round", [](const Attrs&, const Tensors& in, Tensors& out) {
  const HostTensor& x = input(in, "x");
  const int64_t count = opcases::numel(x.shape);
  Session d;
  const float* dx = d.in(x);
  uint16_t* bits = d.scratch<uint16_t>(count);
  gpu::f32_to_bf16(count, dx, bits);
  gpu::bf16_to_f32_bias(count, 1, bits, nullptr, d.out("y", x.shape));
  d.finish("bf16_round", out);
});

}  // namespace
}  // namespace pfgm::cuda
