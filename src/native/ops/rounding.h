// Float arithmetic that rounds after every operation on both backends.
//
// nvcc contracts a * b + c into one fused multiply-add by default, g++ on baseline x86-64 cannot
// (no FMA instruction), so the same expression rounds differently on the two backends. Kernels
// whose CPU reference is built for baseline x86-64 (no PFGM_VECTOR_CLONES) spell their arithmetic
// with these helpers, and the CUDA twin then returns the CPU's result bit for bit. On the host
// they are the plain operators, so the CPU code compiles exactly as before. The d* helpers are the
// same for double (named apart, so that a float call can never pick a double overload); double
// division and square root need none, CUDA always rounds them correctly.
#pragma once

#include <cmath>

#include "../rng/philox.h"  // PFGM_HD

namespace pfgm::fp {

#if defined(__CUDA_ARCH__)
PFGM_HD float mul(float a, float b) { return __fmul_rn(a, b); }
PFGM_HD float add(float a, float b) { return __fadd_rn(a, b); }
PFGM_HD float sub(float a, float b) { return __fsub_rn(a, b); }
PFGM_HD float div(float a, float b) { return __fdiv_rn(a, b); }
PFGM_HD float sqrt(float a) { return __fsqrt_rn(a); }
PFGM_HD double dmul(double a, double b) { return __dmul_rn(a, b); }
PFGM_HD double dadd(double a, double b) { return __dadd_rn(a, b); }
PFGM_HD double dsub(double a, double b) { return __dsub_rn(a, b); }
PFGM_HD bool finite(double a) { return isfinite(a); }
#else
PFGM_HD float mul(float a, float b) { return a * b; }
PFGM_HD float add(float a, float b) { return a + b; }
PFGM_HD float sub(float a, float b) { return a - b; }
PFGM_HD float div(float a, float b) { return a / b; }
PFGM_HD float sqrt(float a) { return std::sqrt(a); }
PFGM_HD double dmul(double a, double b) { return a * b; }
PFGM_HD double dadd(double a, double b) { return a + b; }
PFGM_HD double dsub(double a, double b) { return a - b; }
PFGM_HD bool finite(double a) { return std::isfinite(a); }
#endif

}  // namespace pfgm::fp
