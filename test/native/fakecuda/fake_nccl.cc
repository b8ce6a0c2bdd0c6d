// A fake NCCL inside the fake-CUDA test addon (a test points PFGM_NCCL_LIBRARY at the addon's own
// file, so cuda/libs/nccl.cu's dlopen finds these symbols): every rank is a thread of this
// process, a communicator is a rendezvous of threads keyed by its unique id, and a collective
// runs when the last rank has issued it, on the guarded device memory, summing in rank order
// (as the CPU engine's micro-batches do, so results can be compared bit for bit). Each call is
// logged with its count and stream (fake_log.h) and the log is exported as fakeCollectiveLog().
#include <napi.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "binding/exports_hook.h"
#include "fake_log.h"
#include "guarded/guarded.h"

namespace pfgm::fakecuda {
namespace {

std::mutex log_mu;
std::vector<std::string> log_lines;

constexpr int kSuccess = 0, kInvalidArgument = 4, kSystemError = 2;
constexpr int kFloat32 = 7, kFloat64 = 8;
constexpr int kSum = 0, kAvg = 4;

// One collective in flight: what each rank brought, and whether it ran.
struct Call {
  std::string kind;
  size_t count = 0;
  int dtype = 0, op = 0, root = 0;
  std::vector<const void*> send;
  std::vector<void*> recv;
  int arrived = 0;
  bool done = false;
  int result = kSuccess;
};

struct Group {
  int size = 0;
  int joined = 0;
  std::mutex mu;
  std::condition_variable cv;
  std::map<int64_t, std::shared_ptr<Call>> calls;  // by sequence number
};

struct Comm {
  std::shared_ptr<Group> group;
  int rank = 0;
  int64_t next = 0;  // sequence number of this rank's next collective
};

std::mutex groups_mu;
std::map<std::string, std::shared_ptr<Group>> groups;
int64_t next_id = 1;

size_t element_size(int dtype) { return dtype == kFloat64 ? 8 : 4; }

template <class T>
void reduce(Call& c, int size) {
  std::vector<T> acc(c.count);
  for (int r = 0; r < size; ++r) {
    const T* in = static_cast<const T*>(c.send[r]);
    for (size_t i = 0; i < c.count; ++i) acc[i] = r == 0 ? in[i] : acc[i] + in[i];
  }
  if (c.op == kAvg) {
    const T inv = static_cast<T>(1.0 / size);
    for (T& v : acc) v *= inv;
  }
  for (int r = 0; r < size; ++r) std::memcpy(c.recv[r], acc.data(), c.count * sizeof(T));
}

// Runs a collective once every rank has brought its buffers (by the last to arrive, inside one
// guarded-device access, so no rank holds the device while it waits for the others).
void run(Call& c, int size) {
  nn::guarded::Access a(c.kind.c_str());
  const size_t bytes = c.count * element_size(c.dtype);
  const size_t out_bytes = c.kind == "ncclAllGather" ? bytes * size : bytes;
  for (int r = 0; r < size; ++r) {
    a.device(c.send[r], static_cast<int64_t>(bytes), "sendbuff");
    a.device(c.recv[r], static_cast<int64_t>(out_bytes), "recvbuff");
  }
  if (c.kind == "ncclAllReduce") {
    if (c.dtype == kFloat64)
      reduce<double>(c, size);
    else
      reduce<float>(c, size);
  } else if (c.kind == "ncclBroadcast") {
    std::vector<char> root(bytes);
    std::memcpy(root.data(), c.send[c.root], bytes);
    for (int r = 0; r < size; ++r) std::memcpy(c.recv[r], root.data(), bytes);
  } else {
    std::vector<char> all(out_bytes);
    for (int r = 0; r < size; ++r) std::memcpy(all.data() + r * bytes, c.send[r], bytes);
    for (int r = 0; r < size; ++r) std::memcpy(c.recv[r], all.data(), out_bytes);
  }
}

int collective(Comm* comm, const char* kind, const void* send, void* recv, size_t count, int dtype,
               int op, int root, const void* stream) {
  if (comm == nullptr || (dtype != kFloat32 && dtype != kFloat64) || (op != kSum && op != kAvg))
    return kInvalidArgument;
  log(std::string(kind) + " count " + std::to_string(count) + " " +
      (dtype == kFloat64 ? "f64" : "f32") + (op == kAvg ? " avg" : "") + " on " +
      stream_name(stream));
  Group& g = *comm->group;
  std::unique_lock<std::mutex> lock(g.mu);
  const int64_t seq = comm->next++;
  auto& slot = g.calls[seq];
  if (!slot) {
    slot = std::make_shared<Call>();
    slot->kind = kind;
    slot->count = count;
    slot->dtype = dtype;
    slot->op = op;
    slot->root = root;
    slot->send.assign(g.size, nullptr);
    slot->recv.assign(g.size, nullptr);
  }
  std::shared_ptr<Call> c = slot;
  if (c->kind != kind || c->count != count || c->dtype != dtype) c->result = kInvalidArgument;
  c->send[comm->rank] = send;
  c->recv[comm->rank] = recv;
  if (++c->arrived == g.size) {
    lock.unlock();
    if (c->result == kSuccess) run(*c, g.size);
    lock.lock();
    c->done = true;
    g.calls.erase(seq);
    g.cv.notify_all();
  } else if (!g.cv.wait_for(lock, std::chrono::seconds(60), [&] { return c->done; })) {
    return kSystemError;
  }
  return c->result;
}

Napi::Value FakeCollectiveLog(const Napi::CallbackInfo& info) {
  const std::vector<std::string> lines = take_log();
  Napi::Array a = Napi::Array::New(info.Env(), lines.size());
  for (size_t i = 0; i < lines.size(); ++i) a.Set(static_cast<uint32_t>(i), lines[i]);
  return a;
}

// The device the fake runtime was last told to make current (fake_runtime.cc), for the tests of
// `cuda:N`.
Napi::Value FakeCudaDevice(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), gpu::fake_current_device());
}

void add_exports(Napi::Env env, Napi::Object exports) {
  exports.Set("fakeCollectiveLog", Napi::Function::New(env, FakeCollectiveLog));
  exports.Set("fakeCudaDevice", Napi::Function::New(env, FakeCudaDevice));
}

const bool kRegistered = (binding::register_exports(add_exports), true);

}  // namespace

void log(const std::string& line) {
  std::lock_guard<std::mutex> lock(log_mu);
  log_lines.push_back(line);
}

std::vector<std::string> take_log() {
  std::lock_guard<std::mutex> lock(log_mu);
  std::vector<std::string> out;
  out.swap(log_lines);
  return out;
}

}  // namespace pfgm::fakecuda

using pfgm::fakecuda::Comm;

#define FAKE_NCCL extern "C" __attribute__((visibility("default")))

FAKE_NCCL int ncclGetVersion(int* version) {
  *version = 22000;  // as NCCL 2.20.0 reports it
  return pfgm::fakecuda::kSuccess;
}

FAKE_NCCL int ncclGetUniqueId(char* id) {
  std::lock_guard<std::mutex> lock(pfgm::fakecuda::groups_mu);
  std::memset(id, 0, 128);
  const std::string name = "fake-nccl-" + std::to_string(pfgm::fakecuda::next_id++);
  std::memcpy(id, name.data(), name.size());
  return pfgm::fakecuda::kSuccess;
}

// ncclUniqueId travels by value (128 bytes).
struct FakeUniqueId {
  char internal[128];
};

FAKE_NCCL int ncclCommInitRank(Comm** comm, int nranks, FakeUniqueId id, int rank) {
  using namespace pfgm::fakecuda;
  if (nranks < 1 || rank < 0 || rank >= nranks) return kInvalidArgument;
  std::shared_ptr<Group> g;
  {
    std::lock_guard<std::mutex> lock(groups_mu);
    auto& slot = groups[std::string(id.internal, strnlen(id.internal, 128))];
    if (!slot) {
      slot = std::make_shared<Group>();
      slot->size = nranks;
    }
    g = slot;
  }
  log("ncclCommInitRank rank " + std::to_string(rank) + " of " + std::to_string(nranks));
  std::unique_lock<std::mutex> lock(g->mu);
  ++g->joined;
  g->cv.notify_all();
  if (!g->cv.wait_for(lock, std::chrono::seconds(60), [&] { return g->joined >= g->size; }))
    return kSystemError;
  *comm = new Comm{g, rank, 0};
  return kSuccess;
}

FAKE_NCCL int ncclCommDestroy(Comm* comm) {
  delete comm;
  return pfgm::fakecuda::kSuccess;
}

FAKE_NCCL int ncclCommAbort(Comm* comm) {
  pfgm::fakecuda::log("ncclCommAbort");
  delete comm;
  return pfgm::fakecuda::kSuccess;
}

FAKE_NCCL int ncclCommGetAsyncError(Comm*, int* error) {
  *error = pfgm::fakecuda::kSuccess;
  return pfgm::fakecuda::kSuccess;
}

FAKE_NCCL int ncclAllReduce(const void* send, void* recv, size_t count, int dtype, int op,
                            Comm* comm, void* stream) {
  return pfgm::fakecuda::collective(comm, "ncclAllReduce", send, recv, count, dtype, op, 0, stream);
}

FAKE_NCCL int ncclBroadcast(const void* send, void* recv, size_t count, int dtype, int root,
                            Comm* comm, void* stream) {
  return pfgm::fakecuda::collective(comm, "ncclBroadcast", send, recv, count, dtype,
                                    pfgm::fakecuda::kSum, root, stream);
}

FAKE_NCCL int ncclAllGather(const void* send, void* recv, size_t count, int dtype, Comm* comm,
                            void* stream) {
  return pfgm::fakecuda::collective(comm, "ncclAllGather", send, recv, count, dtype,
                                    pfgm::fakecuda::kSum, 0, stream);
}

FAKE_NCCL const char* ncclGetErrorString(int result) {
  return result == pfgm::fakecuda::kSuccess ? "no error" : "fake NCCL error";
}
