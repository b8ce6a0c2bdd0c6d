// The oneDNN context the CPU ops share: one engine for the process, a stream per thread, and the
// translation of oneDNN's exceptions into engine errors (errors.h) so none escapes as dnnl::error.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <cstdlib>
#include <new>
#include <string>
#include <unordered_map>

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
// before oneDNN sees them, so a rejection here is the engine's fault unless oneDNN calls it
// invalid.
template <typename F>
decltype(auto) guarded(const char* what, F&& body) {
  try {
    return body();
  } catch (const dnnl::error& e) {
    const char* c = e.status == dnnl_invalid_arguments ? code::kShape : code::kInternal;
    fail(c, std::string(what) + ": oneDNN failed: " + e.what());
  }
}

// Attributes for primitives that are kept and reused (conv, linear): the caller provides the
// scratchpad. oneDNN's own ("library") scratchpad is sized per thread when a primitive is created,
// so a kept primitive executed on another worker thread would run over a buffer too small for it
// (oneDNN documents that such primitives "cannot migrate between threads"); in user mode a
// primitive may run on any thread, and on several at once, each with its own scratchpad.
inline dnnl::primitive_attr user_scratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

// This thread's scratchpad of at least `bytes`: grown, never shrunk, since a thread runs one
// primitive at a time and the same few shapes again and again.
inline void* thread_scratchpad(size_t bytes) {
  struct Buffer {
    void* data = nullptr;
    size_t size = 0;
    ~Buffer() { std::free(data); }
  };
  thread_local Buffer buffer;
  if (bytes > buffer.size) {
    const size_t rounded =
        (bytes + 4095) / 4096 * 4096;  // whole pages, as oneDNN allocates its own
    std::free(buffer.data);
    buffer.data = std::aligned_alloc(4096, rounded);
    buffer.size = buffer.data != nullptr ? rounded : 0;
    if (buffer.data == nullptr) throw std::bad_alloc();
  }
  return buffer.data;
}

// Executes a primitive made with user_scratchpad() on this thread's stream.
inline void execute(const dnnl::primitive& prim, const dnnl::primitive_desc_base& pd,
                    std::unordered_map<int, dnnl::memory> args) {
  const dnnl::memory::desc scratch = pd.scratchpad_desc();
  if (scratch.get_size() > 0) {
    args.emplace(DNNL_ARG_SCRATCHPAD,
                 dnnl::memory(scratch, engine(), thread_scratchpad(scratch.get_size())));
  }
  prim.execute(stream(), args);
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
