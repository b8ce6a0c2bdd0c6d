// The Winograd tile transforms (conv_winograd_tiles.h): conv_winograd_kernels.h compiled for
// AVX-512, AVX2 and baseline x86-64, and the one this CPU runs best chosen at run time, unless
// PFGM_WINOGRAD_ISA caps it (docs/dev/architecture.md, "Convolution algorithms (CPU)"): so the
// AVX2 and baseline code that other machines run can be tested, and timed, on an AVX-512 one.
#include "conv_winograd_tiles.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../errors.h"

// The vector type of the kernels changes the calling convention between instruction sets, which
// GCC warns about; every function that takes or returns one is inlined within its own build, so
// no call crosses instruction sets with it.
#pragma GCC diagnostic ignored "-Wpsabi"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define PFGM_WINOGRAD_X86 1
#pragma GCC push_options
#pragma GCC target("arch=x86-64-v4")
#define PFGM_WINOGRAD_ISA avx512
#include "conv_winograd_kernels.h"
#undef PFGM_WINOGRAD_ISA
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("arch=x86-64-v3")
#define PFGM_WINOGRAD_ISA avx2
#include "conv_winograd_kernels.h"
#undef PFGM_WINOGRAD_ISA
#pragma GCC pop_options
#endif
#define PFGM_WINOGRAD_ISA baseline
#include "conv_winograd_kernels.h"
#undef PFGM_WINOGRAD_ISA

namespace pfgm::cpu::winograd {
namespace {

// The entry points of one build.
struct Kernels {
  decltype(&baseline::input_transform) input_transform;
  decltype(&baseline::output_transform) output_transform;
  decltype(&baseline::output_adjoint) output_adjoint;
  decltype(&baseline::weight_transform) weight_transform;
  decltype(&baseline::weight_adjoint) weight_adjoint;
};

#define PFGM_WINOGRAD_KERNELS(ns)                                                        \
  Kernels {                                                                              \
    ns::input_transform, ns::output_transform, ns::output_adjoint, ns::weight_transform, \
        ns::weight_adjoint                                                               \
  }

// The most PFGM_WINOGRAD_ISA allows: 2 AVX-512 (x86-64-v4, also when unset), 1 AVX2
// (x86-64-v3), 0 baseline; -1 for a value it does not know.
int isa_cap() {
  const char* env = std::getenv("PFGM_WINOGRAD_ISA");
  if (env == nullptr || *env == '\0' || std::strcmp(env, "avx512") == 0) return 2;
  if (std::strcmp(env, "avx2") == 0) return 1;
  if (std::strcmp(env, "baseline") == 0) return 0;
  return -1;
}

// The build this CPU runs, capped by PFGM_WINOGRAD_ISA. Read at each call, like
// PFGM_CONV_WINOGRAD, so a test can switch it between calls; the transforms run inside parallel
// regions, where nothing may throw, so a bad value was refused before (check_isa_setting).
Kernels kernels() {
  int best = 0;
#ifdef PFGM_WINOGRAD_X86
  __builtin_cpu_init();
  best = __builtin_cpu_supports("x86-64-v4") ? 2 : __builtin_cpu_supports("x86-64-v3") ? 1 : 0;
#endif
  const int cap = isa_cap();
  switch (cap < 0 ? best : std::min(best, cap)) {
#ifdef PFGM_WINOGRAD_X86
    case 2: return PFGM_WINOGRAD_KERNELS(avx512);
    case 1: return PFGM_WINOGRAD_KERNELS(avx2);
#endif
    default: return PFGM_WINOGRAD_KERNELS(baseline);
  }
}

}  // namespace

void check_isa_setting() {
  if (isa_cap() >= 0) return;
  fail(code::kArgument, std::string("PFGM_WINOGRAD_ISA is '") + std::getenv("PFGM_WINOGRAD_ISA") +
                            "': set it to avx512, avx2 or baseline (the most the Winograd "
                            "transforms may use), or unset it");
}

void input_transform(const Tiles& g, const float* x, int64_t c, int64_t cp, float* v, int64_t t0,
                     int64_t t1) {
  kernels().input_transform(g, x, c, cp, v, t0, t1);
}

void output_transform(const Tiles& g, const float* mm, int64_t c, int64_t cp, const float* bias,
                      float* y, int64_t t0, int64_t t1) {
  kernels().output_transform(g, mm, c, cp, bias, y, t0, t1);
}

void output_adjoint(const Tiles& g, const float* dy, int64_t c, int64_t cp, float* dm, int64_t t0,
                    int64_t t1) {
  kernels().output_adjoint(g, dy, c, cp, dm, t0, t1);
}

void weight_transform(int64_t m, const float* w, int64_t cin, int64_t cout, int64_t cinp,
                      int64_t coutp, bool flipped, float* u, int64_t ci0, int64_t ci1) {
  kernels().weight_transform(m, w, cin, cout, cinp, coutp, flipped, u, ci0, ci1);
}

void weight_adjoint(int64_t m, const float* du, int64_t cin, int64_t cout, int64_t cinp,
                    int64_t coutp, float* dw, int64_t ci0, int64_t ci1) {
  kernels().weight_adjoint(m, du, cin, cout, cinp, coutp, dw, ci0, ci1);
}

}  // namespace pfgm::cpu::winograd
