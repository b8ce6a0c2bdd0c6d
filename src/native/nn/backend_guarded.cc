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
// every staging copy moves the right data. Not for users: reached only through the native
// Network config's device 'cpu-guarded'. The arena and its checks (guarded.h) also serve the
// fake-CUDA test addon, which runs cuda/backend.cu itself on this memory (test/native/fakecuda/).
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <string>

#include "../errors.h"
#include "backend.h"
#include "guarded.h"

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
      fail(code::kMemory, "guarded device: its 64 GiB arena is used up (it never reuses addresses)");
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
    void* p = mmap(nullptr, kReserve, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
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
    const std::string why = in_arena(p)
                                ? "runs past the end of its device array"
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

  void linear_forward(const op::LinearShape& s, const float* x, const float* wt, const float* b,
                      float* y) override {
    Window w("linear_forward");
    w.in(x, s.rows * s.in, "x");
    w.in(wt, s.out * s.in, "weight");
    w.opt(b, s.out, "bias");
    w.out(y, s.rows * s.out, "y");
    inner().linear_forward(s, x, wt, b, y);
  }
  void linear_backward(const op::LinearShape& s, const float* x, const float* wt, const float* dy,
                       float* dx, float* dw, float* db) override {
    Window w("linear_backward");
    w.in(x, s.rows * s.in, "x");
    w.in(wt, s.out * s.in, "weight");
    w.in(dy, s.rows * s.out, "dy");
    w.opt(dx, s.rows * s.in, "dx");
    w.opt(dw, s.out * s.in, "dweight");
    w.opt(db, s.out, "dbias");
    inner().linear_backward(s, x, wt, dy, dx, dw, db);
  }
  void conv2d_forward(const op::Conv2dShape& s, const float* x, const float* wt, const float* b,
                      float* y) override {
    Window w("conv2d_forward");
    w.in(x, s.n * s.h * s.w * s.cin, "x");
    w.in(wt, s.cout * s.cin * s.k * s.k, "weight");
    w.opt(b, s.cout, "bias");
    w.out(y, s.n * s.oh() * s.ow() * s.cout, "y");
    inner().conv2d_forward(s, x, wt, b, y);
  }
  void conv2d_backward(const op::Conv2dShape& s, const float* x, const float* wt, const float* dy,
                       float* dx, float* dw, float* db) override {
    Window w("conv2d_backward");
    w.opt(x, s.n * s.h * s.w * s.cin, "x");  // needed only for dweight
    w.in(wt, s.cout * s.cin * s.k * s.k, "weight");
    w.in(dy, s.n * s.oh() * s.ow() * s.cout, "dy");
    w.opt(dx, s.n * s.h * s.w * s.cin, "dx");
    w.opt(dw, s.cout * s.cin * s.k * s.k, "dweight");
    w.opt(db, s.cout, "dbias");
    inner().conv2d_backward(s, x, wt, dy, dx, dw, db);
  }
  void attention_forward(const op::AttentionShape& s, const float* qkv, float* out,
                         float* weights) override {
    Window w("attention_forward");
    w.in(qkv, s.n * s.hw * 3 * s.c, "qkv");
    w.out(out, s.n * s.hw * s.c, "out");
    w.opt(weights, s.n * s.heads * s.hw * s.hw, "weights");
    inner().attention_forward(s, qkv, out, weights);
  }
  void attention_backward(const op::AttentionShape& s, const float* qkv, const float* weights,
                          const float* dout, float* dqkv) override {
    Window w("attention_backward");
    w.in(qkv, s.n * s.hw * 3 * s.c, "qkv");
    w.in(weights, s.n * s.heads * s.hw * s.hw, "weights");
    w.in(dout, s.n * s.hw * s.c, "dout");
    w.out(dqkv, s.n * s.hw * 3 * s.c, "dqkv");
    inner().attention_backward(s, qkv, weights, dout, dqkv);
  }
  void fir_down_forward(const op::ResampleShape& s, const float* x, float* y) override {
    Window w("fir_down_forward");
    w.host(s.f, "taps");
    w.in(x, in_size(s), "x");
    w.out(y, s.in.n * s.down_h() * s.down_w() * s.in.c, "y");
    inner().fir_down_forward(s, x, y);
  }
  void fir_down_backward(const op::ResampleShape& s, const float* dy, float* dx) override {
    Window w("fir_down_backward");
    w.host(s.f, "taps");
    w.in(dy, s.in.n * s.down_h() * s.down_w() * s.in.c, "dy");
    w.out(dx, in_size(s), "dx");
    inner().fir_down_backward(s, dy, dx);
  }
  void fir_up_forward(const op::ResampleShape& s, const float* x, float* y) override {
    Window w("fir_up_forward");
    w.host(s.f, "taps");
    w.in(x, in_size(s), "x");
    w.out(y, s.in.n * s.up_h() * s.up_w() * s.in.c, "y");
    inner().fir_up_forward(s, x, y);
  }
  void fir_up_backward(const op::ResampleShape& s, const float* dy, float* dx) override {
    Window w("fir_up_backward");
    w.host(s.f, "taps");
    w.in(dy, s.in.n * s.up_h() * s.up_w() * s.in.c, "dy");
    w.out(dx, in_size(s), "dx");
    inner().fir_up_backward(s, dy, dx);
  }
  void group_norm_forward(const op::GroupNormShape& s, const float* x, const float* shift,
                          const float* gamma, const float* beta, float* y, float* mean,
                          float* rstd) override {
    Window w("group_norm_forward");
    const int64_t size = s.n * s.hw * s.c;
    w.in(x, size, "x");
    w.opt(shift, s.n * s.c, "shift");
    w.in(gamma, s.c, "gamma");
    w.in(beta, s.c, "beta");
    w.out(y, size, "y");
    w.out(mean, s.n * s.groups, "mean");
    w.out(rstd, s.n * s.groups, "rstd");
    inner().group_norm_forward(s, x, shift, gamma, beta, y, mean, rstd);
  }
  void group_norm_backward(const op::GroupNormShape& s, const float* x, const float* shift,
                           const float* gamma, const float* beta, const float* mean,
                           const float* rstd, const float* dy, float* dx, float* dgamma,
                           float* dbeta, float* dshift) override {
    Window w("group_norm_backward");
    const int64_t size = s.n * s.hw * s.c;
    w.in(x, size, "x");
    w.opt(shift, s.n * s.c, "shift");
    w.in(gamma, s.c, "gamma");
    w.in(beta, s.c, "beta");
    w.in(mean, s.n * s.groups, "mean");
    w.in(rstd, s.n * s.groups, "rstd");
    w.in(dy, size, "dy");
    w.out(dx, size, "dx");
    w.opt(dgamma, s.c, "dgamma");
    w.opt(dbeta, s.c, "dbeta");
    w.opt(dshift, s.n * s.c, "dshift");
    inner().group_norm_backward(s, x, shift, gamma, beta, mean, rstd, dy, dx, dgamma, dbeta, dshift);
  }

  void silu_forward(int64_t count, const float* x, float* y) override {
    Window w("silu_forward");
    w.in(x, count, "x");
    w.out(y, count, "y");
    inner().silu_forward(count, x, y);
  }
  void silu_backward(int64_t count, const float* x, const float* dy, float* dx) override {
    Window w("silu_backward");
    w.in(x, count, "x");
    w.in(dy, count, "dy");
    w.out(dx, count, "dx");
    inner().silu_backward(count, x, dy, dx);
  }
  void dropout_forward(const op::DropoutSpec& s, const float* x, float* y) override {
    Window w("dropout_forward");
    w.in(x, s.samples * s.per_sample, "x");
    w.out(y, s.samples * s.per_sample, "y");
    inner().dropout_forward(s, x, y);
  }
  void dropout_backward(const op::DropoutSpec& s, const float* dy, float* dx) override {
    Window w("dropout_backward");
    w.in(dy, s.samples * s.per_sample, "dy");
    w.out(dx, s.samples * s.per_sample, "dx");
    inner().dropout_backward(s, dy, dx);
  }
  void axpby(int64_t count, float alpha, const float* a, float beta, const float* b,
             float* y) override {
    Window w("axpby");
    w.in(a, count, "a");
    w.in(b, count, "b");
    w.out(y, count, "y");
    inner().axpby(count, alpha, a, beta, b, y);
  }
  void scale(int64_t count, float alpha, const float* a, float* y) override {
    Window w("scale");
    w.in(a, count, "a");
    w.out(y, count, "y");
    inner().scale(count, alpha, a, y);
  }
  void concat_channels(int64_t pixels, int64_t ca, const float* a, int64_t cb, const float* b,
                       float* y) override {
    Window w("concat_channels");
    w.in(a, pixels * ca, "a");
    w.in(b, pixels * cb, "b");
    w.out(y, pixels * (ca + cb), "y");
    inner().concat_channels(pixels, ca, a, cb, b, y);
  }
  void split_channels(int64_t pixels, int64_t ca, float* da, int64_t cb, float* db,
                      const float* dy) override {
    Window w("split_channels");
    w.opt(da, pixels * ca, "da");
    w.opt(db, pixels * cb, "db");
    w.in(dy, pixels * (ca + cb), "dy");
    inner().split_channels(pixels, ca, da, cb, db, dy);
  }
  void add_channel_bias(int64_t n, int64_t hw, int64_t c, const float* x, const float* bias,
                        float* y) override {
    Window w("add_channel_bias");
    w.in(x, n * hw * c, "x");
    w.in(bias, n * c, "bias");
    w.out(y, n * hw * c, "y");
    inner().add_channel_bias(n, hw, c, x, bias, y);
  }
  void nchw_to_nhwc(int64_t n, int64_t c, int64_t h, int64_t wd, const float* x, float* y) override {
    Window w("nchw_to_nhwc");
    w.in(x, n * c * h * wd, "x");
    w.out(y, n * c * h * wd, "y");
    inner().nchw_to_nhwc(n, c, h, wd, x, y);
  }
  void nhwc_to_nchw(int64_t n, int64_t c, int64_t h, int64_t wd, const float* x, float* y) override {
    Window w("nhwc_to_nchw");
    w.in(x, n * c * h * wd, "x");
    w.out(y, n * c * h * wd, "y");
    inner().nhwc_to_nchw(n, c, h, wd, x, y);
  }
  void positional_embedding(int64_t n, int64_t channels, double max_positions, bool endpoint,
                            const float* x, float* y) override {
    Window w("positional_embedding");
    w.in(x, n, "x");
    w.out(y, n * channels, "y");
    inner().positional_embedding(n, channels, max_positions, endpoint, x, y);
  }
  void fourier_embedding(int64_t n, int64_t channels, const float* freqs, const float* x,
                         float* y) override {
    Window w("fourier_embedding");
    w.in(freqs, channels / 2, "freqs");
    w.in(x, n, "x");
    w.out(y, n * channels, "y");
    inner().fourier_embedding(n, channels, freqs, x, y);
  }
  void label_input(const op::LabelInputSpec& s, const float* labels, float* out) override {
    Window w("label_input");
    w.opt(labels, s.n * s.label_dim, "labels");
    w.out(out, s.n * s.label_dim, "out");
    inner().label_input(s, labels, out);
  }
  void swap_halves(int64_t rows, int64_t cols, const float* x, float* y) override {
    Window w("swap_halves");
    w.in(x, rows * cols, "x");
    w.out(y, rows * cols, "y");
    inner().swap_halves(rows, cols, x, y);
  }
  void sum_columns(int64_t rows, int64_t cols, const float* x, float* out) override {
    Window w("sum_columns");
    w.in(x, rows * cols, "x");
    w.out(out, cols, "out");
    inner().sum_columns(rows, cols, x, out);
  }
  void scale_rows(int64_t rows, int64_t cols, const float* a, const float* x, float* y) override {
    Window w("scale_rows");
    w.host(a, "a (per-row coefficients)");
    w.in(x, rows * cols, "x");
    w.out(y, rows * cols, "y");
    inner().scale_rows(rows, cols, a, x, y);
  }
  void axpby_rows(int64_t rows, int64_t cols, const float* a, const float* x, const float* b,
                  const float* z, float* y) override {
    Window w("axpby_rows");
    w.host(a, "a (per-row coefficients)");
    w.host(b, "b (per-row coefficients)");
    w.in(x, rows * cols, "x");
    w.in(z, rows * cols, "z");
    w.out(y, rows * cols, "y");
    inner().axpby_rows(rows, cols, a, x, b, z, y);
  }
  void sumsq_rows(int64_t rows, int64_t cols, const float* x, double* out) override {
    Window w("sumsq_rows");
    w.in(x, rows * cols, "x");
    w.host(out, "out (per-row sums)");
    inner().sumsq_rows(rows, cols, x, out);
  }

  double weighted_mse_forward(int64_t samples, int64_t per_sample, const float* pred,
                              const float* target, const float* weight) override {
    Window w("weighted_mse_forward");
    w.in(pred, samples * per_sample, "pred");
    w.in(target, samples * per_sample, "target");
    w.host(weight, "weight (per-sample loss weights)");
    return inner().weighted_mse_forward(samples, per_sample, pred, target, weight);
  }
  void weighted_mse_backward(int64_t samples, int64_t per_sample, const float* pred,
                             const float* target, const float* weight, float* dpred) override {
    Window w("weighted_mse_backward");
    w.in(pred, samples * per_sample, "pred");
    w.in(target, samples * per_sample, "target");
    w.host(weight, "weight (per-sample loss weights)");
    w.out(dpred, samples * per_sample, "dpred");
    inner().weighted_mse_backward(samples, per_sample, pred, target, weight, dpred);
  }
  optim::GradStats grad_stats(int64_t count, const float* g) override {
    Window w("grad_stats");
    w.in(g, count, "g");
    return inner().grad_stats(count, g);
  }
  void adam_step(int64_t count, float* p, const float* g, float* m, float* v, double lr,
                 double beta1, double beta2, double eps, int64_t t, float grad_scale, float* ema,
                 double ema_beta) override {
    Window w("adam_step");
    w.out(p, count, "param");
    w.in(g, count, "grad");
    w.out(m, count, "m");
    w.out(v, count, "v");
    w.opt(ema, count, "ema");
    inner().adam_step(count, p, g, m, v, lr, beta1, beta2, eps, t, grad_scale, ema, ema_beta);
  }
  void axpy(int64_t count, float alpha, const float* x, float* y) override {
    Window w("axpy");
    w.in(x, count, "x");
    w.out(y, count, "y");
    inner().axpy(count, alpha, x, y);
  }
  void student_t_noise_f32(float* out, const NoiseSpec& spec) override {
    Window w("student_t_noise_f32");
    w.out(out, spec.count * spec.n, "out");
    w.host(spec.sigma, "spec.sigma");
    inner().student_t_noise_f32(out, spec);
  }

  // Counts in floats over guarded::Access (bytes).
  class Window {
   public:
    explicit Window(const char* op) : a_(op) {}
    void in(const void* p, int64_t count, const char* what) { a_.device(p, count * 4, what); }
    void out(const void* p, int64_t count, const char* what) { a_.device(p, count * 4, what); }
    void opt(const void* p, int64_t count, const char* what) { a_.device(p, count * 4, what, true); }
    void host(const void* p, const char* what) { a_.host(p, what); }

   private:
    guarded::Access a_;
  };

 private:
  static int64_t in_size(const op::ResampleShape& s) { return s.in.n * s.in.h * s.in.w * s.in.c; }
  static Backend& inner() { return cpu_backend(); }
};

}  // namespace

Backend& guarded_backend() {
  static GuardedBackend backend;
  return backend;
}

}  // namespace pfgm::nn
