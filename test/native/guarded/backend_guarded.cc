// A test device that needs no GPU: the CPU ops, run on memory that the host cannot touch.
//
// The CUDA backend's glue (what the modules and the training session upload, download and pass
// to the ops) can only fail on a GPU in two ways that the CPU backend never shows: host code
// dereferencing device memory (a segfault on a GPU), and a host pointer handed to a device op
// (an illegal address, or silently wrong data). This backend makes both visible on any machine:
//
// - Its memory comes from one reserved arena that is PROT_NONE except while one of its own
//   methods runs, so a host read or write of "device" memory faults; a SIGSEGV handler names the
//   arena and exits with status 86 (any other fault goes on to the previous handler).
// - Every device pointer an op receives must lie, with its whole extent, in a live allocation,
//   and every pointer documented as host (per-sample coefficients, loss weights, sigma, FIR taps)
//   must lie outside the arena; a violation is ERR_PFGM_INTERNAL naming the op and the argument.
// - device() says it is not the host, so the session and host_view() stage through upload and
//   download exactly as they do for CUDA.
//
// The arithmetic is cpu_backend()'s, so a network here must compute bit for bit what it computes
// on the CPU backend: test/native/network-guarded.test.ts checks that, which also shows that
// every staging copy moves the right data. Not for users: only the test build links it, as the
// native Network config's device 'cpu-guarded'. The arena and its checks (guarded.h) also serve
// the fake-CUDA test addon, which runs cuda/backend.cu itself on this memory
// (test/native/fakecuda/).
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <string>

#include "errors.h"
#include "guarded.h"
#include "nn/backend.h"

namespace pfgm::nn::guarded {
namespace {

constexpr size_t kReserve = size_t(64) << 30;  // address space only (MAP_NORESERVE)

// The arena's bounds, read by the signal handler (plain globals: set once, before any fault).
uintptr_t g_arena_begin = 0;
uintptr_t g_arena_end = 0;
struct sigaction g_previous_segv {};

void on_segv(int sig, siginfo_t* info, void* context) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(info->si_addr);
  if (a >= g_arena_begin && a < g_arena_end) {
    static const char msg[] =
        "pfgm guarded device: host code touched device memory (a download or upload is "
        "missing); see the stack of this fault in a debugger (status 86)\n";
    (void)!write(2, msg, sizeof(msg) - 1);
    _exit(86);
  }
  // Not ours (V8's WebAssembly trap handler uses SIGSEGV too): hand it on unchanged.
  if (g_previous_segv.sa_flags & SA_SIGINFO) {
    g_previous_segv.sa_sigaction(sig, info, context);
  } else if (g_previous_segv.sa_handler != SIG_DFL && g_previous_segv.sa_handler != SIG_IGN) {
    g_previous_segv.sa_handler(sig);
  } else {
    signal(sig, SIG_DFL);  // the fault repeats on return and ends the process as it would have
  }
}

[[noreturn]] void die(const char* msg, size_t len, int status) {
  (void)!write(2, msg, len);
  _exit(status);  // called where no exception may leave (destructors, release paths)
}

// One reserved range, bump-allocated page by page (a page between arrays), never reused: a stale
// pointer stays recognisably dead. Everything under one recursive mutex.
class Arena {
 public:
  static Arena& get() {
    static Arena arena;
    return arena;
  }

  void* allocate(size_t bytes) {
    std::lock_guard<std::recursive_mutex> lock(mu);
    const size_t span = ((bytes > 0 ? bytes : 1) + page_ - 1) / page_ * page_;
    if (used_ + span + page_ > kReserve) {
      fail(code::kMemory,
           "guarded device: its 64 GiB arena is used up (it never reuses addresses)");
    }
    char* p = base_ + used_;
    used_ += span + page_;
    if (depth > 0) protect(PROT_READ | PROT_WRITE);
    blocks[reinterpret_cast<uintptr_t>(p)] = Block{bytes, span, true};
    return p;  // fresh anonymous pages: zero-filled
  }

  void release(void* p) {
    if (p == nullptr) return;
    std::lock_guard<std::recursive_mutex> lock(mu);
    auto it = blocks.find(reinterpret_cast<uintptr_t>(p));
    if (it == blocks.end() || !it->second.live) {
      static const char msg[] = "pfgm guarded device: release() of memory it did not allocate\n";
      die(msg, sizeof(msg) - 1, 87);
    }
    it->second.live = false;
    madvise(p, it->second.span, MADV_DONTNEED);  // gives the pages back; reads as zeros
  }

  // The whole used span in one call (one mapping for the kernel, so this stays cheap however
  // many arrays there are). Inside an access released arrays are readable too: the pointer
  // checks, not the protection, catch an op handed released memory.
  void protect(int prot) {
    if (used_ > 0 && mprotect(base_, used_, prot) != 0) {
      static const char msg[] = "pfgm guarded device: mprotect failed\n";
      die(msg, sizeof(msg) - 1, 88);
    }
  }

  struct Block {
    size_t bytes;  // what was asked for
    size_t span;   // page-rounded
    bool live;
  };
  std::recursive_mutex mu;
  int depth = 0;
  std::map<uintptr_t, Block> blocks;

 private:
  Arena() {
    void* p =
        mmap(nullptr, kReserve, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) fail(code::kMemory, "guarded device: could not reserve its address space");
    base_ = static_cast<char*>(p);
    g_arena_begin = reinterpret_cast<uintptr_t>(base_);
    g_arena_end = g_arena_begin + kReserve;
    struct sigaction sa {};
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &g_previous_segv);
    page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  }

  char* base_ = nullptr;
  size_t used_ = 0;
  size_t page_ = 4096;
};

}  // namespace

void* allocate(size_t bytes) { return Arena::get().allocate(bytes); }
void release(void* p) { Arena::get().release(p); }
bool in_arena(const void* p) {
  Arena::get();
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  return p != nullptr && a >= g_arena_begin && a < g_arena_end;
}

Access::Access(const char* op) : op_(op) { Arena::get().mu.lock(); }

Access::~Access() {
  Arena& arena = Arena::get();
  if (open_ && --arena.depth == 0) arena.protect(PROT_NONE);
  arena.mu.unlock();
}

void Access::host(const void* p, const char* what) {
  if (in_arena(p)) {
    fail(code::kInternal, std::string("guarded device: ") + op_ + "'s " + what +
                              " must be host memory, but points into the device's memory");
  }
  open();
}

void Access::device(const void* p, int64_t bytes, const char* what, bool nullable) {
  if (bytes < 0) fail(code::kInternal, std::string("guarded device: ") + op_ + ": negative size");
  if (p == nullptr) {
    if (!nullable && bytes > 0) {
      fail(code::kInternal, std::string("guarded device: ") + op_ + "'s " + what + " is null");
    }
    open();
    return;
  }
  Arena& arena = Arena::get();
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  auto it = arena.blocks.upper_bound(a);
  const bool inside = it != arena.blocks.begin() &&
                      (--it, a + static_cast<size_t>(bytes) <= it->first + it->second.bytes);
  if (!inside) {
    const std::string why =
        in_arena(p) ? "runs past the end of its device array"
                    : "is not device memory (a host pointer where an upload is missing)";
    fail(code::kInternal, std::string("guarded device: ") + op_ + "'s " + what + " (" +
                              std::to_string(bytes / 4) + " floats) " + why);
  }
  if (!it->second.live) {
    fail(code::kInternal,
         std::string("guarded device: ") + op_ + "'s " + what + " points into released memory");
  }
  open();
}

void Access::open() {
  if (!open_) {
    open_ = true;
    Arena& arena = Arena::get();
    if (arena.depth++ == 0) arena.protect(PROT_READ | PROT_WRITE);
  }
}

}  // namespace pfgm::nn::guarded

namespace pfgm::nn {
namespace {

class GuardedBackend final : public Backend {
 public:
  Device device() const override { return Device::cuda; }  // "not the host": forces staging

  float* allocate(int64_t count) override {
    return static_cast<float*>(guarded::allocate(static_cast<size_t>(count) * sizeof(float)));
  }
  void release(float* p) override { guarded::release(p); }

  void copy(int64_t count, const float* src, float* dst) override {
    Window w("copy");
    w.in(src, count, "src");
    w.out(dst, count, "dst");
    inner().copy(count, src, dst);
  }
  void fill(int64_t count, float value, float* y) override {
    Window w("fill");
    w.out(y, count, "y");
    inner().fill(count, value, y);
  }
  void upload(int64_t count, const float* host, float* dst) override {
    Window w("upload");
    w.host(host, "host");
    w.out(dst, count, "dst");
    if (count > 0) std::memcpy(dst, host, static_cast<size_t>(count) * sizeof(float));
  }
  void download(int64_t count, const float* src, float* host) override {
    Window w("download");
    w.in(src, count, "src");
    w.host(host, "host");
    if (count > 0) std::memcpy(host, src, static_cast<size_t>(count) * sizeof(float));
  }

  // The ops of backend_ops.h: each entry's pointer checks, then the CPU op. IN / OUT / OPT count
  // floats; the argument's name in an error message is its parameter's name.
#define IN(p, count) guard.in(p, count, #p);
#define OUT(p, count) guard.out(p, count, #p);
#define OPT(p, count) guard.opt(p, count, #p);
#define HOST(p, count, what) guard.host(p, what);
#define PFGM_GUARDED_OP(kind, ret, name, label, params, args, checks) \
  ret name params override {                                          \
    Window guard(#name);                                              \
    checks return inner().name args;                                  \
  }
  PFGM_BACKEND_OPS(PFGM_GUARDED_OP)
#undef PFGM_GUARDED_OP
#undef HOST
#undef OPT
#undef OUT
#undef IN

  // Counts in floats over guarded::Access (bytes).
  class Window {
   public:
    explicit Window(const char* op) : a_(op) {}
    void in(const void* p, int64_t count, const char* what) { a_.device(p, count * 4, what); }
    void out(const void* p, int64_t count, const char* what) { a_.device(p, count * 4, what); }
    void opt(const void* p, int64_t count, const char* what) {
      a_.device(p, count * 4, what, true);
    }
    void host(const void* p, const char* what) { a_.host(p, what); }

   private:
    guarded::Access a_;
  };

 private:
  static Backend& inner() { return cpu_backend(); }
};

}  // namespace

Backend& guarded_backend() {
  static GuardedBackend backend;
  return backend;
}

namespace {

Backend& guarded_device(Precision precision) {
  if (precision != Precision::kFp32) fail(code::kArgument, "device 'cpu-guarded' is fp32");
  return guarded_backend();
}

// The test build's Network device 'cpu-guarded' (the engine itself knows only 'cpu' and 'cuda').
const bool kRegistered = (register_backend("cpu-guarded", guarded_device), true);

}  // namespace

}  // namespace pfgm::nn
