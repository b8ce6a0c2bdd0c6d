// CUDA twin of ops/group_norm.cc: group norm on NHWC fp32 activations, fused with the per-(n, c)
// shift before it and the SiLU after it (EDM's UNetBlock), forward and backward. A block sums one
// sample's 256-pixel chunk of one 32-channel column (a warp reads 128 contiguous bytes); the
// partial sums are combined per group in double, in a fixed order, with no atomics: deterministic,
// within about 1e-5 of the CPU's scale. The backward reads x and dy once where a block can hold a
// column of whole groups over all of a sample's pixels in registers (one_read_backward_kernel),
// else twice (the two-pass path); group_norm.cuh names the two. Layout, precision, the earlier
// grid and its timings: bench/kernels/group_norm/README.md (the kernel lab runs the variants).
#include <string>

#include "kernels/group_norm.cuh"
#include "ops.h"
#include "ops/activation_math.h"
#include "ops/rounding.h"
#include "runtime/allocator.cuh"
#include "runtime/check.cuh"
#include "runtime/launch.cuh"

namespace pfgm::cuda {
namespace {

constexpr int kTx = 32, kTy = 8, kPxPerThread = 32;
constexpr int64_t kChunkPx = int64_t{kTy} * kPxPerThread;

struct Dims {
  int64_t n, hw, c, groups, cg, chunks;
};

Dims dims_of(const op::GroupNormShape& s) {
  if (s.groups <= 0 || s.c % s.groups != 0) {
    fail(code::kShape, "group_norm: " + std::to_string(s.groups) + " groups do not divide " +
                           std::to_string(s.c) + " channels");
  }
  if (s.n > 65535) fail(code::kShape, "group_norm on CUDA: at most 65535 samples per call");
  if (s.c > int64_t{65535} * kTx) {
    fail(code::kShape,
         "group_norm on CUDA: at most " + std::to_string(int64_t{65535} * kTx) + " channels");
  }
  return Dims{s.n, s.hw, s.c, s.groups, s.c / s.groups, (s.hw + kChunkPx - 1) / kChunkPx};
}

// Per-channel sums over one (sample, chunk) block, see the file comment. F provides
//   Channel channel(i, ch)                      constants of channel ch of sample i
//   void element(const Channel&, k, float& a, float& b)   adds element k's terms
// and the sums go to part_a / part_b [n, chunks, c] (either may be null).
template <class F>
__global__ void channel_sums_kernel(Dims d, F f, float* part_a, float* part_b) {
  __shared__ float sa[kTy][kTx];
  __shared__ float sb[kTy][kTx];
  const int64_t i = blockIdx.z, chunk = blockIdx.x;
  const int64_t p0 = chunk * kChunkPx;
  const int64_t p1 = p0 + kChunkPx < d.hw ? p0 + kChunkPx : d.hw;
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t ch = int64_t{blockIdx.y} * kTx + tx;
  float a = 0.0f, b = 0.0f;
  if (ch < d.c) {
    const typename F::Channel cst = f.channel(i, ch);
    for (int64_t p = p0 + ty; p < p1; p += kTy) f.element(cst, (i * d.hw + p) * d.c + ch, a, b);
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
    if (part_a != nullptr) part_a[o] = ta;
    if (part_b != nullptr) part_b[o] = tb;
  }
}

// Sum over chunks of part [n, chunks, c] at (i, ch), in chunk order, in double.
__device__ double chunk_sum(const Dims& d, const float* part, int64_t i, int64_t ch) {
  double acc = 0.0;
  for (int64_t k = 0; k < d.chunks; ++k)
    acc += static_cast<double>(part[(i * d.chunks + k) * d.c + ch]);
  return acc;
}

__device__ float shift_at(const float* shift, int64_t c, int64_t i, int64_t ch) {
  return shift != nullptr ? shift[i * c + ch] : 0.0f;
}

// ---- forward -------------------------------------------------------------------------------

// d = (x + shift) - pivot and d^2, pivot = the group's first value of the sample (as the CPU).
struct MomentsOp {
  const float* x;
  const float* shift;
  int64_t hw, c, cg;
  struct Channel {
    float sh, pivot;
  };
  __device__ Channel channel(int64_t i, int64_t ch) const {
    const int64_t first = ch - ch % cg;
    return Channel{shift_at(shift, c, i, ch), x[i * hw * c + first] + shift_at(shift, c, i, first)};
  }
  __device__ void element(const Channel& k, int64_t idx, float& a, float& b) const {
    const float d = (x[idx] + k.sh) - k.pivot;
    a += d;
    b += d * d;
  }
};

// One thread per (sample, group): mean and rstd as the CPU rounds them, then the per-channel
// constants of the normalizing pass from the rounded values (as the backward rebuilds them).
__global__ void stats_kernel(Dims d, float eps, const float* x, const float* shift,
                             const float* gamma, const float* s1, const float* s2, float* mean,
                             float* rstd, float* off, float* scale) {
  const int64_t t = gpu::first_index();
  if (t >= d.n * d.groups) return;
  const int64_t i = t / d.groups, g = t % d.groups;
  double a = 0.0, b = 0.0;
  for (int64_t ch = g * d.cg; ch < (g + 1) * d.cg; ++ch) {
    a += chunk_sum(d, s1, i, ch);
    b += chunk_sum(d, s2, i, ch);
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
    scale[i * d.c + ch] = fp::mul(gamma[ch], rstd_f);
  }
}

// y = act((x + off) * scale + beta), the CPU's affine order. Index is uint32_t when every index
// and the grid-stride sum fit (the usual case): a 64-bit division per element costs more than the
// element's memory traffic.
template <typename Index>
__global__ void normalize_kernel(Dims d, bool silu, const float* x, const float* off,
                                 const float* scale, const float* beta, float* y) {
  const Index total = static_cast<Index>(d.n * d.hw * d.c), c = static_cast<Index>(d.c);
  const Index hwc = static_cast<Index>(d.hw * d.c);
  const Index stride = static_cast<Index>(gpu::grid_stride());
  for (Index k = static_cast<Index>(gpu::first_index()); k < total; k += stride) {
    const Index ch = k % c, ic = (k / hwc) * c + ch;
    const float z = (x[k] + off[ic]) * scale[ic] + beta[ch];
    y[k] = silu ? act::silu(z) : z;
  }
}

// ---- backward ------------------------------------------------------------------------------

// Per (sample, channel): off = shift - mean, scale = gamma rstd, rs = rstd (the CPU's rebuild).
__global__ void backward_consts_kernel(Dims d, const float* shift, const float* gamma,
                                       const float* mean, const float* rstd, float* off,
                                       float* scale, float* rs) {
  const int64_t t = gpu::first_index();
  if (t >= d.n * d.c) return;
  const int64_t i = t / d.c, ch = t % d.c, g = i * d.groups + ch / d.cg;
  const double sh = shift != nullptr ? static_cast<double>(shift[t]) : 0.0;
  off[t] = static_cast<float>(sh - static_cast<double>(mean[g]));
  scale[t] = fp::mul(gamma[ch], rstd[g]);
  rs[t] = rstd[g];
}

// What the backward passes need per (sample, channel).
struct GradChannel {
  float off, scale, rs, beta, pc, qc, rc;
};

// dz = dy * silu'(z) (or dy), recomputed from x in every pass instead of stored.
struct GradBase {
  const float* x;
  const float* dy;
  const float* off;
  const float* scale;
  const float* rs;
  const float* beta;
  int64_t c;
  bool silu;
  __device__ GradChannel base_channel(int64_t i, int64_t ch) const {
    const int64_t ic = i * c + ch;
    return GradChannel{off[ic], scale[ic], rs[ic], beta[ch], 0.0f, 0.0f, 0.0f};
  }
  __device__ float dz(const GradChannel& k, float xo, int64_t idx) const {
    if (!silu) return dy[idx];
    return act::silu_grad(xo * k.scale + k.beta, dy[idx]);
  }
};

// Sums of dz and dz * xhat, xhat = (x + off) rs.
struct GradSumsOp : GradBase {
  using Channel = GradChannel;
  __device__ Channel channel(int64_t i, int64_t ch) const { return base_channel(i, ch); }
  __device__ void element(const Channel& k, int64_t idx, float& a, float& b) const {
    const float xo = x[idx] + k.off;
    const float g = dz(k, xo, idx);
    a += g;
    b += g * (xo * k.rs);
  }
};

// dx = pc dz + qc (x + off) + rc, written when dx is given, summed for dshift.
struct InputGradOp : GradBase {
  using Channel = GradChannel;
  const float* pc;
  const float* qc;
  const float* rc;
  float* dx;
  __device__ Channel channel(int64_t i, int64_t ch) const {
    Channel k = base_channel(i, ch);
    const int64_t ic = i * c + ch;
    k.pc = pc[ic];
    k.qc = qc[ic];
    k.rc = rc[ic];
    return k;
  }
  __device__ void element(const Channel& k, int64_t idx, float& a, float&) const {
    const float xo = x[idx] + k.off;
    const float g = k.pc * dz(k, xo, idx) + k.qc * xo + k.rc;
    if (dx != nullptr) dx[idx] = g;
    a += g;
  }
};

// One thread per (sample, group): the channel sums, then the dx coefficients
//   P = r gamma, Q = -r^2 mean(gamma dz xhat), R = -r mean(gamma dz)   (the CPU's formula).
__global__ void coefficients_kernel(Dims d, const float* gamma, const float* rstd, const float* pa,
                                    const float* pb, double* sum_a, double* sum_b, float* pc,
                                    float* qc, float* rc) {
  const int64_t t = gpu::first_index();
  if (t >= d.n * d.groups) return;
  const int64_t i = t / d.groups, g = t % d.groups;
  double m1 = 0.0, m2 = 0.0;
  for (int64_t ch = g * d.cg; ch < (g + 1) * d.cg; ++ch) {
    const double a = chunk_sum(d, pa, i, ch), b = chunk_sum(d, pb, i, ch);
    sum_a[i * d.c + ch] = a;
    sum_b[i * d.c + ch] = b;
    m1 += static_cast<double>(gamma[ch]) * a;
    m2 += static_cast<double>(gamma[ch]) * b;
  }
  const double count = static_cast<double>(d.hw * d.cg);
  m1 /= count;
  m2 /= count;
  const double r = rstd[t];
  for (int64_t ch = g * d.cg; ch < (g + 1) * d.cg; ++ch) {
    pc[i * d.c + ch] = static_cast<float>(r * gamma[ch]);
    qc[i * d.c + ch] = static_cast<float>(-r * r * m2);
    rc[i * d.c + ch] = static_cast<float>(-r * m1);
  }
}

__global__ void shift_grad_kernel(Dims d, const float* pd, float* dshift) {
  const int64_t t = gpu::first_index();
  if (t >= d.n * d.c) return;
  dshift[t] = static_cast<float>(chunk_sum(d, pd, t / d.c, t % d.c));
}

// dbeta = sum over samples of sum_a, dgamma of sum_b, in sample order.
__global__ void param_grad_kernel(Dims d, const double* sum_a, const double* sum_b, float* dgamma,
                                  float* dbeta) {
  const int64_t ch = gpu::first_index();
  if (ch >= d.c) return;
  double a = 0.0, b = 0.0;
  for (int64_t i = 0; i < d.n; ++i) {
    a += sum_a[i * d.c + ch];
    b += sum_b[i * d.c + ch];
  }
  if (dbeta != nullptr) dbeta[ch] = static_cast<float>(a);
  if (dgamma != nullptr) dgamma[ch] = static_cast<float>(b);
}

// ---- backward in one read ------------------------------------------------------------------
// One block per (sample, column of `width` channels = whole groups) covers all of the sample's
// pixels: thread t takes channel t % width and pixels t / width + k lanes, k < kHeld, and holds
// x + off and dz of each in registers. So x and dy are read once; the channel sums, the group's
// coefficients (the same formula, in double, in the same channel order as coefficients_kernel)
// and dx all come from the held values. A warp reads 32 / width pixels of `width` contiguous
// floats each (the widest column that fits, up to 32 channels).

// Columns of 8 to 32 channels: each pixel's slice fills whole 32-byte sectors (a narrower one
// would leave half of each sector to another block) and a warp reads at most 128 bytes per pixel.
constexpr int kOneReadMinWidth = 8, kOneReadMaxWidth = 32;

struct OneReadPlan {
  int threads = 0;  // 0: does not fit, take the two-pass path
  int held = 0;     // pixels per thread (a template argument of the kernel)
  int64_t width = 0;
  int64_t lanes = 0;  // threads / width pixel lanes; the remaining threads idle
};

template <int kThreads, int kHeld>
__global__ void __launch_bounds__(kThreads, 512 / kThreads)
    one_read_backward_kernel(Dims d, int64_t width, int64_t lanes, bool silu, const float* x,
                             const float* shift, const float* gamma, const float* beta,
                             const float* mean, const float* rstd, const float* dy, float* dx,
                             double* sum_a, double* sum_b, float* dshift) {
  __shared__ float red_a[kThreads];
  __shared__ float red_b[kThreads];
  __shared__ double col_a[kThreads];
  __shared__ double col_b[kThreads];
  __shared__ float grp_q[kThreads];
  __shared__ float grp_r[kThreads];
  const int64_t i = blockIdx.y, t = threadIdx.x;
  const int64_t col = t % width, lane = t / width;
  const int64_t ch = int64_t{blockIdx.x} * width + col, gi = i * d.groups + ch / d.cg;
  // Pixels this thread holds; offsets from the column's first element in 32 bits (one_read_plan
  // requires hw c < 2^31), so the offsets the second loop reuses take one register each.
  const int held = lane < lanes ? static_cast<int>((d.hw - lane + lanes - 1) / lanes) : 0;
  const int64_t base = (i * d.hw + lane) * d.c + ch;
  const int step = static_cast<int>(lanes * d.c);

  // The CPU's rebuild of the forward's constants (backward_consts_kernel).
  const double sh = shift != nullptr ? static_cast<double>(shift[i * d.c + ch]) : 0.0;
  const float off = static_cast<float>(sh - static_cast<double>(mean[gi]));
  const float scale = fp::mul(gamma[ch], rstd[gi]), rs = rstd[gi], bt = beta[ch];

  const float* xs = x + base;
  const float* dys = dy + base;
  float xo[kHeld], dz[kHeld];
  float a = 0.0f, b = 0.0f;
#pragma unroll
  for (int k = 0; k < kHeld; ++k) {
    xo[k] = 0.0f;
    dz[k] = 0.0f;
    if (k < held) {
      xo[k] = xs[k * step] + off;
      dz[k] = silu ? act::silu_grad(xo[k] * scale + bt, dys[k * step]) : dys[k * step];
      a += dz[k];
      b += dz[k] * (xo[k] * rs);
    }
  }
  red_a[t] = a;
  red_b[t] = b;
  __syncthreads();
  if (t < width) {  // the channel's sums over the lanes, in lane order, in double
    double ca = 0.0, cb = 0.0;
    for (int64_t l = 0; l < lanes; ++l) {
      ca += static_cast<double>(red_a[l * width + t]);
      cb += static_cast<double>(red_b[l * width + t]);
    }
    col_a[t] = ca;
    col_b[t] = cb;
    if (sum_a != nullptr) {
      sum_a[i * d.c + ch] = ca;
      sum_b[i * d.c + ch] = cb;
    }
  }
  __syncthreads();
  if (t < width / d.cg) {  // one thread per group of the column: coefficients_kernel's formula
    const int64_t g0 = int64_t{blockIdx.x} * width + t * d.cg;
    double m1 = 0.0, m2 = 0.0;
    for (int64_t k = 0; k < d.cg; ++k) {
      m1 += static_cast<double>(gamma[g0 + k]) * col_a[t * d.cg + k];
      m2 += static_cast<double>(gamma[g0 + k]) * col_b[t * d.cg + k];
    }
    const double count = static_cast<double>(d.hw * d.cg);
    const double r = rstd[i * d.groups + g0 / d.cg];
    grp_q[t] = static_cast<float>(-r * r * (m2 / count));
    grp_r[t] = static_cast<float>(-r * (m1 / count));
  }
  if (dx == nullptr && dshift == nullptr) return;  // uniform across the block
  __syncthreads();
  const float pc = static_cast<float>(static_cast<double>(rs) * gamma[ch]);
  const float qc = grp_q[col / d.cg], rc = grp_r[col / d.cg];
  float s = 0.0f;
  float* dxs = dx != nullptr ? dx + base : nullptr;
#pragma unroll
  for (int k = 0; k < kHeld; ++k) {
    if (k < held) {
      const float g = pc * dz[k] + qc * xo[k] + rc;
      if (dxs != nullptr) dxs[k * step] = g;
      s += g;
    }
  }
  if (dshift == nullptr) return;
  red_a[t] = s;  // its last readers finished before the second barrier
  __syncthreads();
  if (t < width) {
    double acc = 0.0;
    for (int64_t l = 0; l < lanes; ++l) acc += static_cast<double>(red_a[l * width + t]);
    dshift[i * d.c + ch] = static_cast<float>(acc);
  }
}

// The widest column of whole groups (kOneReadMinWidth to kOneReadMaxWidth channels, or one group
// where a group is wider) whose pixels fit kHeld <= 32 per thread, at 256 threads, else at 512;
// none (the two-pass path) past that, e.g. 64x64 pixels with 4-channel groups.
OneReadPlan one_read_plan(const Dims& d) {
  for (const int threads : {256, 512}) {
    OneReadPlan best;
    for (int64_t m = 1; m <= d.groups && d.cg * m <= threads; ++m) {
      const int64_t width = d.cg * m;
      if (d.groups % m != 0) continue;
      if (m > 1 && width > kOneReadMaxWidth) break;
      if (width < kOneReadMinWidth && width < d.c) continue;
      const int64_t lanes = threads / width, need = (d.hw + lanes - 1) / lanes;
      if (need > 32 || d.hw * d.c >= (int64_t{1} << 31)) continue;
      // 512 threads only when 256 cannot hold the column: there registers are the limit.
      const int held = threads == 512 ? 32 : need <= 8 ? 8 : need <= 16 ? 16 : 32;
      best = OneReadPlan{threads, held, width, lanes};
    }
    if (best.threads != 0) return best;
  }
  return OneReadPlan{};
}

struct OneReadArgs {
  bool silu;
  const float *x, *shift, *gamma, *beta, *mean, *rstd, *dy;
  float* dx;
  double *sum_a, *sum_b;
  float* dshift;
};

template <int kThreads, int kHeld>
void launch_one_read_as(const OneReadPlan& p, const Dims& d, const OneReadArgs& a) {
  const dim3 grid(static_cast<unsigned>(d.c / p.width), static_cast<unsigned>(d.n));
  one_read_backward_kernel<kThreads, kHeld><<<grid, kThreads, 0, gpu::engine_stream()>>>(
      d, p.width, p.lanes, a.silu, a.x, a.shift, a.gamma, a.beta, a.mean, a.rstd, a.dy, a.dx,
      a.sum_a, a.sum_b, a.dshift);
  gpu::check_kernel("group_norm one-read backward kernel");
}

void launch_one_read(const OneReadPlan& p, const Dims& d, const OneReadArgs& a) {
  if (p.threads == 512) {
    launch_one_read_as<512, 32>(p, d, a);
  } else if (p.held == 8) {
    launch_one_read_as<256, 8>(p, d, a);
  } else if (p.held == 16) {
    launch_one_read_as<256, 16>(p, d, a);
  } else {
    launch_one_read_as<256, 32>(p, d, a);
  }
}

template <class F>
void launch_channel_sums(const Dims& d, const F& f, float* part_a, float* part_b,
                         const char* name) {
  const dim3 grid(static_cast<unsigned>(d.chunks), static_cast<unsigned>((d.c + kTx - 1) / kTx),
                  static_cast<unsigned>(d.n));
  channel_sums_kernel<F><<<grid, dim3(kTx, kTy), 0, gpu::engine_stream()>>>(d, f, part_a, part_b);
  gpu::check_kernel(name);
}

void zero(float* p, int64_t count) {
  if (p == nullptr || count <= 0) return;
  gpu::check(
      cudaMemsetAsync(p, 0, static_cast<size_t>(count) * sizeof(float), gpu::engine_stream()),
      "cudaMemsetAsync (group_norm)");
}

}  // namespace

void group_norm_forward(const op::GroupNormShape& s, const float* x, const float* shift,
                        const float* gamma, const float* beta, float* y, float* mean, float* rstd) {
  if (s.n <= 0 || s.hw <= 0 || s.c <= 0) return;
  const Dims d = dims_of(s);
  const cudaStream_t stream = gpu::engine_stream();
  gpu::DeviceArray<float> s1(d.n * d.chunks * d.c, stream), s2(d.n * d.chunks * d.c, stream);
  gpu::DeviceArray<float> off(d.n * d.c, stream), scale(d.n * d.c, stream);
  launch_channel_sums(d, MomentsOp{x, shift, d.hw, d.c, d.cg}, s1.get(), s2.get(),
                      "group_norm moments kernel");
  stats_kernel<<<gpu::grid_for(d.n * d.groups), gpu::kThreads, 0, stream>>>(
      d, s.eps, x, shift, gamma, s1.get(), s2.get(), mean, rstd, off.get(), scale.get());
  gpu::check_kernel("group_norm stats_kernel");
  const int64_t total = d.n * d.hw * d.c;
  if (total < (int64_t{1} << 31)) {  // k + stride < 2^32: no wrap in uint32_t
    normalize_kernel<uint32_t><<<gpu::grid_for(total), gpu::kThreads, 0, stream>>>(
        d, s.silu, x, off.get(), scale.get(), beta, y);
  } else {
    normalize_kernel<int64_t><<<gpu::grid_for(total), gpu::kThreads, 0, stream>>>(
        d, s.silu, x, off.get(), scale.get(), beta, y);
  }
  gpu::check_kernel("group_norm normalize_kernel");
}

namespace {

bool backward_empty(const op::GroupNormShape& s, float* dgamma, float* dbeta, float* dshift) {
  if (s.n > 0 && s.hw > 0 && s.c > 0) return false;
  zero(dgamma, s.c);
  zero(dbeta, s.c);
  if (s.n > 0) zero(dshift, s.n * s.c);
  return true;
}

void param_grads(const Dims& d, const double* sum_a, const double* sum_b, float* dgamma,
                 float* dbeta) {
  if (dgamma == nullptr && dbeta == nullptr) return;
  param_grad_kernel<<<gpu::grid_for(d.c), gpu::kThreads, 0, gpu::engine_stream()>>>(d, sum_a, sum_b,
                                                                                    dgamma, dbeta);
  gpu::check_kernel("group_norm param_grad_kernel");
}

void one_read_backward(const OneReadPlan& p, const Dims& d, const op::GroupNormShape& s,
                       const float* x, const float* shift, const float* gamma, const float* beta,
                       const float* mean, const float* rstd, const float* dy, float* dx,
                       float* dgamma, float* dbeta, float* dshift) {
  const bool params = dgamma != nullptr || dbeta != nullptr;
  const cudaStream_t stream = gpu::engine_stream();
  gpu::DeviceArray<double> sum_a(params ? d.n * d.c : 0, stream), sum_b(sum_a.size(), stream);
  launch_one_read(
      p, d,
      OneReadArgs{s.silu, x, shift, gamma, beta, mean, rstd, dy, dx, params ? sum_a.get() : nullptr,
                  params ? sum_b.get() : nullptr, dshift});
  param_grads(d, sum_a.get(), sum_b.get(), dgamma, dbeta);
}

void two_pass_backward(const Dims& d, const op::GroupNormShape& s, const float* x,
                       const float* shift, const float* gamma, const float* beta, const float* mean,
                       const float* rstd, const float* dy, float* dx, float* dgamma, float* dbeta,
                       float* dshift) {
  const cudaStream_t stream = gpu::engine_stream();
  const int64_t nc = d.n * d.c, parts = d.n * d.chunks * d.c;
  gpu::DeviceArray<float> off(nc, stream), scale(nc, stream), rs(nc, stream);
  gpu::DeviceArray<float> pc(nc, stream), qc(nc, stream), rc(nc, stream);
  gpu::DeviceArray<float> pa(parts, stream), pb(parts, stream);
  gpu::DeviceArray<double> sum_a(nc, stream), sum_b(nc, stream);

  backward_consts_kernel<<<gpu::grid_for(nc), gpu::kThreads, 0, stream>>>(
      d, shift, gamma, mean, rstd, off.get(), scale.get(), rs.get());
  gpu::check_kernel("group_norm backward_consts_kernel");
  GradSumsOp sums{};
  static_cast<GradBase&>(sums) =
      GradBase{x, dy, off.get(), scale.get(), rs.get(), beta, d.c, s.silu};
  launch_channel_sums(d, sums, pa.get(), pb.get(), "group_norm grad sums kernel");
  coefficients_kernel<<<gpu::grid_for(d.n * d.groups), gpu::kThreads, 0, stream>>>(
      d, gamma, rstd, pa.get(), pb.get(), sum_a.get(), sum_b.get(), pc.get(), qc.get(), rc.get());
  gpu::check_kernel("group_norm coefficients_kernel");

  if (dx != nullptr || dshift != nullptr) {
    gpu::DeviceArray<float> pd(dshift != nullptr ? parts : 0, stream);
    InputGradOp grad{};
    static_cast<GradBase&>(grad) = static_cast<const GradBase&>(sums);
    grad.pc = pc.get();
    grad.qc = qc.get();
    grad.rc = rc.get();
    grad.dx = dx;
    launch_channel_sums(d, grad, dshift != nullptr ? pd.get() : nullptr, nullptr,
                        "group_norm input grad kernel");
    if (dshift != nullptr) {
      shift_grad_kernel<<<gpu::grid_for(nc), gpu::kThreads, 0, stream>>>(d, pd.get(), dshift);
      gpu::check_kernel("group_norm shift_grad_kernel");
    }
  }
  param_grads(d, sum_a.get(), sum_b.get(), dgamma, dbeta);
}

}  // namespace

GroupNormBackward group_norm_backward_path(const op::GroupNormShape& s) {
  if (s.n <= 0 || s.hw <= 0 || s.c <= 0) return GroupNormBackward::kTwoPass;
  return one_read_plan(dims_of(s)).threads != 0 ? GroupNormBackward::kOneRead
                                                : GroupNormBackward::kTwoPass;
}

void group_norm_backward_on(GroupNormBackward path, const op::GroupNormShape& s, const float* x,
                            const float* shift, const float* gamma, const float* beta,
                            const float* mean, const float* rstd, const float* dy, float* dx,
                            float* dgamma, float* dbeta, float* dshift) {
  if (backward_empty(s, dgamma, dbeta, dshift)) return;
  const Dims d = dims_of(s);
  if (path == GroupNormBackward::kTwoPass) {
    two_pass_backward(d, s, x, shift, gamma, beta, mean, rstd, dy, dx, dgamma, dbeta, dshift);
    return;
  }
  const OneReadPlan p = one_read_plan(d);
  if (p.threads == 0) {
    fail(code::kShape, "group_norm backward on CUDA: " + std::to_string(d.hw) +
                           " pixels of a column of groups do not fit the one-read kernel");
  }
  one_read_backward(p, d, s, x, shift, gamma, beta, mean, rstd, dy, dx, dgamma, dbeta, dshift);
}

void group_norm_backward(const op::GroupNormShape& s, const float* x, const float* shift,
                         const float* gamma, const float* beta, const float* mean,
                         const float* rstd, const float* dy, float* dx, float* dgamma, float* dbeta,
                         float* dshift) {
  group_norm_backward_on(group_norm_backward_path(s), s, x, shift, gamma, beta, mean, rstd, dy, dx,
                         dgamma, dbeta, dshift);
}

}  // namespace pfgm::cuda
