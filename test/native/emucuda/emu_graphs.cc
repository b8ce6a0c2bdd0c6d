// The CUDA emulator's stream capture and graphs (cuda/runtime/graph.cu records the network's
// evaluations as CUDA graphs): while a stream captures, the launches, copies and memsets queued on
// it, and the emulated library calls, are recorded instead of run; cudaGraphLaunch runs the
// recording in order, re-checking each copy's ranges as it runs.
//
// As on a GPU in cudaStreamCaptureModeThreadLocal, what the capturing thread must not do is an
// error that invalidates the capture (cudaStreamEndCapture then fails): synchronizing, a
// synchronous copy, cudaFree, cudaMalloc (unless the thread's mode is relaxed,
// cudaThreadExchangeStreamCaptureMode), or queuing work on another stream (which a GPU would run
// at once, outside the graph: here it is reported instead of silently missing from the recording).
#include <cuda_runtime_api.h>

#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "emu_state.h"

struct CUgraph_st {
  std::vector<std::function<void()>> nodes;
};
struct CUgraphExec_st {
  std::vector<std::function<void()>> nodes;
};
struct CUevent_st {};

namespace pfgm_emu {
namespace {

struct Capture {
  cudaStream_t stream = nullptr;
  bool invalidated = false;
  std::vector<std::function<void()>> nodes;
};
thread_local Capture* t_capture = nullptr;
thread_local cudaStreamCaptureMode t_mode = cudaStreamCaptureModeGlobal;

}  // namespace

cudaError_t capture_forbids_unsafe(const char* call) {
  if (t_mode == cudaStreamCaptureModeRelaxed) return cudaSuccess;
  return capture_forbids(call);
}

CaptureAction capture_action(cudaStream_t stream, const char* call) {
  Capture* c = t_capture;
  if (c == nullptr) return CaptureAction::kRun;
  if (stream == c->stream) return c->invalidated ? CaptureAction::kSkip : CaptureAction::kRecord;
  c->invalidated = true;
  raise_error(cudaErrorStreamCaptureImplicit,
              std::string(call) +
                  " on another stream while this thread captures a graph: it would run at once, "
                  "outside the graph");
  return CaptureAction::kSkip;
}

void record(std::function<void()> work) { t_capture->nodes.push_back(std::move(work)); }

cudaError_t capture_forbids(const char* call) {
  Capture* c = t_capture;
  if (c == nullptr) return cudaSuccess;
  c->invalidated = true;
  raise_error(cudaErrorStreamCaptureUnsupported,
              std::string(call) + " while this thread captures a graph");
  return cudaErrorStreamCaptureUnsupported;
}

}  // namespace pfgm_emu

using pfgm_emu::raise_error;

extern "C" {

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode) {
  if (const cudaError_t s = pfgm_emu::sticky_error()) return s;
  if (stream == nullptr) {
    raise_error(cudaErrorStreamCaptureUnsupported, "cudaStreamBeginCapture on the legacy stream");
    return cudaErrorStreamCaptureUnsupported;
  }
  if (pfgm_emu::t_capture != nullptr) {
    raise_error(cudaErrorIllegalState, "cudaStreamBeginCapture: this thread already captures");
    return cudaErrorIllegalState;
  }
  pfgm_emu::t_capture = new pfgm_emu::Capture{stream, false, {}};
  return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
  pfgm_emu::Capture* c = pfgm_emu::t_capture;
  *graph = nullptr;
  if (c == nullptr || c->stream != stream) {
    raise_error(cudaErrorIllegalState, "cudaStreamEndCapture: the stream is not capturing");
    return cudaErrorIllegalState;
  }
  pfgm_emu::t_capture = nullptr;
  const bool invalidated = c->invalidated;
  if (!invalidated) *graph = new CUgraph_st{std::move(c->nodes)};
  delete c;
  if (invalidated) {
    raise_error(cudaErrorStreamCaptureInvalidated,
                "cudaStreamEndCapture: the capture was invalidated by an earlier error");
    return cudaErrorStreamCaptureInvalidated;
  }
  return cudaSuccess;
}

cudaError_t cudaThreadExchangeStreamCaptureMode(cudaStreamCaptureMode* mode) {
  std::swap(*mode, pfgm_emu::t_mode);
  return cudaSuccess;
}

cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus* status) {
  const pfgm_emu::Capture* c = pfgm_emu::t_capture;
  *status =
      c != nullptr && c->stream == stream
          ? (c->invalidated ? cudaStreamCaptureStatusInvalidated : cudaStreamCaptureStatusActive)
          : cudaStreamCaptureStatusNone;
  return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
  if (graph == nullptr) return cudaErrorInvalidValue;
  *exec = new CUgraphExec_st{graph->nodes};
  return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
  if (const cudaError_t s = pfgm_emu::sticky_error()) return s;
  if (exec == nullptr) return cudaErrorInvalidValue;
  switch (pfgm_emu::capture_action(stream, "cudaGraphLaunch")) {
    case pfgm_emu::CaptureAction::kRecord:
      for (const auto& node : exec->nodes) pfgm_emu::record(node);
      return cudaSuccess;
    case pfgm_emu::CaptureAction::kSkip: return cudaErrorStreamCaptureImplicit;
    case pfgm_emu::CaptureAction::kRun: break;
  }
  for (const auto& node : exec->nodes) node();
  return pfgm_emu::sticky_error();
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  delete graph;
  return cudaSuccess;
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  delete exec;
  return cudaSuccess;
}

// Every launch completes before it returns, so an event has always passed.
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int) {
  *event = new CUevent_st{};
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (event == nullptr) return cudaErrorInvalidResourceHandle;
  if (pfgm_emu::capture_action(stream, "cudaEventRecord") == pfgm_emu::CaptureAction::kSkip)
    return cudaErrorStreamCaptureImplicit;
  return pfgm_emu::sticky_error();
}
cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  if (event == nullptr) return cudaErrorInvalidResourceHandle;
  if (const cudaError_t e = pfgm_emu::capture_forbids("cudaEventSynchronize")) return e;
  return pfgm_emu::sticky_error();
}
cudaError_t cudaEventDestroy(cudaEvent_t event) {
  delete event;
  return cudaSuccess;
}

// Pinned host memory is host memory.
cudaError_t cudaMallocHost(void** ptr, size_t bytes) {
  *ptr = ::operator new(bytes > 0 ? bytes : 1);
  return cudaSuccess;
}
cudaError_t cudaFreeHost(void* ptr) {
  ::operator delete(ptr);
  return cudaSuccess;
}

}  // extern "C"
