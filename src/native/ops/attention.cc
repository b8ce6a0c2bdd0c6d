// Attention on the CPU: the batched products (two forward, four backward) run as oneDNN matmuls,
// whose JIT sgemm uses AVX2/AVX-512 whatever flags this file is compiled with; measured on a
// 2-core AVX2 machine it ran 3-5x faster than OpenMP loops over the same scratch layout. Softmax is
// oneDNN's primitive (vectorized exp, max subtraction). oneDNN's fast paths need one unit
// stride per matrix, which qkv's interleaved channels (stride 3) lack, so q, k and v are first
// split into contiguous [n * heads, hw, d] scratch; the split is one streaming pass, cheap next to
// the O(hw^2 d) products.
#include "attention.h"

#include <cmath>
#include <memory>
#include <string>

#include "../errors.h"
#include "onednn.h"

namespace pfgm::cpu {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;
using onednn::wrap;

std::unique_ptr<float[]> scratch(int64_t count) {
  // Uninitialized on purpose: every scratch buffer is fully written before it is read.
  return std::unique_ptr<float[]>(new float[static_cast<size_t>(count)]);
}

// A batch of [rows, cols] matrices; `transposed` views a row-major [b, cols, rows] buffer.
memory::desc matrices(int64_t b, int64_t rows, int64_t cols, bool transposed = false) {
  return onednn::f32_desc({b, rows, cols}, transposed ? Tag::acb : Tag::abc);
}

// c = a b, batched. Primitive descriptors are recreated per call: oneDNN's primitive cache
// makes a repeat of the same shapes a lookup, not a JIT compilation.
void matmul(const memory::desc& a_md, const float* a, const memory::desc& b_md, const float* b,
            const memory::desc& c_md, float* c) {
  onednn::guarded("attention matmul", [&] {
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), onednn::engine());
    dnnl::stream& stream = onednn::stream();
    dnnl::matmul(pd).execute(stream, {{DNNL_ARG_SRC, wrap(a_md, a)},
                                      {DNNL_ARG_WEIGHTS, wrap(b_md, b)},
                                      {DNNL_ARG_DST, wrap(c_md, c)}});
    stream.wait();
  });
}

// Softmax over the last axis with oneDNN's JIT kernel (vectorized exp; max subtracted first).
void softmax_rows_inplace(const memory::desc& md, float* x) {
  onednn::guarded("attention softmax", [&] {
    dnnl::softmax_forward::primitive_desc pd(
        dnnl::softmax_forward::desc(dnnl::prop_kind::forward_inference, md, 2), onednn::engine());
    dnnl::stream& stream = onednn::stream();
    memory m = wrap(md, x);
    dnnl::softmax_forward(pd).execute(stream, {{DNNL_ARG_SRC, m}, {DNNL_ARG_DST, m}});
    stream.wait();
  });
}

// ds = scale * w * (dw - sum_k dw w), row by row, written over dw. A plain loop: oneDNN 2.6 has
// no JIT softmax backward for AVX2 and its reference one took half of attention's backward time.
void softmax_backward_inplace(int64_t rows, int64_t len, const float* w, float* dw, float scale) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* wr = w + r * len;
    float* g = dw + r * len;
    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
    for (int64_t k = 0; k < len; ++k) dot += g[k] * wr[k];
#pragma omp simd
    for (int64_t k = 0; k < len; ++k) g[k] = scale * wr[k] * (g[k] - dot);
  }
}

void check(const op::AttentionShape& s) {
  if (s.n < 1 || s.hw < 1 || s.c < 1 || s.heads < 1 || s.c % s.heads != 0) {
    fail(code::kShape, "attention needs n, hw, c, heads >= 1 with heads dividing c (got n=" +
                           std::to_string(s.n) + ", hw=" + std::to_string(s.hw) + ", c=" +
                           std::to_string(s.c) + ", heads=" + std::to_string(s.heads) + ")");
  }
}

// Index of (batch b, position p, head h, channel i) in a [n * heads, hw, d] per-head buffer.
inline int64_t head_index(const op::AttentionShape& s, int64_t b, int64_t p, int64_t h, int64_t i) {
  const int64_t d = s.c / s.heads;
  return ((b * s.heads + h) * s.hw + p) * d + i;
}

// q (times q_scale), k, v of every head into contiguous [n * heads, hw, d] buffers.
void split_qkv(const op::AttentionShape& s, const float* qkv, float q_scale, float* q, float* k,
               float* v) {
  const int64_t d = s.c / s.heads;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < s.n; ++b) {
    for (int64_t p = 0; p < s.hw; ++p) {
      const float* row = qkv + (b * s.hw + p) * 3 * s.c;
      for (int64_t h = 0; h < s.heads; ++h) {
        const float* src = row + h * d * 3;
        const int64_t o = head_index(s, b, p, h, 0);
        for (int64_t i = 0; i < d; ++i) {
          q[o + i] = q_scale * src[3 * i];
          k[o + i] = src[3 * i + 1];
          v[o + i] = src[3 * i + 2];
        }
      }
    }
  }
}

// Between [n, hw, c] (channel h * d + i) and [n * heads, hw, d]; only needed for heads > 1.
void heads_from_channels(const op::AttentionShape& s, const float* x, float* heads) {
  const int64_t d = s.c / s.heads;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < s.n; ++b)
    for (int64_t p = 0; p < s.hw; ++p)
      for (int64_t h = 0; h < s.heads; ++h)
        for (int64_t i = 0; i < d; ++i)
          heads[head_index(s, b, p, h, i)] = x[(b * s.hw + p) * s.c + h * d + i];
}

void channels_from_heads(const op::AttentionShape& s, const float* heads, float* x) {
  const int64_t d = s.c / s.heads;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < s.n; ++b)
    for (int64_t p = 0; p < s.hw; ++p)
      for (int64_t h = 0; h < s.heads; ++h)
        for (int64_t i = 0; i < d; ++i)
          x[(b * s.hw + p) * s.c + h * d + i] = heads[head_index(s, b, p, h, i)];
}

}  // namespace

void attention_forward(const op::AttentionShape& s, const float* qkv, float* out, float* weights) {
  check(s);
  const int64_t d = s.c / s.heads, bh = s.n * s.heads, count = bh * s.hw * d;
  const float inv_sqrt_d = 1.0f / std::sqrt(static_cast<float>(d));
  std::unique_ptr<float[]> w_own;
  if (weights == nullptr) {  // inference: the weights are needed in between, not afterwards
    w_own = scratch(bh * s.hw * s.hw);
    weights = w_own.get();
  }
  auto qkv_heads = scratch(3 * count);
  float* q = qkv_heads.get();
  float* k = q + count;
  float* v = k + count;
  split_qkv(s, qkv, inv_sqrt_d, q, k, v);

  const memory::desc x_md = matrices(bh, s.hw, d), w_md = matrices(bh, s.hw, s.hw);
  matmul(x_md, q, matrices(bh, d, s.hw, true), k, w_md, weights);  // (q / sqrt d)^T k
  softmax_rows_inplace(w_md, weights);
  if (s.heads == 1) {
    matmul(w_md, weights, x_md, v, x_md, out);
  } else {
    float* a = q;  // q is spent
    matmul(w_md, weights, x_md, v, x_md, a);
    channels_from_heads(s, a, out);
  }
}

void attention_backward(const op::AttentionShape& s, const float* qkv, const float* weights,
                        const float* dout, float* dqkv) {
  check(s);
  if (dqkv == nullptr) return;
  const int64_t d = s.c / s.heads, bh = s.n * s.heads, count = bh * s.hw * d;
  const float inv_sqrt_d = 1.0f / std::sqrt(static_cast<float>(d));
  auto buffers = scratch(5 * count + bh * s.hw * s.hw);
  float* q = buffers.get();
  float* k = q + count;
  float* v = k + count;
  float* dq = v + count;
  float* da = dq + count;  // dout per head, when heads > 1
  float* dw = da + count;
  split_qkv(s, qkv, 1.0f, q, k, v);
  if (s.heads == 1) {
    da = const_cast<float*>(dout);  // already [n, hw, d]; only read
  } else {
    heads_from_channels(s, dout, da);
  }

  const memory::desc x_md = matrices(bh, s.hw, d), w_md = matrices(bh, s.hw, s.hw);
  const memory::desc xt_md = matrices(bh, d, s.hw, true), wt_md = matrices(bh, s.hw, s.hw, true);
  matmul(x_md, da, xt_md, v, w_md, dw);  // dw = da v^T
  // The logits were (q / sqrt d)^T k: their gradient ds carries the 1 / sqrt d for dq and dk.
  softmax_backward_inplace(bh * s.hw, s.hw, weights, dw, inv_sqrt_d);
  float* dv = v;                               // v is spent once dw is known
  matmul(wt_md, weights, x_md, da, x_md, dv);  // dv = w^T da
  matmul(w_md, dw, x_md, k, x_md, dq);         // dq = ds k
  float* dk = k;                               // k is spent once dq is known
  matmul(wt_md, dw, x_md, q, x_md, dk);        // dk = ds^T q

#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < s.n; ++b) {
    for (int64_t p = 0; p < s.hw; ++p) {
      float* row = dqkv + (b * s.hw + p) * 3 * s.c;
      for (int64_t h = 0; h < s.heads; ++h) {
        float* dst = row + h * d * 3;
        const int64_t o = head_index(s, b, p, h, 0);
        for (int64_t i = 0; i < d; ++i) {
          dst[3 * i] = dq[o + i];
          dst[3 * i + 1] = dk[o + i];
          dst[3 * i + 2] = dv[o + i];
        }
      }
    }
  }
}

}  // namespace pfgm::cpu
