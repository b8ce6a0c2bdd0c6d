// CUDA twin of ops/attention.cc: self-attention over spatial positions with EDM's qkv channel
// interleaving (ops/attention.h). Own kernels, no cuBLAS, so every CUDA build has it: one strided
// tiled GEMM kernel for every product (q, k, v read and dq, dk, dv written in place in the
// interleaved layout) and the shared row softmax (softmax_rows.cu); fp32 sums in k order, no
// atomics, the same bits on every run; agreement with the CPU to fp32 rounding. Details:
// bench/kernels/attention/README.md.
#include <algorithm>
#include <cmath>
#include <string>

#include "kernels/softmax_rows.cuh"
#include "ops.h"
#include "ops/rounding.h"
#include "runtime/allocator.cuh"
#include "runtime/check.cuh"
#include "runtime/launch.cuh"

namespace pfgm::cuda {
namespace {

// ---- the strided batched GEMM ----------------------------------------------------------------

// Element (r, col) of the matrix of batch (b, h) is p[b * batch + h * head + r * rs + col * cs].
struct View {
  const float* p;
  int64_t batch, head, rs, cs;
};
struct OutView {
  float* p;
  int64_t batch, head, rs, cs;
};

constexpr int kTile = 64;   // output tile: 64 x 64
constexpr int kDepth = 16;  // k-slice held in shared memory per step
constexpr int kGemmThreads = 256;
constexpr int kPer = 4;  // each thread owns 4 x 4 outputs, at stride 16 in both directions
// The shared tiles are [kDepth][kTile + 1]: the compute loop reads along a row (A by broadcast,
// B by 16 consecutive threads), and the pad keeps the loads that walk down a column (kk fastest)
// from hitting one bank 16 times.

// C = A B with A [m, k] scaled element-wise by a_scale on load, B [k, n]; blockIdx.z (and its
// grid-stride) runs over the n * heads matrices of the batch.
__global__ void __launch_bounds__(kGemmThreads)
    gemm_kernel(int64_t m, int64_t n, int64_t k, int64_t heads, int64_t batches, View a,
                float a_scale, View b, OutView c) {
  __shared__ float as[kDepth][kTile + 1];  // as[kk][row]
  __shared__ float bs[kDepth][kTile + 1];  // bs[kk][col]
  const int t = static_cast<int>(threadIdx.x);
  const int tx = t % 16, ty = t / 16;
  const int64_t row0 = static_cast<int64_t>(blockIdx.y) * kTile;
  const int64_t col0 = static_cast<int64_t>(blockIdx.x) * kTile;
  // Load order: consecutive threads walk the operand's unit-stride direction when it has one, so
  // a warp's loads are contiguous (q, k, v have stride 3 along channels: still within a few lines).
  const bool a_along_k = a.cs <= a.rs;
  const bool b_along_col = b.cs <= b.rs;

  for (int64_t z = blockIdx.z; z < batches; z += gridDim.z) {
    const int64_t bi = z / heads, hi = z % heads;
    const float* ap = a.p + bi * a.batch + hi * a.head;
    const float* bp = b.p + bi * b.batch + hi * b.head;
    float acc[kPer][kPer] = {};

    for (int64_t k0 = 0; k0 < k; k0 += kDepth) {
      // 64 x 16 elements of A and 16 x 64 of B: four of each per thread, zero outside the matrix.
      for (int e = 0; e < 4; ++e) {
        const int idx = t + e * kGemmThreads;  // 0 .. 1023
        const int kk = a_along_k ? idx % kDepth : idx / kTile;
        const int r = a_along_k ? idx / kDepth : idx % kTile;
        const int64_t gr = row0 + r, gk = k0 + kk;
        as[kk][r] = gr < m && gk < k ? fp::mul(a_scale, ap[gr * a.rs + gk * a.cs]) : 0.0f;
        const int kb = b_along_col ? idx / kTile : idx % kDepth;
        const int cb = b_along_col ? idx % kTile : idx / kDepth;
        const int64_t gc = col0 + cb, gkb = k0 + kb;
        bs[kb][cb] = gc < n && gkb < k ? bp[gkb * b.rs + gc * b.cs] : 0.0f;
      }
      __syncthreads();
#pragma unroll
      for (int kk = 0; kk < kDepth; ++kk) {
        float av[kPer], bv[kPer];
#pragma unroll
        for (int i = 0; i < kPer; ++i) av[i] = as[kk][ty + 16 * i];
#pragma unroll
        for (int j = 0; j < kPer; ++j) bv[j] = bs[kk][tx + 16 * j];
#pragma unroll
        for (int i = 0; i < kPer; ++i)
#pragma unroll
          for (int j = 0; j < kPer; ++j) acc[i][j] += av[i] * bv[j];
      }
      __syncthreads();  // the tiles are overwritten by the next slice (or the next matrix)
    }

    float* cp = c.p + bi * c.batch + hi * c.head;
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int64_t gr = row0 + ty + 16 * i;
      if (gr >= m) continue;
#pragma unroll
      for (int j = 0; j < kPer; ++j) {
        const int64_t gc = col0 + tx + 16 * j;
        if (gc < n) cp[gr * c.rs + gc * c.cs] = acc[i][j];
      }
    }
  }
}

void gemm(int64_t m, int64_t n, int64_t k, int64_t samples, int64_t heads, const View& a,
          float a_scale, const View& b, const OutView& c, const char* what) {
  const int64_t batches = samples * heads;
  if ((m + kTile - 1) / kTile > 65535) {  // gridDim.y; hw^2 weights would not fit long before
    fail(code::kShape,
         "attention on CUDA supports at most " + std::to_string(65535 * kTile) + " positions");
  }
  const dim3 grid(static_cast<unsigned>((n + kTile - 1) / kTile),
                  static_cast<unsigned>((m + kTile - 1) / kTile),
                  static_cast<unsigned>(std::min<int64_t>(batches, 65535)));
  gemm_kernel<<<grid, kGemmThreads, 0, gpu::engine_stream()>>>(m, n, k, heads, batches, a, a_scale,
                                                               b, c);
  gpu::check_kernel(what);
}

void check(const op::AttentionShape& s) {
  if (s.n < 1 || s.hw < 1 || s.c < 1 || s.heads < 1 || s.c % s.heads != 0) {
    fail(code::kShape, "attention needs n, hw, c, heads >= 1 with heads dividing c (got n=" +
                           std::to_string(s.n) + ", hw=" + std::to_string(s.hw) + ", c=" +
                           std::to_string(s.c) + ", heads=" + std::to_string(s.heads) + ")");
  }
}

// Views of q, k, v (component j = 0, 1, 2) of the interleaved qkv [n, hw, 3c] as [hw, d] matrices
// (rows = positions, columns = head channels), and of x [n, hw, c] likewise.
View qkv_view(const op::AttentionShape& s, const float* qkv, int j) {
  const int64_t d = s.c / s.heads;
  return View{qkv + j, s.hw * 3 * s.c, 3 * d, 3 * s.c, 3};
}
// The same, transposed: [d, hw].
View qkv_view_t(const op::AttentionShape& s, const float* qkv, int j) {
  View v = qkv_view(s, qkv, j);
  std::swap(v.rs, v.cs);
  return v;
}
OutView dqkv_view(const op::AttentionShape& s, float* dqkv, int j) {
  const int64_t d = s.c / s.heads;
  return OutView{dqkv + j, s.hw * 3 * s.c, 3 * d, 3 * s.c, 3};
}
// Weights-shaped [hw, hw] matrices of batch (b, h), contiguous per head; `t` transposes.
View w_view(const op::AttentionShape& s, const float* w, bool t = false) {
  const int64_t hw = s.hw;
  return t ? View{w, s.heads * hw * hw, hw * hw, 1, hw}
           : View{w, s.heads * hw * hw, hw * hw, hw, 1};
}
OutView w_out(const op::AttentionShape& s, float* w) {
  return OutView{w, s.heads * s.hw * s.hw, s.hw * s.hw, s.hw, 1};
}

}  // namespace

void attention_forward(const op::AttentionShape& s, const float* qkv, float* out, float* weights) {
  check(s);
  const int64_t d = s.c / s.heads, rows = s.n * s.heads * s.hw;
  // As the CPU: q is scaled by 1 / sqrt d (rounded to float) before the product.
  const float inv_sqrt_d = 1.0f / std::sqrt(static_cast<float>(d));
  gpu::DeviceArray<float> own;
  if (weights == nullptr) {  // inference: the weights are needed in between, not afterwards
    own = gpu::DeviceArray<float>(rows * s.hw, gpu::engine_stream());
    weights = own.get();
  }
  gemm(s.hw, s.hw, d, s.n, s.heads, qkv_view(s, qkv, 0), inv_sqrt_d, qkv_view_t(s, qkv, 1),
       w_out(s, weights), "attention scores kernel");
  softmax_rows(rows, s.hw, weights);
  gemm(s.hw, d, s.hw, s.n, s.heads, w_view(s, weights), 1.0f, qkv_view(s, qkv, 2),
       OutView{out, s.hw * s.c, d, s.c, 1}, "attention weighted sum kernel");
  // `own` goes back to the pool now; its stream-ordered reuse comes after these kernels.
}

void attention_backward(const op::AttentionShape& s, const float* qkv, const float* weights,
                        const float* dout, float* dqkv) {
  check(s);
  if (dqkv == nullptr) return;
  if (weights == nullptr) fail(code::kArgument, "attention backward needs the forward's weights");
  const int64_t d = s.c / s.heads, rows = s.n * s.heads * s.hw;
  const float inv_sqrt_d = 1.0f / std::sqrt(static_cast<float>(d));
  gpu::DeviceArray<float> dw(rows * s.hw, gpu::engine_stream());
  const View dout_v{dout, s.hw * s.c, d, s.c, 1};
  // dW = dout v^T: [hw, d] x [d, hw].
  gemm(s.hw, s.hw, d, s.n, s.heads, dout_v, 1.0f, qkv_view_t(s, qkv, 2), w_out(s, dw.get()),
       "attention dW kernel");
  // dS over dW; the logits were (q / sqrt d)^T k, so dS carries the 1 / sqrt d for dq and dk.
  softmax_rows_backward(rows, s.hw, weights, dw.get(), inv_sqrt_d);
  // dv = W^T dout, dq = dS k, dk = dS^T q: each lane of dqkv written once, by one thread.
  gemm(s.hw, d, s.hw, s.n, s.heads, w_view(s, weights, true), 1.0f, dout_v, dqkv_view(s, dqkv, 2),
       "attention dv kernel");
  gemm(s.hw, d, s.hw, s.n, s.heads, w_view(s, dw.get()), 1.0f, qkv_view(s, qkv, 1),
       dqkv_view(s, dqkv, 0), "attention dq kernel");
  gemm(s.hw, d, s.hw, s.n, s.heads, w_view(s, dw.get(), true), 1.0f, qkv_view(s, qkv, 0),
       dqkv_view(s, dqkv, 1), "attention dk kernel");
}

}  // namespace pfgm::cuda
