// The CUDA emulator's device-side language, force-included (-include) into every cuda/*.cu file
// of the emulated test addon (pfgm_emucuda.node) after rewrite_launches.cmake has turned each
// `kernel<<<grid, block, smem, stream>>>(args)` into a call of ::pfgm_emu::launch (see below).
//
// Why: the custom kernels (group norm, attention, resampling, the loss, Adam, the Philox draws,
// the sampler updates...) are otherwise only compiled on machines without a GPU. Compiled as C++
// over this header, they run on the CPU with CUDA's execution model: every thread of a block is a
// fiber that runs until it reaches a barrier or a warp intrinsic, so __syncthreads, shuffles and
// votes have their real semantics, and what a barrier-divergent or out-of-bounds kernel would do
// on a GPU becomes a named, sticky CUDA error (emu_scheduler.cc). test/gpu's parity files then
// run against it on every CI machine (test/native/cuda-emulated.test.ts).
//
// What it cannot show: timing, asynchrony (every launch and copy completes before it returns),
// data races between threads of a block (each runs alone between barriers; PFGM_EMU_ORDER=reverse
// runs them in the other order, which changes the result of an order-dependent kernel), nvcc's
// FMA contraction (the host compiler does not contract without -mfma), and the accuracy of
// CUDA's fast-math intrinsics, which are their exact libm counterparts here.
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

#include "emu_state.h"  // stream capture: capture_action, record (emu_graphs.cc)

// The device branches of the shared headers (ops/rounding.h, bf16_math.h, activation_math.h)
// use the intrinsics below, so they run here too. Defined after the toolkit's headers, which
// read it as "this is nvcc's device pass".
#define __CUDA_ARCH__ 900

#undef __global__
#undef __device__
#undef __host__
#undef __shared__
#undef __constant__
#undef __forceinline__
#undef __noinline__
#undef __launch_bounds__
#define __global__
#define __device__
#define __host__
#define __constant__
// One launch runs at a time (emu_scheduler.cc holds a lock around it) and the threads of a block
// are fibers of one host thread, so a function-local static is exactly a block's shared array.
#define __shared__ static
#define __forceinline__ inline
#define __launch_bounds__(...)

namespace pfgm_emu {

// The running fiber's coordinates, set by the scheduler before it resumes a fiber.
extern const uint3* g_thread_idx;
extern uint3 g_block_idx;
extern dim3 g_block_dim;
extern dim3 g_grid_dim;

inline const uint3& thread_idx() { return *g_thread_idx; }
inline const uint3& block_idx() { return g_block_idx; }
inline const dim3& block_dim() { return g_block_dim; }
inline const dim3& grid_dim() { return g_grid_dim; }

// Block-wide barrier with an optional vote (__syncthreads_or / _and / _count).
enum class Vote { kNone, kOr, kAnd, kCount };
int block_barrier(Vote vote, int predicate);

// Warp-wide exchange: every lane of `mask` must arrive with the same operation.
enum class Shfl { kIdx, kUp, kDown, kXor, kSync, kBallot, kAny, kAll };
uint64_t warp_op(Shfl op, unsigned mask, uint64_t value, int lane_arg, int width);

// Type-erased kernel body: the launcher below wraps the kernel and its arguments.
using Body = void (*)(void*);
void run_grid(const char* name, dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t stream,
              Body body, void* closure);

// kernel<<<g, b, s, st>>>(args...) becomes
//   launch("kernel", g, b, s, st).with([](auto... a) { kernel(a...); })(args...)
// The lambda lets a kernel template deduce its arguments as the real launch does; each thread
// calls it with its own copies of the arguments.
template <class K>
struct Bound {
  const char* name;
  dim3 grid, block;
  size_t shared_bytes;
  cudaStream_t stream;
  K kernel;

  template <class... A>
  void operator()(A&&... args) const {
    struct Closure {
      K kernel;
      std::tuple<std::decay_t<A>...> args;
    } closure{kernel, std::tuple<std::decay_t<A>...>(std::forward<A>(args)...)};
    switch (capture_action(stream, name)) {
      case CaptureAction::kRecord: {  // a graph's node: the launch with copies of its arguments
        auto kept = std::make_shared<Closure>(std::move(closure));
        record([n = name, g = grid, b = block, s = shared_bytes, kept] {
          run_grid(n, g, b, s, nullptr, &Bound::invoke<Closure>, kept.get());
        });
        return;
      }
      case CaptureAction::kSkip: return;
      case CaptureAction::kRun: break;
    }
    run_grid(name, grid, block, shared_bytes, stream, &Bound::invoke<Closure>, &closure);
  }

  template <class C>
  static void invoke(void* p) {
    C& c = *static_cast<C*>(p);
    auto copies = c.args;
    std::apply(c.kernel, copies);
  }
};

struct Launch {
  const char* name;
  dim3 grid, block;
  size_t shared_bytes;
  cudaStream_t stream;
  template <class K>
  Bound<K> with(K kernel) const {
    return Bound<K>{name, grid, block, shared_bytes, stream, kernel};
  }
};

inline Launch launch(const char* name, dim3 grid, dim3 block, size_t shared_bytes = 0,
                     cudaStream_t stream = nullptr) {
  return Launch{name, grid, block, shared_bytes, stream};
}

template <class T>
uint64_t to_bits(T v) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>, "shuffles move at most 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  return bits;
}
template <class T>
T from_bits(uint64_t bits) {
  T v;
  std::memcpy(&v, &bits, sizeof(T));
  return v;
}

}  // namespace pfgm_emu

#define threadIdx (::pfgm_emu::thread_idx())
#define blockIdx (::pfgm_emu::block_idx())
#define blockDim (::pfgm_emu::block_dim())
#define gridDim (::pfgm_emu::grid_dim())

// A compiler barrier on both sides: shared arrays are statics, which must be re-read after the
// other threads ran.
#define PFGM_EMU_FENCE() asm volatile("" ::: "memory")

inline void __syncthreads() {
  PFGM_EMU_FENCE();
  ::pfgm_emu::block_barrier(::pfgm_emu::Vote::kNone, 0);
  PFGM_EMU_FENCE();
}
inline int __syncthreads_or(int p) {
  PFGM_EMU_FENCE();
  const int r = ::pfgm_emu::block_barrier(::pfgm_emu::Vote::kOr, p);
  PFGM_EMU_FENCE();
  return r;
}
inline int __syncthreads_and(int p) {
  PFGM_EMU_FENCE();
  const int r = ::pfgm_emu::block_barrier(::pfgm_emu::Vote::kAnd, p);
  PFGM_EMU_FENCE();
  return r;
}
inline int __syncthreads_count(int p) {
  PFGM_EMU_FENCE();
  const int r = ::pfgm_emu::block_barrier(::pfgm_emu::Vote::kCount, p);
  PFGM_EMU_FENCE();
  return r;
}
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  PFGM_EMU_FENCE();
  ::pfgm_emu::warp_op(::pfgm_emu::Shfl::kSync, mask, 0, 0, 32);
  PFGM_EMU_FENCE();
}

template <class T>
T __shfl_sync(unsigned mask, T v, int src_lane, int width = 32) {
  return ::pfgm_emu::from_bits<T>(
      ::pfgm_emu::warp_op(::pfgm_emu::Shfl::kIdx, mask, ::pfgm_emu::to_bits(v), src_lane, width));
}
template <class T>
T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  return ::pfgm_emu::from_bits<T>(::pfgm_emu::warp_op(
      ::pfgm_emu::Shfl::kUp, mask, ::pfgm_emu::to_bits(v), static_cast<int>(delta), width));
}
template <class T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  return ::pfgm_emu::from_bits<T>(::pfgm_emu::warp_op(
      ::pfgm_emu::Shfl::kDown, mask, ::pfgm_emu::to_bits(v), static_cast<int>(delta), width));
}
template <class T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  return ::pfgm_emu::from_bits<T>(
      ::pfgm_emu::warp_op(::pfgm_emu::Shfl::kXor, mask, ::pfgm_emu::to_bits(v), lane_mask, width));
}
inline unsigned __ballot_sync(unsigned mask, int p) {
  return static_cast<unsigned>(::pfgm_emu::warp_op(::pfgm_emu::Shfl::kBallot, mask, p != 0, 0, 32));
}
inline int __any_sync(unsigned mask, int p) {
  return static_cast<int>(::pfgm_emu::warp_op(::pfgm_emu::Shfl::kAny, mask, p != 0, 0, 32));
}
inline int __all_sync(unsigned mask, int p) {
  return static_cast<int>(::pfgm_emu::warp_op(::pfgm_emu::Shfl::kAll, mask, p != 0, 0, 32));
}

// The device's global classification functions.
using std::isfinite;
using std::isinf;
using std::isnan;
using std::signbit;

// Round-to-nearest arithmetic intrinsics: what the host computes without contraction.
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fsqrt_rn(float a) { return std::sqrt(a); }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dsub_rn(double a, double b) { return a - b; }
inline double __ddiv_rn(double a, double b) { return a / b; }
inline double __dsqrt_rn(double a) { return std::sqrt(a); }
inline double __fma_rn(double a, double b, double c) { return std::fma(a, b, c); }
// Fast-math intrinsics: their accurate counterparts (the emulator does not model their error).
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __powf(float a, float b) { return std::pow(a, b); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float a) { return 1.0f / a; }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __saturatef(float x) {
  return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : (x == x ? x : 0.0f));
}
// Reinterpretation and integer intrinsics.
inline unsigned __float_as_uint(float f) {
  return ::pfgm_emu::from_bits<unsigned>(::pfgm_emu::to_bits(f));
}
inline float __uint_as_float(unsigned u) {
  return ::pfgm_emu::from_bits<float>(::pfgm_emu::to_bits(u));
}
inline int __float_as_int(float f) { return ::pfgm_emu::from_bits<int>(::pfgm_emu::to_bits(f)); }
inline float __int_as_float(int i) { return ::pfgm_emu::from_bits<float>(::pfgm_emu::to_bits(i)); }
inline long long __double_as_longlong(double d) {
  return ::pfgm_emu::from_bits<long long>(::pfgm_emu::to_bits(d));
}
inline double __longlong_as_double(long long i) {
  return ::pfgm_emu::from_bits<double>(::pfgm_emu::to_bits(i));
}
inline unsigned __umulhi(unsigned a, unsigned b) {
  return static_cast<unsigned>((static_cast<uint64_t>(a) * b) >> 32);
}
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
  return static_cast<unsigned long long>((static_cast<unsigned __int128>(a) * b) >> 64);
}
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }
inline int __ffs(int x) { return __builtin_ffs(x); }
template <class T>
T __ldg(const T* p) {
  return *p;
}
// The device's overloaded integer min / max (no std:: on the device).
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline long min(long a, long b) { return a < b ? a : b; }
inline long max(long a, long b) { return a > b ? a : b; }
inline float min(float a, float b) { return std::fmin(a, b); }
inline float max(float a, float b) { return std::fmax(a, b); }
inline double min(double a, double b) { return std::fmin(a, b); }
inline double max(double a, double b) { return std::fmax(a, b); }
