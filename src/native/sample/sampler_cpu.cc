// CPU reference of the sampler kernels (sampler.h): memory-bound loops split into fixed chunks
// (ops/parallel.h), so results never depend on the thread count.
#include "../ops/parallel.h"
#include "sampler.h"
#include "sampler_math.h"

namespace pfgm::cpu {
namespace {

// The hot loop, specialised for the common small term counts so the compiler unrolls the inner
// sum and vectorises over k; built for AVX2 and baseline x86-64 (PFGM_VECTOR_CLONES).
template <int Terms>
PFGM_VECTOR_CLONES void combine_fixed(int64_t begin, int64_t end, const double* coefs,
                                      const float* const* in, float* out) {
  const float* a[Terms];
  double c[Terms];
  for (int t = 0; t < Terms; ++t) {
    a[t] = in[t];
    c[t] = coefs[t];
  }
  for (int64_t k = begin; k < end; ++k) {
    double acc = 0.0;
    for (int t = 0; t < Terms; ++t) acc += c[t] * static_cast<double>(a[t][k]);
    out[k] = static_cast<float>(acc);
  }
}

void combine_range(int64_t begin, int64_t end, int terms, const double* coefs,
                   const float* const* in, float* out) {
  switch (terms) {
    case 1: return combine_fixed<1>(begin, end, coefs, in, out);
    case 2: return combine_fixed<2>(begin, end, coefs, in, out);
    case 3: return combine_fixed<3>(begin, end, coefs, in, out);
    case 4: return combine_fixed<4>(begin, end, coefs, in, out);
    case 5: return combine_fixed<5>(begin, end, coefs, in, out);
    default:
      for (int64_t k = begin; k < end; ++k) out[k] = combine_element(k, terms, coefs, in);
  }
}

}  // namespace

void linear_combination_f32(int64_t n, int terms, const double* coefs, const float* const* inputs,
                            float* out) {
  parallel_ranges(
      n, [&](int64_t begin, int64_t end) { combine_range(begin, end, terms, coefs, inputs, out); });
}

void churn_noise_f32(const float* x, float* out, int64_t count, int64_t n, double scale,
                     const SampleStreams& streams) {
  const int64_t blocks = (n + 3) / 4;
  parallel_ranges(count * blocks, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t)
      churn_block(x, out, n, t / blocks, t % blocks, scale, streams);
  });
}

void rademacher_f32(float* out, int64_t count, int64_t n, const SampleStreams& streams) {
  parallel_ranges(count * n, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      out[t] = stream_sign(streams, t / n, t % n, kPurposeHutchinson);
    }
  });
}

int64_t first_nonfinite_f32(int64_t n, const float* x) {
  for (int64_t k = 0; k < n; ++k)
    if (not_finite(x[k])) return k;
  return -1;
}

double scaled_sumsq_f32(int64_t n, const float* e, const float* a, const float* b, double rtol,
                        double atol) {
  double acc = 0.0;
  for (int64_t k = 0; k < n; ++k) acc += scaled_square(e[k], a[k], b[k], rtol, atol);
  return acc;
}

// Two passes of the host path's own combination (its vector clone may contract a product and a
// sum into one FMA), so the CPU gives the host path's bits; the pass saved matters on a GPU.
void slope_update_f32(int64_t n, double inv_sigma, const float* x, const float* den, int terms,
                      const double* coefs, const float* const* slopes, float* d_out, float* x_out) {
  const double c[2] = {inv_sigma, -inv_sigma};
  const float* in[2] = {x, den};
  linear_combination_f32(n, 2, c, in, d_out);
  double all[kMaxCombineTerms];
  const float* arrays[kMaxCombineTerms];
  all[0] = 1.0;
  arrays[0] = x;
  for (int t = 0; t < terms; ++t) {
    all[t + 1] = coefs[t];
    arrays[t + 1] = t == 0 ? d_out : slopes[t];
  }
  linear_combination_f32(n, terms + 1, all, arrays, x_out);
}

// The order of zDrift (src/sample/pfgmOde.ts) over field()'s packing: ||v_x||^2 channel by
// channel, the z component's mean pixel by pixel; so the CPU gives the host path's bits.
void pfgm_drift_f32(int64_t count, int64_t hw, int64_t c, const float* f, double z, double gamma,
                    float* out) {
  const int64_t co = c + 1, per = c * hw;
  for (int64_t i = 0; i < count; ++i) {
    const float* fi = f + i * hw * co;
    double zsum = 0;
    for (int64_t p = 0; p < hw; ++p) zsum += fi[p * co + c];
    const float vz = static_cast<float>(zsum / static_cast<double>(hw));
    double vx2 = 0;
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t p = 0; p < hw; ++p) {
        const double v = fi[p * co + ch];
        vx2 += v * v;
      }
    const double scale = pfgm_drift_scale(vx2, vz, z, per, gamma);
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t p = 0; p < hw; ++p)
        out[i * per + ch * hw + p] = static_cast<float>(scale * fi[p * co + ch]);
  }
}

}  // namespace pfgm::cpu
