// The CUDA emulator's runtime: the cudart calls the engine makes (cuda/*.cu), on host memory.
//
// Device memory is one mmap per allocation, between two PROT_NONE guard pages and ending within
// 16 bytes of the upper one, and filled with 0xff bytes (NaN as float or double) so a kernel that
// reads what nobody wrote produces NaN instead of a plausible zero. Freed allocations are unmapped:
// a read past the end, or after cudaFree, faults, and the scheduler reports the fault as a sticky
// cudaErrorIllegalAddress naming the kernel and the allocation (emu_scheduler.cc). For those
// reports to be precise, run with PFGM_CUDA_NO_CACHING=1 (cuda/runtime/allocator.cu), as one would
// under compute-sanitizer: the caching allocator rounds sizes up and reuses blocks.
//
// Copies and memsets check that every device range lies inside one live allocation and that host
// pointers are not device memory; a violation is cudaErrorInvalidValue naming the call.
#include <sys/mman.h>
#include <unistd.h>

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <string>

#include "emu_state.h"
#include "runtime/check.cuh"

namespace pfgm_emu {
namespace {

constexpr size_t kPage = 4096;
// What cudaMemGetInfo reports, and the most this device holds (PFGM_EMU_MEMORY_MB lowers it).
constexpr size_t kDefaultTotal = size_t{16} << 30;

struct Allocation {
  char* base;    // the mapping, guard pages included
  size_t span;   // its length
  size_t bytes;  // what was asked for
};

std::mutex memory_mutex;
std::map<uintptr_t, Allocation> live;            // keyed by the pointer handed out
std::deque<std::pair<uintptr_t, size_t>> freed;  // the last few thousand, for fault reports
size_t live_bytes = 0;

std::mutex error_mutex;
cudaError_t sticky = cudaSuccess;
cudaError_t last = cudaSuccess;
std::map<int, std::string> details;  // code -> the latest detail, for cudaGetErrorString

size_t total_bytes() {
  static const size_t total = [] {
    const char* mb = std::getenv("PFGM_EMU_MEMORY_MB");
    return mb != nullptr ? static_cast<size_t>(std::strtoull(mb, nullptr, 10)) << 20
                         : kDefaultTotal;
  }();
  return total;
}

std::string hex(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%" PRIxPTR, reinterpret_cast<uintptr_t>(p));
  return buf;
}

// The live allocation holding [p, p + bytes), or null.
const Allocation* find_live(const void* p, size_t bytes, uintptr_t* start) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  auto it = live.upper_bound(a);
  if (it == live.begin()) return nullptr;
  --it;
  if (a + bytes > it->first + it->second.bytes || a < it->first) return nullptr;
  *start = it->first;
  return &it->second;
}

bool is_device(const void* p) {
  std::lock_guard<std::mutex> lock(memory_mutex);
  uintptr_t s;
  return find_live(p, 0, &s) != nullptr;
}

// cudaSuccess when [p, p + bytes) is device memory, else the error, raised with `what` named.
cudaError_t check_device(const void* p, size_t bytes, const char* call, const char* arg) {
  {
    std::lock_guard<std::mutex> lock(memory_mutex);
    uintptr_t s;
    if (bytes == 0 || find_live(p, bytes, &s) != nullptr) return cudaSuccess;
  }
  raise_error(cudaErrorInvalidValue,
              std::string(call) + ": " + arg + " [" + hex(p) + ", +" + std::to_string(bytes) +
                  " bytes) is not inside one device allocation (" + describe_address(p) + ")");
  return cudaErrorInvalidValue;
}

cudaError_t check_host(const void* p, size_t bytes, const char* call, const char* arg) {
  if (bytes == 0 || !is_device(p)) return cudaSuccess;
  raise_error(cudaErrorInvalidValue, std::string(call) + ": " + arg + " " + hex(p) +
                                         " is device memory, but the copy's kind says host");
  return cudaErrorInvalidValue;
}

}  // namespace

void raise_error(cudaError_t code, const std::string& detail) {
  std::lock_guard<std::mutex> lock(error_mutex);
  details[code] = "pfgm CUDA emulator: " + detail;
  last = code;
  if (pfgm::gpu::is_sticky(code) && sticky == cudaSuccess) sticky = code;
}

cudaError_t sticky_error() {
  std::lock_guard<std::mutex> lock(error_mutex);
  return sticky;
}

bool is_device_range(const void* p, size_t bytes) {
  std::lock_guard<std::mutex> lock(memory_mutex);
  uintptr_t s;
  return find_live(p, bytes, &s) != nullptr;
}

std::string describe_address(const void* p) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  std::lock_guard<std::mutex> lock(memory_mutex);
  auto it = live.upper_bound(a);
  // Nearest live allocations below and above.
  if (it != live.begin()) {
    auto below = std::prev(it);
    const uintptr_t s = below->first, e = s + below->second.bytes;
    if (a < e)
      return "address " + hex(p) + ", inside a live " + std::to_string(below->second.bytes) +
             "-byte device allocation";
    if (a < e + kPage) {
      return "address " + hex(p) + ", " + std::to_string(a - e) + " bytes past the end of a " +
             std::to_string(below->second.bytes) + "-byte device allocation at " +
             hex(reinterpret_cast<void*>(s));
    }
  }
  if (it != live.end() && it->first - a <= kPage) {
    return "address " + hex(p) + ", " + std::to_string(it->first - a) + " bytes before a " +
           std::to_string(it->second.bytes) + "-byte device allocation at " +
           hex(reinterpret_cast<void*>(it->first));
  }
  for (auto f = freed.rbegin(); f != freed.rend(); ++f) {
    if (a >= f->first && a < f->first + f->second + kPage) {
      return "address " + hex(p) + ", in a " + std::to_string(f->second) +
             "-byte device allocation freed before";
    }
  }
  if (a < kPage) return "address " + hex(p) + " (a null pointer)";
  return "address " + hex(p) + ", which is not device memory (a host pointer passed to a kernel?)";
}

}  // namespace pfgm_emu

using pfgm_emu::raise_error;

extern "C" {

cudaError_t cudaMalloc(void** ptr, size_t bytes) {
  if (const cudaError_t s = pfgm_emu::sticky_error()) return s;
  if (const cudaError_t e = pfgm_emu::capture_forbids_unsafe("cudaMalloc")) return e;
  using namespace pfgm_emu;
  *ptr = nullptr;
  const size_t usable = (std::max<size_t>(bytes, 1) + 15) / 16 * 16;
  const size_t body = (usable + kPage - 1) / kPage * kPage;
  const size_t span = body + 2 * kPage;
  {
    std::lock_guard<std::mutex> lock(memory_mutex);
    if (bytes > total_bytes() || live_bytes + bytes > total_bytes()) {
      raise_error(cudaErrorMemoryAllocation, "cudaMalloc of " + std::to_string(bytes) +
                                                 " bytes: the emulated device holds " +
                                                 std::to_string(total_bytes()) + " bytes");
      return cudaErrorMemoryAllocation;
    }
  }
  void* m = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  if (m == MAP_FAILED) {
    raise_error(cudaErrorMemoryAllocation,
                "cudaMalloc of " + std::to_string(bytes) + " bytes: mmap failed");
    return cudaErrorMemoryAllocation;
  }
  char* base = static_cast<char*>(m);
  mprotect(base, kPage, PROT_NONE);
  mprotect(base + span - kPage, kPage, PROT_NONE);
  char* user = base + span - kPage - usable;
  std::memset(user, 0xff, usable);
  std::lock_guard<std::mutex> lock(memory_mutex);
  live[reinterpret_cast<uintptr_t>(user)] = Allocation{base, span, bytes};
  live_bytes += bytes;
  *ptr = user;
  return cudaSuccess;
}

cudaError_t cudaFree(void* ptr) {
  using namespace pfgm_emu;
  if (ptr == nullptr) return cudaSuccess;
  if (const cudaError_t e = capture_forbids("cudaFree")) return e;
  Allocation a{};
  {
    std::lock_guard<std::mutex> lock(memory_mutex);
    auto it = live.find(reinterpret_cast<uintptr_t>(ptr));
    if (it == live.end()) {
      raise_error(cudaErrorInvalidValue,
                  "cudaFree(" + hex(ptr) + "): not a pointer cudaMalloc returned, or freed twice");
      return cudaErrorInvalidValue;
    }
    a = it->second;
    live.erase(it);
    live_bytes -= a.bytes;
    freed.emplace_back(reinterpret_cast<uintptr_t>(ptr), a.bytes);
    if (freed.size() > 4096) freed.pop_front();
  }
  munmap(a.base, a.span);
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total) {
  using namespace pfgm_emu;
  std::lock_guard<std::mutex> lock(memory_mutex);
  *total = total_bytes();
  *free_bytes = total_bytes() - std::min(live_bytes, total_bytes());
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream) {
  using namespace pfgm_emu;
  if (const cudaError_t s = sticky_error()) return s;
  const char* call = "cudaMemcpy";
  cudaError_t e = cudaSuccess;
  switch (kind) {
    case cudaMemcpyHostToDevice:
      if ((e = check_host(src, bytes, call, "src"))) return e;
      if ((e = check_device(dst, bytes, call, "dst"))) return e;
      break;
    case cudaMemcpyDeviceToHost:
      if ((e = check_device(src, bytes, call, "src"))) return e;
      if ((e = check_host(dst, bytes, call, "dst"))) return e;
      break;
    case cudaMemcpyDeviceToDevice:
      if ((e = check_device(src, bytes, call, "src"))) return e;
      if ((e = check_device(dst, bytes, call, "dst"))) return e;
      break;
    case cudaMemcpyHostToHost:
      if ((e = check_host(src, bytes, call, "src"))) return e;
      if ((e = check_host(dst, bytes, call, "dst"))) return e;
      break;
    case cudaMemcpyDefault: break;
    default:
      raise_error(
          cudaErrorInvalidMemcpyDirection,
          std::string(call) + ": kind " + std::to_string(kind) + " is not a copy direction");
      return cudaErrorInvalidMemcpyDirection;
  }
  switch (capture_action(stream, call)) {
    case CaptureAction::kRecord:  // run later, checked again then
      record([=] { cudaMemcpyAsync(dst, src, bytes, kind, nullptr); });
      return cudaSuccess;
    case CaptureAction::kSkip: return cudaErrorStreamCaptureImplicit;
    case CaptureAction::kRun: break;
  }
  if (bytes > 0) std::memmove(dst, src, bytes);
  record_copy(kind, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (const cudaError_t e = pfgm_emu::capture_forbids("cudaMemcpy")) return e;
  return cudaMemcpyAsync(dst, src, bytes, kind, nullptr);
}

cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t stream) {
  using namespace pfgm_emu;
  if (const cudaError_t s = sticky_error()) return s;
  if (const cudaError_t e = check_device(p, bytes, "cudaMemset", "dst")) return e;
  switch (capture_action(stream, "cudaMemsetAsync")) {
    case CaptureAction::kRecord:
      record([=] { cudaMemsetAsync(p, value, bytes, nullptr); });
      return cudaSuccess;
    case CaptureAction::kSkip: return cudaErrorStreamCaptureImplicit;
    case CaptureAction::kRun: break;
  }
  if (bytes > 0) std::memset(p, value, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemset(void* p, int value, size_t bytes) {
  if (const cudaError_t e = pfgm_emu::capture_forbids("cudaMemset")) return e;
  return cudaMemsetAsync(p, value, bytes, nullptr);
}

// Every launch and copy completes before it returns, so synchronizing only reports errors (and
// is forbidden while capturing, emu_graphs.cc).
cudaError_t cudaStreamSynchronize(cudaStream_t) {
  if (const cudaError_t e = pfgm_emu::capture_forbids("cudaStreamSynchronize")) return e;
  return pfgm_emu::sticky_error();
}
cudaError_t cudaDeviceSynchronize(void) {
  if (const cudaError_t e = pfgm_emu::capture_forbids("cudaDeviceSynchronize")) return e;
  return pfgm_emu::sticky_error();
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int) {
  if (const cudaError_t s = pfgm_emu::sticky_error()) return s;
  *stream = reinterpret_cast<cudaStream_t>(new char[1]);
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  delete[] reinterpret_cast<char*>(stream);
  return cudaSuccess;
}

cudaError_t cudaGetLastError(void) {
  using namespace pfgm_emu;
  std::lock_guard<std::mutex> lock(error_mutex);
  if (sticky != cudaSuccess) return sticky;
  const cudaError_t e = last;
  last = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError(void) {
  using namespace pfgm_emu;
  std::lock_guard<std::mutex> lock(error_mutex);
  return sticky != cudaSuccess ? sticky : last;
}

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    default: return "cudaErrorUnknown";
  }
}

const char* cudaGetErrorString(cudaError_t e) {
  using namespace pfgm_emu;
  std::lock_guard<std::mutex> lock(error_mutex);
  auto it = details.find(e);
  if (it != details.end()) return it->second.c_str();
  return e == cudaSuccess ? "no error" : "an error of the pfgm CUDA emulator";
}

cudaError_t cudaRuntimeGetVersion(int* v) {
  *v = CUDART_VERSION;
  return cudaSuccess;
}
cudaError_t cudaDriverGetVersion(int* v) {
  *v = CUDART_VERSION;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceCount(int* n) {
  *n = 1;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* d) {
  *d = 0;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int d) { return d == 0 ? cudaSuccess : cudaErrorInvalidDevice; }
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (device != 0) return cudaErrorInvalidDevice;
  *prop = cudaDeviceProp{};
  std::snprintf(prop->name, sizeof prop->name, "pfgm CUDA emulator (CPU)");
  prop->major = 9;
  prop->minor = 0;
  prop->totalGlobalMem = pfgm_emu::total_bytes();
  prop->multiProcessorCount = 1;
  prop->warpSize = 32;
  prop->maxThreadsPerBlock = 1024;
  prop->sharedMemPerBlock = 48 * 1024;
  return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (device != 0) return cudaErrorInvalidDevice;
  switch (attr) {
    case cudaDevAttrComputeCapabilityMajor: *value = 9; break;
    case cudaDevAttrComputeCapabilityMinor: *value = 0; break;
    case cudaDevAttrMultiProcessorCount: *value = 1; break;
    case cudaDevAttrWarpSize: *value = 32; break;
    case cudaDevAttrMaxThreadsPerBlock: *value = 1024; break;
    default:
      raise_error(cudaErrorInvalidValue,
                  "cudaDeviceGetAttribute: attribute " + std::to_string(attr) + " is not emulated");
      return cudaErrorInvalidValue;
  }
  return cudaSuccess;
}

}  // extern "C"

// The copy log of emu_state.h.
namespace pfgm_emu {
namespace {
std::mutex copies_mutex;
Copies copies;
}  // namespace
Copies take_copies() {
  std::lock_guard<std::mutex> lock(copies_mutex);
  Copies out = std::move(copies);
  copies = Copies{};
  return out;
}
void record_copy(cudaMemcpyKind kind, size_t bytes) {
  std::lock_guard<std::mutex> lock(copies_mutex);
  if (kind == cudaMemcpyHostToDevice) copies.to_device.push_back(bytes);
  if (kind == cudaMemcpyDeviceToHost) copies.to_host.push_back(bytes);
}
}  // namespace pfgm_emu
