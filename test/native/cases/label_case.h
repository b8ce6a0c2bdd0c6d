// The `label_input` op case's arguments, parsed once for the CPU case (label_cases.cc) and its
// CUDA twin (cases/cuda/op_cases_kernels.cu), so both accept and refuse exactly the same inputs.
//   inputs: labels [n, label_dim] (optional: without it, attributes n and label_dim give the
//           shape and the output is zeros, as for an unconditional call)
//   attrs:  p (0), training (0), seed, sample_offset (integers < 2^53), step (< 2^32)
//   output: out [n, label_dim]
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "errors.h"
#include "op_cases.h"
#include "ops/embedding.h"

namespace pfgm::opcases {

inline int64_t label_case_int(const Attrs& a, const std::string& name, double fallback, double hi) {
  const double v = attr(a, name, fallback);
  if (!(v >= 0 && v <= hi) || v != std::floor(v)) {
    fail(code::kArgument, "label_input: attribute '" + name + "' must be an integer in [0, " +
                              std::to_string(static_cast<uint64_t>(hi)) + "]");
  }
  return static_cast<int64_t>(v);
}

inline op::LabelInputSpec label_case_spec(const Attrs& a, const HostTensor* labels) {
  op::LabelInputSpec s;
  if (labels != nullptr) {
    if (labels->shape.size() != 2 || labels->shape[1] < 1) {
      fail(code::kShape, "label_input: labels must be [n, label_dim] with label_dim >= 1, got " +
                             shape_text(labels->shape));
    }
    s.n = labels->shape[0];
    s.label_dim = labels->shape[1];
  } else {
    s.n = label_case_int(a, "n", 0, 1e9);
    s.label_dim = label_case_int(a, "label_dim", 0, 1e9);
  }
  const double p = attr(a, "p", 0.0);
  if (!(p >= 0.0 && p <= 1.0)) {
    fail(code::kArgument, "label_input: p must be in [0, 1], got " + std::to_string(p));
  }
  s.p = static_cast<float>(p);
  s.training = attr(a, "training", 0.0) != 0.0;
  s.seed = static_cast<uint64_t>(label_case_int(a, "seed", 0, 9007199254740992.0));
  s.sample_offset =
      static_cast<uint64_t>(label_case_int(a, "sample_offset", 0, 9007199254740992.0));
  s.step = static_cast<uint32_t>(label_case_int(a, "step", 0, 4294967295.0));
  cpu::check_label_input(s);
  return s;
}

}  // namespace pfgm::opcases
