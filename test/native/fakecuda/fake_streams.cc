// The fake CUDA runtime's streams and events, for cuda/libs/nccl.cu on the fake-CUDA test addon:
// work runs when it is issued (fake_runtime.cc), so they only record the order in which the NCCL
// glue issues records and waits, into the log that fake_nccl.cc shares with the fake NCCL.
#include <cuda_runtime_api.h>

#include <cstdint>
#include <mutex>
#include <string>

#include "fake_log.h"

namespace pfgm::fakecuda {
namespace {

std::mutex names_mu;
int64_t next_id = 1;

// Fake handles are distinct non-null pointers that are never dereferenced.
template <class T>
T make_handle() {
  std::lock_guard<std::mutex> lock(names_mu);
  return reinterpret_cast<T>(static_cast<uintptr_t>(0x1000 + 16 * next_id++));
}

}  // namespace

std::string stream_name(const void* s) {
  if (s == nullptr) return "engine";
  return "stream@" + std::to_string(reinterpret_cast<uintptr_t>(s));
}

std::string event_name(const void* e) {
  return "event@" + std::to_string(reinterpret_cast<uintptr_t>(e));
}

}  // namespace pfgm::fakecuda

using pfgm::fakecuda::event_name;
using pfgm::fakecuda::log;
using pfgm::fakecuda::stream_name;

extern "C" {
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned int) {
  *s = pfgm::fakecuda::make_handle<cudaStream_t>();
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned int) {
  *e = pfgm::fakecuda::make_handle<cudaEvent_t>();
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
  log("record " + event_name(e) + " on " + stream_name(s));
  return cudaSuccess;
}
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned int) {
  log("wait " + stream_name(s) + " for " + event_name(e));
  return cudaSuccess;
}
cudaError_t cudaEventQuery(cudaEvent_t) { return cudaSuccess; }
}
