// Op case "graph_cache" on any backend (registered for the CPU in graph_cases.cc and for CUDA in
// cuda/op_cases_graphs.cu): a short sequence of backend ops whose host coefficients change every
// call, as a sampling step's do, run `calls` times through one key of the backend's graph cache
// (nn/graph_cache.h) and once more per call eagerly, on buffers of its own. Outputs: both results
// and the process's graph counts accumulated meanwhile (captures, replays, eager, dropped). On
// the CPU the cache runs every call eagerly. test/gpu/graph-cache.test.ts checks the CUDA side.
// Attributes:
//   calls          how many calls (>= 1)
//   moved_at       the call (or -1) that writes to another output buffer: its arguments differ
//                  from the recording, so it must run eagerly and the entry be recorded again
//   download       1: the sequence reads a value back to the host, so it is never a graph
#pragma once

#include <array>
#include <memory>
#include <vector>

#include "cases/op_cases.h"
#include "errors.h"
#include "nn/backend.h"
#include "nn/graph_cache.h"

namespace pfgm::opcases {

inline void graph_case(nn::Backend& be, const Attrs& a, const Tensors& in, Tensors& out) {
  const HostTensor& xt = input(in, "x");  // [rows, cols]
  if (xt.shape.size() != 2) fail(code::kShape, "graph_cache: x must be [rows, cols]");
  const int64_t rows = xt.shape[0], cols = xt.shape[1], n = rows * cols;
  const int calls = static_cast<int>(attr(a, "calls"));
  const int moved_at = static_cast<int>(attr(a, "moved_at", -1));
  const bool download = attr(a, "download", 0) != 0;
  if (calls < 1) fail(code::kArgument, "graph_cache: calls must be >= 1");
  float* x = be.allocate(n);
  be.upload(n, xt.data.data(), x);
  float *t = be.allocate(n), *y = be.allocate(n), *y_moved = be.allocate(n), *z = be.allocate(n);
  std::vector<float> host_sum(1);
  // One "evaluation": z = silu(b_i * (a_i * x) + c_i * x) + sum_columns, with a_i, b_i, c_i per
  // row from the host and changing with the call, like c_in, c_skip and c_out of sigma.
  auto sequence = [&](int call, float* dst) {
    std::vector<float> ka(rows), kb(rows), kc(rows);
    for (int64_t r = 0; r < rows; ++r) {
      ka[r] = 0.5f + 0.25f * static_cast<float>(call) + 0.01f * static_cast<float>(r);
      kb[r] = 1.0f / (1.0f + static_cast<float>(call + r));
      kc[r] = -0.3f + 0.1f * static_cast<float>(call);
    }
    be.scale_rows(rows, cols, ka.data(), x, t);
    be.axpby_rows(rows, cols, kb.data(), t, kc.data(), x, dst);
    if (download) be.download(1, dst, host_sum.data());
    be.silu_forward(n, dst, z);
    be.sum_columns(rows, cols, dst, t);
    be.add_channel_bias(1, rows, cols, z, t, z);
  };
  // captures, replays, eager, dropped
  auto counts_now = [] {
    const nn::GraphStats& s = nn::graph_stats();
    return std::array<double, 4>{static_cast<double>(s.captures), static_cast<double>(s.replays),
                                 static_cast<double>(s.eager), static_cast<double>(s.dropped)};
  };
  const std::array<double, 4> before = counts_now();
  HostTensor graph{{calls, rows, cols}, std::vector<float>(static_cast<size_t>(calls * n))};
  HostTensor eager = graph;
  {
    std::unique_ptr<nn::GraphCache> cache = be.graph_cache();
    for (int i = 0; i < calls; ++i) {
      cache->run(7, [&] { sequence(i, i == moved_at ? y_moved : y); });
      be.download(n, z, graph.data.data() + static_cast<size_t>(i) * n);
    }
  }
  for (int i = 0; i < calls; ++i) {
    sequence(i, y);
    be.download(n, z, eager.data.data() + static_cast<size_t>(i) * n);
  }
  const std::array<double, 4> after = counts_now();
  HostTensor counts{{4}, std::vector<float>(4)};
  for (int k = 0; k < 4; ++k) counts.data[k] = static_cast<float>(after[k] - before[k]);
  for (float* p : {x, t, y, y_moved, z}) be.release(p);
  out["graph"] = std::move(graph);
  out["eager"] = std::move(eager);
  out["counts"] = std::move(counts);  // captures, replays, eager, dropped
}

}  // namespace pfgm::opcases
