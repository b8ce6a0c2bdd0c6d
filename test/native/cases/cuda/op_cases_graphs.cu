// The CUDA registration of op case "graph_cache" (cases/graph_case.h): the CUDA backend's graph
// cache (cuda/runtime/graph.cu) warms up, captures, replays and re-records the sequence.
#include "cases/graph_case.h"
#include "cases/op_cases.h"
#include "nn/backend.h"

namespace {

PFGM_GPU_OP_CASE("graph_cache", [](const pfgm::opcases::Attrs& a, const pfgm::opcases::Tensors& in,
                                   pfgm::opcases::Tensors& out) {
  pfgm::opcases::graph_case(pfgm::nn::cuda_backend(pfgm::nn::Precision::kFp32), a, in, out);
});

}  // namespace
