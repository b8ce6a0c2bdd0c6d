// NCCL between GPU ranks (docs/distributed.md, "GPUs"): the collectives of
// collectives/collectives.h on device memory, on a stream of their own. libnccl is opened at run
// time (dlopen), so the CUDA addon loads and trains on one GPU on a machine without it; it is
// looked for where PFGM_NCCL_LIBRARY says, then as libnccl.so.2 through the loader (system
// packages, LD_LIBRARY_PATH), then in the folders the build found it in (NVIDIA's nvidia/nccl
// wheel, the CUDA toolkit), then in those of PFGM_NCCL_SEARCH_PATH, which the loader of a prebuilt
// addon fills with the folders it found on this machine (src/addon/nvidiaLibraries.ts), since a
// prebuilt's build-time folders are the build machine's. Only the handful of entry points used here
// are declared: NCCL's C ABI for them has been stable since 2.x.
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "collectives/rendezvous.h"
#include "errors.h"
#include "runtime/allocator.cuh"
#include "runtime/check.cuh"
#include "runtime/launch.cuh"

#ifndef PFGM_NCCL_HINTS
#define PFGM_NCCL_HINTS ""
#endif

namespace pfgm::gpu::nccl {
namespace {

// The subset of nccl.h used here.
struct ncclComm;
using ncclComm_t = ncclComm*;
struct ncclUniqueId {
  char internal[128];
};
using ncclResult_t = int;
constexpr ncclResult_t ncclSuccess = 0, ncclInProgress = 7;
constexpr int ncclFloat32 = 7, ncclFloat64 = 8;
constexpr int ncclSum = 0, ncclAvg = 4;  // ncclAvg since NCCL 2.10

struct Api {
  void* lib = nullptr;
  std::string path;
  int version = 0;
  ncclResult_t (*GetVersion)(int*) = nullptr;
  ncclResult_t (*GetUniqueId)(ncclUniqueId*) = nullptr;
  ncclResult_t (*CommInitRank)(ncclComm_t*, int, ncclUniqueId, int) = nullptr;
  ncclResult_t (*CommDestroy)(ncclComm_t) = nullptr;
  ncclResult_t (*CommAbort)(ncclComm_t) = nullptr;
  ncclResult_t (*CommGetAsyncError)(ncclComm_t, ncclResult_t*) = nullptr;
  ncclResult_t (*AllReduce)(const void*, void*, size_t, int, int, ncclComm_t,
                            cudaStream_t) = nullptr;
  ncclResult_t (*Broadcast)(const void*, void*, size_t, int, int, ncclComm_t,
                            cudaStream_t) = nullptr;
  ncclResult_t (*AllGather)(const void*, void*, size_t, int, ncclComm_t, cudaStream_t) = nullptr;
  const char* (*GetErrorString)(ncclResult_t) = nullptr;
};

template <class F>
bool bind(void* lib, const char* name, F& fn) {
  fn = reinterpret_cast<F>(::dlsym(lib, name));
  return fn != nullptr;
}

// Where libnccl may be, in the order they are tried.
std::vector<std::string> candidates() {
  std::vector<std::string> out;
  if (const char* given = std::getenv("PFGM_NCCL_LIBRARY"); given != nullptr && *given != '\0')
    out.emplace_back(given);
  out.emplace_back("libnccl.so.2");
  std::string hints = PFGM_NCCL_HINTS;
  if (const char* found = std::getenv("PFGM_NCCL_SEARCH_PATH"); found != nullptr && *found != '\0')
    hints += std::string(":") + found;
  size_t start = 0;
  while (start < hints.size()) {
    const size_t end = std::min(hints.find(':', start), hints.size());
    if (end > start) out.push_back(hints.substr(start, end - start) + "/libnccl.so.2");
    start = end + 1;
  }
  return out;
}

// Opens NCCL once; `why` says what was tried when it fails.
const Api* api(std::string* why) {
  static std::once_flag once;
  static Api loaded;
  static std::string failure;
  std::call_once(once, [] {
    std::string tried;
    for (const std::string& path : candidates()) {
      void* lib = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (lib == nullptr) {
        tried += (tried.empty() ? "" : ", ") + path;
        continue;
      }
      Api a;
      a.lib = lib;
      a.path = path;
      const bool ok =
          bind(lib, "ncclGetVersion", a.GetVersion) &&
          bind(lib, "ncclGetUniqueId", a.GetUniqueId) &&
          bind(lib, "ncclCommInitRank", a.CommInitRank) &&
          bind(lib, "ncclCommDestroy", a.CommDestroy) && bind(lib, "ncclCommAbort", a.CommAbort) &&
          bind(lib, "ncclCommGetAsyncError", a.CommGetAsyncError) &&
          bind(lib, "ncclAllReduce", a.AllReduce) && bind(lib, "ncclBroadcast", a.Broadcast) &&
          bind(lib, "ncclAllGather", a.AllGather) &&
          bind(lib, "ncclGetErrorString", a.GetErrorString);
      if (!ok || a.GetVersion(&a.version) != ncclSuccess) {
        tried += (tried.empty() ? "" : ", ") + path + " (not NCCL)";
        ::dlclose(lib);
        continue;
      }
      loaded = a;
      return;
    }
    failure = "libnccl.so.2 not found (tried " + tried +
              "): install NCCL (pip install nvidia-nccl-cu13, or the distribution's libnccl2), or "
              "name the file with PFGM_NCCL_LIBRARY";
  });
  if (loaded.lib == nullptr) {
    if (why != nullptr) *why = failure;
    return nullptr;
  }
  return &loaded;
}

std::string version_text(int v) {
  // NCCL_VERSION_CODE: X*10000 + Y*100 + Z since 2.9, X*1000 + Y*100 + Z before.
  const int major = v >= 10000 ? v / 10000 : v / 1000;
  const int minor = v >= 10000 ? (v / 100) % 100 : (v / 100) % 10;
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(v % 100);
}

// The gradient buffer goes in buckets of this many bytes (PyTorch DDP's default 25 MB), so a
// bucket's reduction can start while later buckets are still being filled.
size_t bucket_bytes() {
  if (const char* mb = std::getenv("PFGM_NCCL_BUCKET_MB"); mb != nullptr && *mb != '\0') {
    const double v = std::atof(mb);
    if (v > 0) return static_cast<size_t>(v * 1024 * 1024);
  }
  return size_t{25} << 20;
}

class NcclCollectives : public dist::Collectives {
 public:
  NcclCollectives(const dist::ConnectOptions& o, std::shared_ptr<dist::Rendezvous> r)
      : rank_(o.rank), size_(o.world_size), rendezvous_(std::move(r)) {
    std::string why;
    api_ = api(&why);
    if (api_ == nullptr) fail(code::kDistributed, "NCCL: " + why);
    timeout_ = rendezvous_->timeout;
    // Every rank must have checked in before NCCL's own connection, which has no timeout.
    for (int k = 0; k < size_; ++k) {
      rendezvous_->client->get(dist::store_key("rank/" + std::to_string(k)), timeout_,
                               "rank " + std::to_string(k) + " to check in");
    }
    ncclUniqueId id{};
    const std::string key = dist::store_key("nccl/id");
    if (rank_ == 0) {
      nccl(api_->GetUniqueId(&id), "ncclGetUniqueId");
      rendezvous_->client->set(key, dist::Bytes(id.internal, id.internal + sizeof id.internal));
    } else {
      const dist::Bytes b = rendezvous_->client->get(key, timeout_, "rank 0's NCCL id");
      if (b.size() != sizeof id.internal) fail(code::kDistributed, "NCCL: a malformed id");
      std::memcpy(id.internal, b.data(), sizeof id.internal);
    }
    check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate (NCCL)");
    check(cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming), "cudaEventCreate (NCCL)");
    check(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming), "cudaEventCreate (NCCL)");
    nccl(api_->CommInitRank(&comm_, size_, id, rank_), "ncclCommInitRank");
  }

  ~NcclCollectives() override {
    if (comm_ != nullptr) (aborted_ ? api_->CommAbort : api_->CommDestroy)(comm_);
    if (done_ != nullptr) cudaEventDestroy(done_);
    if (ready_ != nullptr) cudaEventDestroy(ready_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* backend() const override { return "nccl"; }

  // A group of one still runs NCCL, so the overhead of the path can be measured on one GPU.
  void all_reduce(float* data, int64_t count, dist::ReduceOp op) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (count == 0) return;
    begin();
    const int64_t bucket =
        static_cast<int64_t>(std::max<size_t>(bucket_bytes() / sizeof(float), 1));
    for (int64_t at = 0; at < count; at += bucket)
      reduce(data + at, std::min(bucket, count - at), op);
    finish("all-reduce");
  }

  // Overlap (docs/distributed.md, "GPUs"): buckets are launched from the end of the buffer, as
  // backward finishes them, each after an event that orders it behind the backward work issued so
  // far; finish() launches the rest and waits as all_reduce does. Buckets keep all_reduce's
  // boundaries, so the reduced bits are the same.
  std::unique_ptr<dist::PendingAllReduce> start_all_reduce(float* data, int64_t count,
                                                           dist::ReduceOp op) override {
    return std::make_unique<Pending>(*this, data, count, op);
  }

  void broadcast(float* data, int64_t count, int root) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (count == 0 || size_ == 1) return;
    begin();
    nccl(api_->Broadcast(data, data, static_cast<size_t>(count), ncclFloat32, root, comm_, stream_),
         "ncclBroadcast");
    finish("broadcast");
  }

  void all_reduce_host(double* data, int64_t count, dist::ReduceOp op) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (count == 0 || size_ == 1) return;
    double* d = staging(count);
    begin();
    copy(d, data, count, cudaMemcpyHostToDevice);
    nccl(api_->AllReduce(d, d, static_cast<size_t>(count), ncclFloat64,
                         op == dist::ReduceOp::kMean ? ncclAvg : ncclSum, comm_, stream_),
         "ncclAllReduce");
    copy(data, d, count, cudaMemcpyDeviceToHost);
    finish("all-reduce");
  }

  void broadcast_host(double* data, int64_t count, int root) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (count == 0 || size_ == 1) return;
    double* d = staging(count);
    begin();
    copy(d, data, count, cudaMemcpyHostToDevice);
    nccl(api_->Broadcast(d, d, static_cast<size_t>(count), ncclFloat64, root, comm_, stream_),
         "ncclBroadcast");
    copy(data, d, count, cudaMemcpyDeviceToHost);
    finish("broadcast");
  }

  void all_gather_host(const double* in, int64_t count, double* out) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (count == 0) return;
    double* d = staging(count * (size_ + 1));
    double* gathered = d + count;
    begin();
    copy(d, in, count, cudaMemcpyHostToDevice);
    nccl(api_->AllGather(d, gathered, static_cast<size_t>(count), ncclFloat64, comm_, stream_),
         "ncclAllGather");
    copy(out, gathered, count * size_, cudaMemcpyDeviceToHost);
    finish("all-gather");
  }

  void barrier() override {
    double one = 1;
    all_reduce_host(&one, 1, dist::ReduceOp::kSum);
  }

 private:
  class Pending : public dist::PendingAllReduce {
   public:
    Pending(NcclCollectives& group, float* data, int64_t count, dist::ReduceOp op)
        : group_(group),
          data_(data),
          count_(count),
          op_(op),
          bucket_(static_cast<int64_t>(std::max<size_t>(bucket_bytes() / sizeof(float), 1))),
          unlaunched_((count + bucket_ - 1) / bucket_) {}

    void ready_from(int64_t from) override {
      int64_t first = unlaunched_;
      while (first > 0 && (first - 1) * bucket_ >= from) --first;
      if (first == unlaunched_) return;
      std::lock_guard<std::mutex> lock(group_.mu_);
      group_.begin();
      for (int64_t b = unlaunched_ - 1; b >= first; --b) {
        const int64_t at = b * bucket_;
        group_.reduce(data_ + at, std::min(bucket_, count_ - at), op_);
      }
      unlaunched_ = first;
    }

    void finish() override {
      if (count_ == 0) return;
      ready_from(0);
      std::lock_guard<std::mutex> lock(group_.mu_);
      group_.finish("all-reduce");
    }

   private:
    NcclCollectives& group_;
    float* data_;
    int64_t count_;
    dist::ReduceOp op_;
    int64_t bucket_;
    int64_t unlaunched_;  // buckets [0, unlaunched_) wait for backward
  };

  void reduce(float* data, int64_t count, dist::ReduceOp op) {
    nccl(api_->AllReduce(data, data, static_cast<size_t>(count), ncclFloat32,
                         op == dist::ReduceOp::kMean ? ncclAvg : ncclSum, comm_, stream_),
         "ncclAllReduce");
  }

  // The collectives run on their own stream, after the engine's work so far (the backward pass
  // that filled the gradients) and before the engine's next (the optimizer).
  void begin() {
    check(cudaEventRecord(ready_, engine_stream()), "cudaEventRecord (before NCCL)");
    check(cudaStreamWaitEvent(stream_, ready_, 0), "cudaStreamWaitEvent (NCCL)");
  }

  // Orders the engine after the collectives, then waits for them with a watchdog: a peer that
  // died or hangs makes NCCL wait forever, so after the timeout the communicator is aborted and
  // the step fails with ERR_PFGM_DISTRIBUTED.
  void finish(const char* what) {
    check(cudaEventRecord(done_, stream_), "cudaEventRecord (after NCCL)");
    check(cudaStreamWaitEvent(engine_stream(), done_, 0), "cudaStreamWaitEvent (engine)");
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    auto pause = std::chrono::microseconds(20);
    for (;;) {
      const cudaError_t q = cudaEventQuery(done_);
      if (q == cudaSuccess) return;
      if (q != cudaErrorNotReady) check(q, what);
      ncclResult_t async = ncclSuccess;
      api_->CommGetAsyncError(comm_, &async);
      if (async != ncclSuccess && async != ncclInProgress) {
        abort_comm();
        fail(code::kDistributed, std::string("the NCCL ") + what + " of rank " +
                                     std::to_string(rank_) +
                                     " failed: " + api_->GetErrorString(async) +
                                     " (another rank stopped or failed; its own error says why)");
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        abort_comm();
        fail(code::kDistributed,
             std::string("the NCCL ") + what + " of rank " + std::to_string(rank_) +
                 " did not finish within " + std::to_string(timeout_.count() / 1000) +
                 " s (another rank stopped, failed or hangs; its own error says why)");
      }
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::microseconds(1000));
    }
  }

  void abort_comm() {
    aborted_ = true;
    api_->CommAbort(comm_);
    comm_ = nullptr;
  }

  void copy(void* dst, const void* src, int64_t count, cudaMemcpyKind kind) {
    check(cudaMemcpyAsync(dst, src, static_cast<size_t>(count) * sizeof(double), kind, stream_),
          "cudaMemcpyAsync (NCCL staging)");
  }

  double* staging(int64_t count) {
    if (staging_.size() < count) staging_ = DeviceArray<double>(count, engine_stream());
    return staging_.get();
  }

  void nccl(ncclResult_t status, const char* what) {
    if (status == ncclSuccess) return;
    fail(code::kDistributed, std::string(what) + " failed: " + api_->GetErrorString(status));
  }

  int rank_, size_;
  std::shared_ptr<dist::Rendezvous> rendezvous_;
  std::chrono::milliseconds timeout_{};
  const Api* api_ = nullptr;
  ncclComm_t comm_ = nullptr;
  bool aborted_ = false;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t ready_ = nullptr, done_ = nullptr;
  DeviceArray<double> staging_;
  std::mutex mu_;
};

std::shared_ptr<dist::Collectives> connect(const dist::ConnectOptions& options,
                                           std::shared_ptr<dist::Rendezvous> rendezvous) {
  return std::make_shared<NcclCollectives>(options, std::move(rendezvous));
}

dist::BackendAvailability probe() {
  std::string why;
  const Api* a = api(&why);
  if (a == nullptr) return {false, why};
  return {true, "NCCL " + version_text(a->version) + " (" + a->path + ")"};
}

// The CUDA build offers NCCL to dist::connect (the CPU build has none).
[[maybe_unused]] const bool registered = (dist::register_nccl(&connect, &probe), true);

}  // namespace
}  // namespace pfgm::gpu::nccl
