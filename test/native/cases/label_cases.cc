// Op case for map_label's input with label dropout (embedding.h's label_input): the reference the
// CUDA twin is compared with, and what test/gpu/attention-resample-parity.test.ts checks against
// an independent JavaScript Philox.
#include "label_case.h"
#include "op_cases.h"
#include "ops/embedding.h"

namespace pfgm::opcases {
namespace {

PFGM_OP_CASE("label_input", [](const Attrs& a, const Tensors& in, Tensors& out) {
  const HostTensor* labels = optional_input(in, "labels");
  const op::LabelInputSpec s = label_case_spec(a, labels);
  cpu::label_input(s, labels != nullptr ? labels->data.data() : nullptr,
                   output(out, "out", {s.n, s.label_dim}));
});

}  // namespace
}  // namespace pfgm::opcases
