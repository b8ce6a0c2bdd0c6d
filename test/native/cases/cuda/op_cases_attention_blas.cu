// The CUDA op case `attention_blas`: cuda/libs/attention_blas.cu's cuBLAS attention with the
// inputs, attributes and outputs of the `attention` case (cases/attention_cases.cc,
// op_cases_kernels.cu) plus the math mode, so test/gpu/attention-blas-parity.test.ts runs one set
// of inputs through it and through the CPU engine:
//   inputs   qkv [n, h, w, 3c], optional dout [n, h, w, c]
//   attrs    heads (1), math: 0 fp32 (default), 1 tf32, 2 bf16 (ops.h's MathMode), and inference
//            (0; GPU only): 1 runs the forward with weights = null, as a network in eval mode does
//            (the weights then live in pooled scratch), and gives `out` alone; no dout then
//   outputs  out [n, h, w, c], weights [n, heads, hw, hw], and dqkv when dout is given.
// Its CPU twin of the same name (cases/attention_blas_cases.cc) runs the CPU attention. Inputs are
// validated as on the CPU, so a bad shape is ERR_PFGM_SHAPE here too; without cuBLAS in the build
// the op refuses with ERR_PFGM_DEVICE.
#include <string>

#include "cases/cuda/op_case_session.cuh"
#include "cases/op_cases.h"
#include "libs/attention_blas.cuh"

namespace pfgm::cuda {
namespace {

using opcase::int_attr;
using opcase::Session;
using opcases::Attrs;
using opcases::HostTensor;
using opcases::Tensors;

PFGM_GPU_OP_CASE("attention_blas", [](const Attrs& attrs, const Tensors& in, Tensors& out) {
  const std::string op = "attention_blas";
  const HostTensor& qkv = opcases::input(in, "qkv");
  if (qkv.shape.size() != 4) {
    fail(code::kShape, op + ": qkv must be [n, h, w, c], got " + opcases::shape_text(qkv.shape));
  }
  for (int64_t d : qkv.shape) {
    if (d < 1)
      fail(code::kShape, op + ": qkv has an empty dimension " + opcases::shape_text(qkv.shape));
  }
  const int64_t n = qkv.shape[0], h = qkv.shape[1], w = qkv.shape[2], c3 = qkv.shape[3];
  const int64_t heads = int_attr(attrs, op, "heads", 1, 1, 1e9);
  const MathMode math = static_cast<MathMode>(int_attr(attrs, op, "math", 0, 0, 2));
  const bool inference = int_attr(attrs, op, "inference", 0, 0, 1) == 1;
  if (c3 % 3 != 0 || (c3 / 3) % heads != 0) {
    fail(code::kShape, op + ": qkv's channels " + std::to_string(c3) +
                           " must be 3 c with the heads (" + std::to_string(heads) +
                           ") dividing c");
  }
  const op::AttentionShape s{n, h * w, c3 / 3, heads};
  const HostTensor* dout = opcases::optional_input(in, "dout");
  if (dout != nullptr) opcases::require_shape(op, "dout", *dout, {n, h, w, s.c});
  if (inference && dout != nullptr) {
    fail(code::kArgument,
         op + ": inference keeps no weights, so it takes no dout (the backward needs them)");
  }
  Session ss;
  const float* q = ss.in(qkv);
  float* y = ss.out("out", {n, h, w, s.c});
  if (inference) {
    attention_forward_blas(s, q, y, nullptr, math);
    ss.finish(op.c_str(), out);
    return;
  }
  float* weights = ss.out("weights", {n, heads, s.hw, s.hw});
  attention_forward_blas(s, q, y, weights, math);
  if (dout != nullptr)
    attention_backward_blas(s, q, weights, ss.in(*dout), ss.out("dqkv", qkv.shape), math);
  ss.finish(op.c_str(), out);
});

}  // namespace
}  // namespace pfgm::cuda
