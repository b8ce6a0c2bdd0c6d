// The CPU registration of op case "graph_cache" (cases/graph_case.h): the CPU backend's cache runs
// every call eagerly, so its results are the reference of the same sequence on this device.
#include "cases/graph_case.h"
#include "cases/op_cases.h"
#include "nn/backend.h"

namespace {

PFGM_OP_CASE("graph_cache", [](const pfgm::opcases::Attrs& a, const pfgm::opcases::Tensors& in,
                               pfgm::opcases::Tensors& out) {
  pfgm::opcases::graph_case(pfgm::nn::cpu_backend(), a, in, out);
});

}  // namespace
