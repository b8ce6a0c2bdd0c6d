// The CUDA emulator's execution model: a launch runs its blocks one after another; the threads of
// a block are fibers (own stacks, switched by a few instructions of assembly) that each run until
// they reach a barrier, a warp intrinsic or their end. When every live thread of the block is
// waiting, the scheduler completes what can complete (a warp operation once every lane its mask
// names has arrived, then __syncthreads once every live thread has) and resumes them. What can
// never complete on a GPU (a barrier some threads skip, a shuffle naming an exited lane) and a
// memory fault inside a kernel become sticky CUDA errors that name the kernel, the block and the
// thread, instead of a hang or a dead process.
//
// x86-64 only (the context switch); CMake builds the emulated addon only there.
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "emu.h"
#include "emu_state.h"

namespace pfgm_emu {

const uint3* g_thread_idx = nullptr;
uint3 g_block_idx{};
dim3 g_block_dim;
dim3 g_grid_dim;

}  // namespace pfgm_emu

// void pfgm_emu_switch(void** save_sp, void* load_sp): saves the callee-saved registers and the
// SSE / x87 control words on the current stack, stores its stack pointer in *save_sp, and resumes
// the context whose stack pointer is load_sp. A new fiber's stack is laid out as if it had called
// pfgm_emu_switch, with pfgm_emu_start as the return address (see init_stack).
asm(R"(
  .text
  .globl pfgm_emu_switch
  .hidden pfgm_emu_switch
  .type pfgm_emu_switch,@function
pfgm_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size pfgm_emu_switch, .-pfgm_emu_switch

  .globl pfgm_emu_start
  .hidden pfgm_emu_start
  .type pfgm_emu_start,@function
pfgm_emu_start:
  movq %r13, %rdi
  callq *%r12
  ud2
  .size pfgm_emu_start, .-pfgm_emu_start
)");

extern "C" void pfgm_emu_switch(void** save_sp, void* load_sp);
extern "C" void pfgm_emu_start();

namespace pfgm_emu {
namespace {

constexpr int kMaxThreads = 1024;
constexpr int kWarp = 32;
// Kernels keep a few local arrays at most; a guard page below each stack turns an overflow into a
// reported fault.
constexpr size_t kStackBytes = 256 * 1024;
constexpr size_t kPage = 4096;

enum class State { kRunnable, kBlockBarrier, kWarpOp, kDone };

struct Fiber {
  void* sp = nullptr;
  uint3 tid{};
  int index = 0;
  State state = State::kRunnable;
  // At a block barrier.
  Vote vote = Vote::kNone;
  int predicate = 0;
  // At a warp operation.
  Shfl op = Shfl::kSync;
  unsigned mask = 0;
  uint64_t value = 0;
  int lane_arg = 0;
  int width = kWarp;
  // What the barrier or warp operation returns to this thread.
  uint64_t result = 0;
};

// One launch at a time: the kernels' shared arrays are statics (emu.h).
std::mutex launch_mutex;

struct Launch {
  const char* name = "";
  Body body = nullptr;
  void* closure = nullptr;
  int threads = 0;
  bool reverse = false;
  std::vector<Fiber> fibers = std::vector<Fiber>(kMaxThreads);
  Fiber* current = nullptr;
  void* scheduler_sp = nullptr;
  std::string error;  // set when the block can never finish
};
Launch g;

// The stacks of kMaxThreads fibers, each above a PROT_NONE guard page; reserved once.
char* stacks = nullptr;
constexpr size_t kSlot = kStackBytes + kPage;

char* stack_base(int i) { return stacks + static_cast<size_t>(i) * kSlot + kPage; }

// Faults inside a kernel: the handler jumps back to run_grid, which reports them.
sigjmp_buf fault_jump;
volatile sig_atomic_t in_kernel = 0;
pthread_t kernel_thread;
void* volatile fault_address = nullptr;
struct sigaction previous_segv, previous_bus;

void on_fault(int sig, siginfo_t* info, void* uc) {
  if (in_kernel && pthread_equal(kernel_thread, pthread_self())) {
    fault_address = info->si_addr;
    in_kernel = 0;
    siglongjmp(fault_jump, 1);
  }
  // Not ours (V8's WebAssembly bounds checks, a host bug): hand it to whoever was there before.
  const struct sigaction& prev = sig == SIGSEGV ? previous_segv : previous_bus;
  if (prev.sa_flags & SA_SIGINFO) {
    prev.sa_sigaction(sig, info, uc);
  } else if (prev.sa_handler == SIG_DFL || prev.sa_handler == SIG_IGN) {
    signal(sig, SIG_DFL);  // returning re-executes the access, which now ends the process
  } else {
    prev.sa_handler(sig);
  }
}

void install_once() {
  static bool done = false;
  if (done) return;
  done = true;
  void* mem = mmap(nullptr, kSlot * kMaxThreads, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) {
    std::fprintf(stderr, "pfgm CUDA emulator: cannot reserve fiber stacks\n");
    std::abort();
  }
  stacks = static_cast<char*>(mem);
  for (int i = 0; i < kMaxThreads; ++i)
    mprotect(stacks + static_cast<size_t>(i) * kSlot, kPage, PROT_NONE);
  struct sigaction sa {};
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, &previous_segv);
  sigaction(SIGBUS, &sa, &previous_bus);
}

// The handler runs on an alternate stack, so a fiber's stack overflow is reported too.
void ensure_alt_stack() {
  static thread_local bool has = false;
  if (has) return;
  has = true;
  stack_t current{};
  if (sigaltstack(nullptr, &current) == 0 && !(current.ss_flags & SS_DISABLE)) return;
  stack_t alt{};
  alt.ss_size = 64 * 1024;
  alt.ss_sp = std::malloc(alt.ss_size);  // kept for the thread's lifetime
  sigaltstack(&alt, nullptr);
}

[[noreturn]] void fiber_main() {
  g.body(g.closure);
  g.current->state = State::kDone;
  pfgm_emu_switch(&g.current->sp, g.scheduler_sp);
  std::abort();  // a finished fiber is never resumed
}

void* init_stack(int i) {
  auto* top = reinterpret_cast<uint64_t*>(stack_base(i) + kStackBytes);
  uint64_t* sp = top - 2;  // 16-aligned after the return address is popped
  *--sp = reinterpret_cast<uint64_t>(&pfgm_emu_start);
  *--sp = 0;                                        // rbp
  *--sp = 0;                                        // rbx
  *--sp = reinterpret_cast<uint64_t>(&fiber_main);  // r12: what pfgm_emu_start calls
  *--sp = 0;                                        // r13: its argument
  *--sp = 0;                                        // r14
  *--sp = 0;                                        // r15
  uint32_t mxcsr;
  uint16_t fcw;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(fcw));
  --sp;
  std::memcpy(reinterpret_cast<char*>(sp), &mxcsr, 4);
  std::memcpy(reinterpret_cast<char*>(sp) + 4, &fcw, 2);
  return sp;
}

std::string xyz(const uint3& v) {
  return "(" + std::to_string(v.x) + "," + std::to_string(v.y) + "," + std::to_string(v.z) + ")";
}

std::string where(const Fiber& f) {
  return std::string("kernel ") + g.name + ", block " + xyz(g_block_idx) + ", thread " + xyz(f.tid);
}

// Back to the scheduler; returns what the completed barrier or warp operation gave this thread.
uint64_t wait() {
  Fiber* f = g.current;
  pfgm_emu_switch(&f->sp, g.scheduler_sp);
  return f->result;
}

const char* state_name(const Fiber& f) {
  switch (f.state) {
    case State::kBlockBarrier: return "wait at __syncthreads";
    case State::kWarpOp: return "wait at a warp intrinsic";
    case State::kDone: return "have exited";
    default: return "run";
  }
}

// "threads 0-31 wait at __syncthreads; threads 32-63 have exited".
std::string describe_states() {
  std::string out;
  int i = 0;
  while (i < g.threads) {
    int j = i;
    while (j + 1 < g.threads && g.fibers[j + 1].state == g.fibers[i].state) ++j;
    if (!out.empty()) out += "; ";
    out += (i == j ? "thread " + std::to_string(i)
                   : "threads " + std::to_string(i) + "-" + std::to_string(j)) +
           " " + state_name(g.fibers[i]);
    i = j + 1;
  }
  return out;
}

int source_lane(const Fiber& f, int lane) {
  const int w = f.width;
  const int base = lane & ~(w - 1);
  switch (f.op) {
    case Shfl::kIdx: return base + (f.lane_arg & (w - 1));
    case Shfl::kUp: return (lane - base) >= f.lane_arg ? lane - f.lane_arg : lane;
    case Shfl::kDown: return (lane - base) + f.lane_arg < w ? lane + f.lane_arg : lane;
    case Shfl::kXor: {
      const int s = lane ^ f.lane_arg;
      return s < base + w ? s : lane;
    }
    default: return lane;
  }
}

// Completes the warp operations whose every named lane has arrived. False with g.error set when
// one never can.
bool release_warps(bool* released) {
  for (int w0 = 0; w0 < g.threads; w0 += kWarp) {
    const int lanes = std::min(kWarp, g.threads - w0);
    for (int l = 0; l < lanes; ++l) {
      Fiber& f = g.fibers[w0 + l];
      if (f.state != State::kWarpOp) continue;
      if (!(f.mask >> l & 1u)) {
        g.error = where(f) + ": the warp intrinsic's mask 0x" + std::to_string(f.mask) +
                  " does not include the calling lane " + std::to_string(l);
        return false;
      }
      bool ready = true;
      for (int m = 0; m < kWarp; ++m) {
        if (!(f.mask >> m & 1u)) continue;
        if (m >= lanes) {
          g.error = where(f) + ": the warp intrinsic's mask names lane " + std::to_string(m) +
                    ", which this block (of " + std::to_string(g.threads) +
                    " threads) does not have";
          return false;
        }
        const Fiber& o = g.fibers[w0 + m];
        if (o.state == State::kDone) {
          g.error = where(f) + ": the warp intrinsic's mask names lane " + std::to_string(m) +
                    ", which has exited";
          return false;
        }
        if (o.state != State::kWarpOp) {
          ready = false;
          break;
        }
        if (o.op != f.op || o.mask != f.mask || o.width != f.width) {
          g.error = where(f) + ": lanes " + std::to_string(l) + " and " + std::to_string(m) +
                    " of one mask meet at different warp intrinsics";
          return false;
        }
      }
      if (!ready) continue;
      if (f.width <= 0 || f.width > kWarp || (f.width & (f.width - 1)) != 0) {
        g.error = where(f) + ": shuffle width " + std::to_string(f.width) +
                  " is not a power of 2 up to 32";
        return false;
      }
      // Every lane of the mask is here: compute all results before anyone resumes.
      uint64_t ballot = 0;
      for (int m = 0; m < lanes; ++m) {
        if ((f.mask >> m & 1u) && g.fibers[w0 + m].value != 0) ballot |= uint64_t{1} << m;
      }
      for (int m = 0; m < lanes; ++m) {
        if (!(f.mask >> m & 1u)) continue;
        Fiber& o = g.fibers[w0 + m];
        switch (o.op) {
          case Shfl::kBallot: o.result = ballot; break;
          case Shfl::kAny: o.result = ballot != 0; break;
          case Shfl::kAll:
            o.result = ballot == (f.mask & ((lanes == 32 ? 0xffffffffull : ((1ull << lanes) - 1))));
            break;
          case Shfl::kSync: o.result = 0; break;
          default: {
            const int s = source_lane(o, m);
            if (!(f.mask >> s & 1u)) {
              g.error = where(o) + ": the shuffle reads lane " + std::to_string(s) +
                        ", which is not in its mask (an undefined value on a GPU)";
              return false;
            }
            o.result = g.fibers[w0 + s].value;
          }
        }
      }
      for (int m = 0; m < lanes; ++m) {
        if (f.mask >> m & 1u) g.fibers[w0 + m].state = State::kRunnable;
      }
      *released = true;
    }
  }
  return true;
}

// Completes __syncthreads when every live thread waits at it. False with g.error set otherwise.
bool release_block() {
  int waiting = 0;
  Vote vote = Vote::kNone;
  bool first = true;
  uint64_t count = 0;
  for (int i = 0; i < g.threads; ++i) {
    const Fiber& f = g.fibers[i];
    if (f.state == State::kDone) continue;
    if (f.state != State::kBlockBarrier) {
      g.error = std::string("kernel ") + g.name + ", block " + xyz(g_block_idx) +
                ": the block can never continue (a barrier some threads skip, or a warp intrinsic "
                "waiting for lanes held at __syncthreads): " +
                describe_states();
      return false;
    }
    if (first) vote = f.vote;
    if (f.vote != vote) {
      g.error = std::string("kernel ") + g.name + ", block " + xyz(g_block_idx) +
                ": threads meet at different kinds of __syncthreads (plain, _or, _and, _count)";
      return false;
    }
    first = false;
    ++waiting;
    count += f.predicate != 0;
  }
  uint64_t result = 0;
  switch (vote) {
    case Vote::kOr: result = count > 0; break;
    case Vote::kAnd: result = count == static_cast<uint64_t>(waiting); break;
    case Vote::kCount: result = count; break;
    default: break;
  }
  for (int i = 0; i < g.threads; ++i) {
    Fiber& f = g.fibers[i];
    if (f.state == State::kBlockBarrier) {
      f.result = result;
      f.state = State::kRunnable;
    }
  }
  return true;
}

// Runs the current block to its end; false with g.error set when it cannot finish.
bool run_block(const dim3& block) {
  for (int i = 0; i < g.threads; ++i) {
    Fiber& f = g.fibers[i];
    f = Fiber{};
    f.index = i;
    f.tid.x = static_cast<unsigned>(i) % block.x;
    f.tid.y = static_cast<unsigned>(i) / block.x % block.y;
    f.tid.z = static_cast<unsigned>(i) / (block.x * block.y);
    f.sp = init_stack(i);
  }
  for (;;) {
    for (int k = 0; k < g.threads; ++k) {
      Fiber& f = g.fibers[g.reverse ? g.threads - 1 - k : k];
      if (f.state != State::kRunnable) continue;
      g.current = &f;
      g_thread_idx = &f.tid;
      pfgm_emu_switch(&g.scheduler_sp, f.sp);
    }
    bool all_done = true;
    for (int i = 0; i < g.threads && all_done; ++i) all_done = g.fibers[i].state == State::kDone;
    if (all_done) return true;
    bool released = false;
    if (!release_warps(&released)) return false;
    if (!released && !release_block()) return false;
  }
}

std::string dims(const dim3& d) {
  return "(" + std::to_string(d.x) + "," + std::to_string(d.y) + "," + std::to_string(d.z) + ")";
}

}  // namespace

int block_barrier(Vote vote, int predicate) {
  Fiber* f = g.current;
  f->state = State::kBlockBarrier;
  f->vote = vote;
  f->predicate = predicate;
  return static_cast<int>(wait());
}

uint64_t warp_op(Shfl op, unsigned mask, uint64_t value, int lane_arg, int width) {
  Fiber* f = g.current;
  f->state = State::kWarpOp;
  f->op = op;
  f->mask = mask;
  f->value = value;
  f->lane_arg = lane_arg;
  f->width = width;
  return wait();
}

void run_grid(const char* name, dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t, Body body,
              void* closure) {
  std::lock_guard<std::mutex> lock(launch_mutex);
  if (sticky_error() != cudaSuccess) return;  // a corrupt context runs nothing
  const uint64_t threads = uint64_t{block.x} * block.y * block.z;
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || threads == 0 || threads > kMaxThreads ||
      block.z > 64 || grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535) {
    raise_error(cudaErrorInvalidConfiguration, std::string("launch of ") + name + " with grid " +
                                                   dims(grid) + " and block " + dims(block) +
                                                   ": an invalid configuration");
    return;
  }
  if (shared_bytes > 48 * 1024) {
    raise_error(cudaErrorInvalidValue,
                std::string("launch of ") + name + ": dynamic shared memory above 48 KiB");
    return;
  }
  install_once();
  ensure_alt_stack();
  const char* order = std::getenv("PFGM_EMU_ORDER");
  g.name = name;
  g.body = body;
  g.closure = closure;
  g.threads = static_cast<int>(threads);
  g.reverse = order != nullptr && std::strcmp(order, "reverse") == 0;
  g.error.clear();
  g_block_dim = block;
  g_grid_dim = grid;
  kernel_thread = pthread_self();
  if (sigsetjmp(fault_jump, 1) != 0) {
    const Fiber* f = g.current;
    const char* addr = static_cast<const char*>(fault_address);
    std::string what;
    const int fi = f != nullptr ? f->index : 0;
    if (addr >= stacks && addr < stacks + kSlot * kMaxThreads &&
        static_cast<size_t>(addr - stacks) % kSlot < kPage) {
      what = "overflowed its emulated thread's stack";
    } else {
      what = "touched " + describe_address(addr);
    }
    (void)fi;
    raise_error(cudaErrorIllegalAddress,
                (f != nullptr ? where(*f) : std::string("kernel ") + name) + ": " + what);
    g_thread_idx = nullptr;
    return;
  }
  for (unsigned z = 0; z < grid.z; ++z) {
    for (unsigned y = 0; y < grid.y; ++y) {
      for (unsigned x = 0; x < grid.x; ++x) {
        g_block_idx = uint3{x, y, z};
        in_kernel = 1;
        const bool ok = run_block(block);
        in_kernel = 0;
        if (!ok) {
          raise_error(cudaErrorLaunchFailure, g.error);
          g_thread_idx = nullptr;
          return;
        }
      }
    }
  }
  g_thread_idx = nullptr;
}

}  // namespace pfgm_emu
