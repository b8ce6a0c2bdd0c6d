// Op case `bf16_round`: y = float(bf16(x)), through ops/bf16_math.h, the rounding the CUDA
// backend's bf16 autocast uses (cuda/kernels/bf16.cu has the twin). It lets the CPU check that
// rounding against an independent model on any machine (test/native/gpu-conv-linear.test.ts).
#include "op_cases.h"
#include "ops/bf16_math.h"

namespace pfgm::opcases {
namespace {

// input x (any shape); output y of the same shape.
void bf16_round_case(const Attrs&, const Tensors& in, Tensors& out) {
  const HostTensor& x = input(in, "x");
  float* y = output(out, "y", x.shape);
  for (size_t i = 0; i < x.data.size(); ++i) y[i] = bf16::to_float(bf16::from_float(x.data[i]));
}

PFGM_OP_CASE("bf16_round", bf16_round_case);

}  // namespace
}  // namespace pfgm::opcases
