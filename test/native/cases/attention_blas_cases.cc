// Op case `attention_blas` on the CPU: the reference of the CUDA case of the same name
// (cases/cuda/op_cases_attention_blas.cu here, attention through cuBLAS GEMMs in a math mode).
// There is one CPU attention, so this runs the `attention` case (attention_cases.cc) on the same
// inputs and attributes; it only checks the GPU-only attribute `math` (0 fp32, 1 tf32, 2 bf16) as
// the CUDA case does, so a bad mode is the same ERR_PFGM_ARGUMENT on both devices, and otherwise
// ignores it (and the GPU-only attribute `inference`).
#include <cmath>

#include "errors.h"
#include "op_cases.h"

namespace pfgm::opcases {
namespace {

PFGM_OP_CASE("attention_blas", [](const Attrs& attrs, const Tensors& in, Tensors& out) {
  const double math = attr(attrs, "math", 0);
  if (!(math >= 0 && math <= 2) || math != std::floor(math)) {
    fail(code::kArgument, "attention_blas: attribute 'math' must be an integer in [0, 2]");
  }
  const CaseFn* attention = find_case("attention");
  if (attention == nullptr) {
    fail(code::kInternal, "attention_blas: the CPU case 'attention' is not registered");
  }
  (*attention)(attrs, in, out);
});

}  // namespace
}  // namespace pfgm::opcases
