// The oneDNN context the CPU ops share: one engine for the process, a stream per thread, and the
// translation of oneDNN's exceptions into engine errors (errors.h) so none escapes as dnnl::error.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include <string>

#include "../errors.h"

namespace pfgm::cpu::onednn {

// Never destroyed: ops may still run on worker threads while static destructors run at exit.
inline const dnnl::engine& engine() {
  static const dnnl::engine* e = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *e;
}

// Per thread because oneDNN does not promise that a stream may be used from several threads at
// once, and ops run concurrently on the addon's worker threads; a CPU stream costs nothing to make.
inline dnnl::stream& stream() {
  thread_local dnnl::stream s(engine());
  return s;
}

// Runs `body` (oneDNN calls); a dnnl::error becomes pfgm::Error naming `what`. Shapes are validated
// before oneDNN sees them, so a rejection here is the engine's fault unless oneDNN calls it invalid.
template <typename F>
decltype(auto) guarded(const char* what, F&& body) {
  try {
    return body();
  } catch (const dnnl::error& e) {
    const char* c = e.status == dnnl_invalid_arguments ? code::kShape : code::kInternal;
    fail(c, std::string(what) + ": oneDNN failed: " + e.what());
  }
}

// Executes a small primitive (a weight reorder: microseconds) on the calling thread alone. Waking
// the OpenMP team costs more than such work, and on a machine shared with other processes the team
// can wait a whole scheduler tick for a descheduled thread. oneDNN sizes its parallel regions from
// omp_get_max_threads() when a primitive executes, and that setting is the calling thread's own.
inline void execute_single_threaded(const dnnl::primitive& p, const dnnl::memory& from, const dnnl::memory& to) {
  struct Restore {
    int threads;
    ~Restore() { omp_set_num_threads(threads); }
  } restore{omp_get_max_threads()};
  omp_set_num_threads(1);
  p.execute(stream(), {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}});
}

// The memory descriptor of a dense fp32 tensor in a fixed layout.
inline dnnl::memory::desc f32_desc(const dnnl::memory::dims& dims, dnnl::memory::format_tag tag) {
  return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, tag);
}

// oneDNN takes mutable handles even for tensors it only reads.
inline dnnl::memory wrap(const dnnl::memory::desc& md, const float* data) {
  return dnnl::memory(md, engine(), const_cast<float*>(data));
}

}  // namespace pfgm::cpu::onednn
