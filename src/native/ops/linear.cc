// Fully connected layers as three oneDNN matmuls over the caller's buffers: y = x W^T + b,
// dx = dy W, dW = dy^T x. The transposes are strides, not copies (W [out, in] row-major is W^T in
// column-major order), so PyTorch's weight layout is used as is and nothing is reordered.
// Primitives are made once per shape and kept.
#include "linear.h"

#include <algorithm>
#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "onednn.h"
#include "rows.h"

namespace pfgm::cpu {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;
using onednn::engine;
using onednn::f32_desc;
using onednn::wrap;

// One product C[m, n] = A[m, k] B[k, n] (+ bias[n]), each operand dense in the layout its tag says.
struct Matmul {
  dnnl::matmul::primitive_desc pd;
  dnnl::matmul prim;
};

Matmul make_matmul(const memory::desc& a, const memory::desc& b, const memory::desc& bias,
                   const memory::desc& c) {
  dnnl::matmul::desc desc =
      bias.is_zero() ? dnnl::matmul::desc(a, b, c) : dnnl::matmul::desc(a, b, bias, c);
  dnnl::matmul::primitive_desc pd(desc, onednn::user_scratchpad(), engine());
  return {pd, dnnl::matmul(pd)};
}

struct Linear {
  Matmul forward;           // x[rows, in] . W^T[in, out] + b
  Matmul forward_no_bias;   // the same without bias
  Matmul backward_data;     // dy[rows, out] . W[out, in]
  Matmul backward_weights;  // dy^T[out, rows] . x[rows, in]
};

std::unique_ptr<Linear> make_linear(const op::LinearShape& s) {
  const memory::desc x = f32_desc({s.rows, s.in}, Tag::ab);
  const memory::desc y = f32_desc({s.rows, s.out}, Tag::ab);
  const memory::desc w_t = f32_desc({s.in, s.out}, Tag::ba);  // W [out, in] seen as its transpose
  const memory::desc w = f32_desc({s.out, s.in}, Tag::ab);
  const memory::desc dy_t = f32_desc({s.out, s.rows}, Tag::ba);
  const memory::desc bias = f32_desc({1, s.out}, Tag::ab);
  const memory::desc none;
  return std::make_unique<Linear>(Linear{make_matmul(x, w_t, bias, y), make_matmul(x, w_t, none, y),
                                         make_matmul(y, w, none, x),
                                         make_matmul(dy_t, x, none, w)});
}

// Entries are never removed, so a reference stays valid after the lock is released. Primitives are
// immutable and, with a user scratchpad (onednn.h), may run on any worker thread and on several at
// once.
const Linear& linear_for(const op::LinearShape& s) {
  static auto* mu = new std::mutex;
  static auto* cache = new std::map<std::array<int64_t, 3>, std::unique_ptr<Linear>>;
  std::lock_guard<std::mutex> lock(*mu);
  std::unique_ptr<Linear>& slot = (*cache)[{s.rows, s.in, s.out}];
  if (!slot) slot = make_linear(s);
  return *slot;
}

void run(const Matmul& m, const float* a, const float* b, const float* bias, float* c) {
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(m.pd.src_desc(), a)},
                                       {DNNL_ARG_WEIGHTS, wrap(m.pd.weights_desc(), b)},
                                       {DNNL_ARG_DST, wrap(m.pd.dst_desc(), c)}};
  if (bias != nullptr) args.emplace(DNNL_ARG_BIAS, wrap(m.pd.bias_desc(), bias));
  onednn::execute(m.prim, m.pd, std::move(args));
}

void check_shape(const op::LinearShape& s) {
  if (s.rows < 0 || s.in < 1 || s.out < 1) {
    fail(code::kShape, "linear rows=" + std::to_string(s.rows) + " in=" + std::to_string(s.in) +
                           " out=" + std::to_string(s.out) +
                           ": in and out must be positive, rows >= 0");
  }
}

}  // namespace

void linear_forward(const op::LinearShape& s, const float* x, const float* weight,
                    const float* bias, float* y) {
  check_shape(s);
  if (s.rows == 0) return;
  onednn::guarded("linear_forward", [&] {
    const Linear& l = linear_for(s);
    run(bias != nullptr ? l.forward : l.forward_no_bias, x, weight, bias, y);
  });
}

void linear_backward(const op::LinearShape& s, const float* x, const float* weight, const float* dy,
                     float* dx, float* dweight, float* dbias) {
  check_shape(s);
  if (s.rows == 0) {  // an empty batch: the parameter gradients are sums over nothing
    if (dweight != nullptr) std::fill_n(dweight, s.out * s.in, 0.0f);
    if (dbias != nullptr) std::fill_n(dbias, s.out, 0.0f);
    return;
  }
  if (dbias != nullptr) sum_columns(s.rows, s.out, dy, dbias);
  if (dx == nullptr && dweight == nullptr) return;
  onednn::guarded("linear_backward", [&] {
    const Linear& l = linear_for(s);
    if (dx != nullptr) run(l.backward_data, dy, weight, nullptr, dx);
    if (dweight != nullptr) run(l.backward_weights, dy, x, nullptr, dweight);
  });
}

}  // namespace pfgm::cpu
