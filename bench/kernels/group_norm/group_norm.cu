// Group norm forward, fused with the per-(n, c) shift before it and the SiLU after it (EDM's
// UNetBlock), on NHWC fp32. Variants (history and timings: README.md beside this file):
//   production   pfgm::cuda::group_norm_forward (cuda/kernels/group_norm.cu): channel sums over a
//                (chunk, 32-channel column, sample) grid, 32-bit indices in the normalizing pass
//   column_loop  the earlier grid: one block per (chunk, sample) looping over the 32-channel
//                columns, 64-bit indices in the normalizing pass (the same sums, the same bits)
//   block_group  the layout the production header rules out: one block per (sample, group),
//                256 threads striding over the group's elements, which are C floats apart
// Reference: pfgm::cpu::group_norm_forward (src/native/ops/group_norm.cc), statistics in double.
// Tolerances (test/gpu/ops-parity.test.ts, docs/cuda.md): y 2e-5 of its largest magnitude, mean
// 2e-5 of the group's standard deviation, rstd 2e-5 relative.
#include <cmath>
#include <string>

#include "lab.cuh"
#include "launch.cuh"
#include "ops.h"
#include "ops/activation_math.h"
#include "ops/group_norm.h"
#include "ops/rounding.h"

namespace {

using pfgm::op::GroupNormShape;

constexpr int kTx = 32, kTy = 8, kPxPerThread = 32;
constexpr int64_t kChunkPx = int64_t{kTy} * kPxPerThread;

struct Dims {
  int64_t n, hw, c, groups, cg, chunks;
};

Dims dims_of(const GroupNormShape& s) {
  return Dims{s.n, s.hw, s.c, s.groups, s.c / s.groups, (s.hw + kChunkPx - 1) / kChunkPx};
}

__device__ float shift_at(const float* shift, int64_t c, int64_t i, int64_t ch) {
  return shift != nullptr ? shift[i * c + ch] : 0.0f;
}

// ---- column_loop: one block per (chunk, sample), looping over the channel columns ------------

__global__ void column_loop_moments(Dims d, const float* x, const float* shift, float* s1,
                                    float* s2) {
  __shared__ float sa[kTy][kTx];
  __shared__ float sb[kTy][kTx];
  const int64_t i = blockIdx.y, chunk = blockIdx.x;
  const int64_t p0 = chunk * kChunkPx;
  const int64_t p1 = p0 + kChunkPx < d.hw ? p0 + kChunkPx : d.hw;
  const int tx = threadIdx.x, ty = threadIdx.y;
  for (int64_t base = 0; base < d.c; base += kTx) {  // uniform across the block
    const int64_t ch = base + tx;
    float a = 0.0f, b = 0.0f;
    if (ch < d.c) {
      const int64_t first = ch - ch % d.cg;
      const float sh = shift_at(shift, d.c, i, ch);
      const float pivot = x[i * d.hw * d.c + first] + shift_at(shift, d.c, i, first);
      for (int64_t p = p0 + ty; p < p1; p += kTy) {
        const float v = (x[(i * d.hw + p) * d.c + ch] + sh) - pivot;
        a += v;
        b += v * v;
      }
    }
    sa[ty][tx] = a;
    sb[ty][tx] = b;
    __syncthreads();
    if (ty == 0 && ch < d.c) {
      float ta = sa[0][tx], tb = sb[0][tx];
      for (int r = 1; r < kTy; ++r) {
        ta += sa[r][tx];
        tb += sb[r][tx];
      }
      const int64_t o = (i * d.chunks + chunk) * d.c + ch;
      s1[o] = ta;
      s2[o] = tb;
    }
    __syncthreads();  // before the next column reuses sa, sb
  }
}

// One thread per (sample, group): the chunk sums in double, in chunk order; mean and rstd rounded
// as the CPU rounds them; the per-channel constants of the normalizing pass.
__global__ void column_loop_stats(Dims d, float eps, const float* x, const float* shift,
                                  const float* gamma, const float* s1, const float* s2, float* mean,
                                  float* rstd, float* off, float* scale) {
  const int64_t t = pfgm::gpu::first_index();
  if (t >= d.n * d.groups) return;
  const int64_t i = t / d.groups, g = t % d.groups;
  double a = 0.0, b = 0.0;
  for (int64_t ch = g * d.cg; ch < (g + 1) * d.cg; ++ch) {
    for (int64_t k = 0; k < d.chunks; ++k)
      a += static_cast<double>(s1[(i * d.chunks + k) * d.c + ch]);
    for (int64_t k = 0; k < d.chunks; ++k)
      b += static_cast<double>(s2[(i * d.chunks + k) * d.c + ch]);
  }
  const double count = static_cast<double>(d.hw * d.cg);
  const double m = a / count;
  const double var = fmax(b / count - m * m, 0.0);
  const double pivot =
      static_cast<double>(x[i * d.hw * d.c + g * d.cg] + shift_at(shift, d.c, i, g * d.cg));
  const float mean_f = static_cast<float>(pivot + m);
  const float rstd_f = static_cast<float>(1.0 / sqrt(var + static_cast<double>(eps)));
  mean[t] = mean_f;
  rstd[t] = rstd_f;
  for (int64_t ch = g * d.cg; ch < (g + 1) * d.cg; ++ch) {
    off[i * d.c + ch] =
        static_cast<float>(static_cast<double>(shift_at(shift, d.c, i, ch)) - mean_f);
    scale[i * d.c + ch] = pfgm::fp::mul(gamma[ch], rstd_f);
  }
}

// y = act((x + off) * scale + beta) with 64-bit indices (a 64-bit division per element).
__global__ void normalize_i64(Dims d, bool silu, const float* x, const float* off,
                              const float* scale, const float* beta, float* y) {
  for (int64_t k = pfgm::gpu::first_index(); k < d.n * d.hw * d.c; k += pfgm::gpu::grid_stride()) {
    const int64_t ch = k % d.c, ic = (k / (d.hw * d.c)) * d.c + ch;
    const float z = (x[k] + off[ic]) * scale[ic] + beta[ch];
    y[k] = silu ? pfgm::act::silu(z) : z;
  }
}

// ---- block_group: one block per (sample, group) ---------------------------------------------

constexpr int kGroupThreads = 256;

// Block tree sum of kGroupThreads doubles; the result is in s[0].
__device__ void tree_sum(double* s) {
  __syncthreads();
  for (int stride = kGroupThreads / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) s[threadIdx.x] += s[threadIdx.x + stride];
    __syncthreads();
  }
}

// Moments about the pivot in double (each thread's share, then a tree), then the group's
// elements normalized by the same block: one kernel, but every warp reads cg floats of a pixel
// and jumps C floats to the next.
__global__ void block_group_kernel(Dims d, float eps, bool silu, const float* x, const float* shift,
                                   const float* gamma, const float* beta, float* y, float* mean,
                                   float* rstd) {
  __shared__ double sa[kGroupThreads];
  __shared__ double sb[kGroupThreads];
  const int64_t i = blockIdx.y, g = blockIdx.x, count = d.hw * d.cg;
  const float* xs = x + i * d.hw * d.c + g * d.cg;
  const double pivot = static_cast<double>(xs[0] + shift_at(shift, d.c, i, g * d.cg));
  double a = 0.0, b = 0.0;
  for (int64_t e = threadIdx.x; e < count; e += kGroupThreads) {
    const int64_t p = e / d.cg, ch = g * d.cg + e % d.cg;
    const double v =
        static_cast<double>(xs[p * d.c + e % d.cg] + shift_at(shift, d.c, i, ch)) - pivot;
    a += v;
    b += v * v;
  }
  sa[threadIdx.x] = a;
  sb[threadIdx.x] = b;
  tree_sum(sa);
  tree_sum(sb);
  const double m = sa[0] / static_cast<double>(count);
  const double var = fmax(sb[0] / static_cast<double>(count) - m * m, 0.0);
  const float mean_f = static_cast<float>(pivot + m);
  const float rstd_f = static_cast<float>(1.0 / sqrt(var + static_cast<double>(eps)));
  if (threadIdx.x == 0) {
    mean[i * d.groups + g] = mean_f;
    rstd[i * d.groups + g] = rstd_f;
  }
  for (int64_t e = threadIdx.x; e < count; e += kGroupThreads) {
    const int64_t p = e / d.cg, ch = g * d.cg + e % d.cg;
    const float off = static_cast<float>(static_cast<double>(shift_at(shift, d.c, i, ch)) - mean_f);
    const float z = (xs[p * d.c + e % d.cg] + off) * pfgm::fp::mul(gamma[ch], rstd_f) + beta[ch];
    y[(i * d.hw + p) * d.c + ch] = silu ? pfgm::act::silu(z) : z;
  }
}

// ---- the family ------------------------------------------------------------------------------

struct Case {
  std::string name;
  GroupNormShape shape;
  bool shift;
};

void run_family(const lab::Options& opt, lab::Report& report) {
  std::vector<Case> cases;
  if (opt.size == "small") {  // seconds on the emulator; 2 chunks, 3 columns, a partial column
    cases = {{"2x8x8x64 g16 silu", {2, 64, 64, 16, 1e-5f, true}, false},
             {"1x20x20x96 g24 shift", {1, 400, 96, 24, 1e-5f, false}, true}};
  } else {  // ddpmpp-cifar10's norms at batch 128 (the layers the grid change was made for)
    cases = {{"128x32x32x128 g32 silu", {128, 1024, 128, 32, 1e-5f, true}, false},
             {"128x16x16x256 g32 silu+shift", {128, 256, 256, 32, 1e-5f, true}, true},
             {"128x8x8x256 g32 silu+shift", {128, 64, 256, 32, 1e-5f, true}, true}};
  }
  for (const Case& cs : cases) {
    const GroupNormShape s = cs.shape;
    const Dims d = dims_of(s);
    const int64_t total = s.n * s.hw * s.c, stats = s.n * s.groups;
    // A mean of 2 beside a spread of 1 per element, so the pivot matters.
    const std::vector<float> x = lab::uniform(total, 0.5f, 3.5f, 1);
    const std::vector<float> shift = lab::uniform(s.n * s.c, -1.0f, 1.0f, 2);
    const std::vector<float> gamma = lab::uniform(s.c, 0.5f, 1.5f, 3);
    const std::vector<float> beta = lab::uniform(s.c, -0.5f, 0.5f, 4);
    std::vector<float> y_ref(total), mean_ref(stats), rstd_ref(stats);
    pfgm::cpu::group_norm_forward(s, x.data(), cs.shift ? shift.data() : nullptr, gamma.data(),
                                  beta.data(), y_ref.data(), mean_ref.data(), rstd_ref.data());

    lab::Buffer<float> dx(x), dshift(shift), dgamma(gamma), dbeta(beta);
    lab::Buffer<float> dy(total), dmean(stats), drstd(stats);
    lab::Buffer<float> s1(s.n * d.chunks * s.c), s2(s.n * d.chunks * s.c);
    lab::Buffer<float> off(s.n * s.c), scale(s.n * s.c);
    const float* sh = cs.shift ? dshift.get() : nullptr;

    const std::vector<lab::Variant> variants = {
        {"production", "cuda/kernels/group_norm.cu: (chunk, column, sample) grid, 32-bit normalize",
         [&] {
           pfgm::cuda::group_norm_forward(s, dx.get(), sh, dgamma.get(), dbeta.get(), dy.get(),
                                          dmean.get(), drstd.get());
         }},
        {"column_loop", "earlier grid: (chunk, sample) blocks loop over columns, 64-bit normalize",
         [&] {
           const dim3 grid(static_cast<unsigned>(d.chunks), static_cast<unsigned>(d.n));
           column_loop_moments<<<grid, dim3(kTx, kTy)>>>(d, dx.get(), sh, s1.get(), s2.get());
           column_loop_stats<<<pfgm::gpu::grid_for(stats), pfgm::gpu::kThreads>>>(
               d, s.eps, dx.get(), sh, dgamma.get(), s1.get(), s2.get(), dmean.get(), drstd.get(),
               off.get(), scale.get());
           normalize_i64<<<pfgm::gpu::grid_for(total), pfgm::gpu::kThreads>>>(
               d, s.silu, dx.get(), off.get(), scale.get(), dbeta.get(), dy.get());
           lab::check(cudaGetLastError(), "column_loop launch");
         }},
        {"block_group", "one block per (sample, group): strided reads, one kernel",
         [&] {
           const dim3 grid(static_cast<unsigned>(d.groups), static_cast<unsigned>(d.n));
           block_group_kernel<<<grid, kGroupThreads>>>(d, s.eps, s.silu, dx.get(), sh, dgamma.get(),
                                                       dbeta.get(), dy.get(), dmean.get(),
                                                       drstd.get());
           lab::check(cudaGetLastError(), "block_group launch");
         }},
    };
    std::vector<double> group_std(stats);
    for (int64_t k = 0; k < stats; ++k) group_std[k] = 1.0 / static_cast<double>(rstd_ref[k]);
    lab::run_case(
        opt, report, cs.name, variants,
        [&] {
          cudaMemset(dy.get(), 0xff, static_cast<size_t>(total) * sizeof(float));  // NaNs
        },
        [&] {
          return std::vector<lab::Check>{
              lab::of_largest("y", dy.download(), y_ref, 2e-5),
              lab::scaled("mean", dmean.download(), mean_ref, group_std, 2e-5, "group's std"),
              lab::per_element("rstd", drstd.download(), rstd_ref, 2e-5)};
        });
  }
}

}  // namespace

LAB_FAMILY(group_norm, "group norm forward (+shift, +SiLU), NHWC fp32", run_family);
