// bfloat16 rounding shared by the CPU and CUDA (PFGM_HD): the CUDA backend's bf16 autocast
// (cuda/kernels/bf16.cu) converts inputs and weights with these, and the CPU op case `bf16_round`
// exposes the same code so a test can check it against an independent model of
// round-to-nearest-even on any machine (test/native/gpu-conv-linear.test.ts).
//
// bf16 keeps float's sign and 8 exponent bits and the top 7 of its 23 mantissa bits: a float is
// rounded to the nearest bf16 by adding half of the dropped range (0x7fff) plus the kept least
// significant bit (ties to even) and truncating. That one addition also handles subnormals (same
// exponent field), overflow (a carry into the exponent gives infinity, as IEEE rounding does for
// values at or past halfway to 2^128) and infinities (0x7f800000 + 0x7fff does not carry).
// NaNs are kept NaN (the carry could otherwise turn a NaN with low payload bits into infinity)
// and made quiet.
#pragma once

#include <cstdint>
#include <cstring>

#include "../rng/philox.h"  // PFGM_HD

namespace pfgm::bf16 {

PFGM_HD uint32_t float_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
#endif
}

PFGM_HD float bits_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

// The bf16 nearest to f (ties to even), as its 16 bits.
PFGM_HD uint16_t from_float(float f) {
  const uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);
  const uint32_t lsb = (u >> 16) & 1u;
  return static_cast<uint16_t>((u + 0x7fffu + lsb) >> 16);
}

// Exact: every bf16 is a float.
PFGM_HD float to_float(uint16_t b) { return bits_float(static_cast<uint32_t>(b) << 16); }

}  // namespace pfgm::bf16
