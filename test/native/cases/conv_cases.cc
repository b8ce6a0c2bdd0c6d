// Op cases for conv2d and linear (golden tests, test/fixtures/gen/ops_conv.py) and their timing
// loops (bench/kernels/conv.mjs), which run the ops back to back in native code so that neither JS
// nor copies across the binding are timed.
#include <time.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "errors.h"
#include "op_cases.h"
#include "ops/conv.h"
#include "ops/linear.h"

namespace pfgm::opcases {
namespace {

using op::Conv2dShape;
using op::LinearShape;

// Attribute `name` as a whole number in [lo, 2^31).
int64_t int_attr(const Attrs& a, const std::string& name, int64_t lo) {
  const double v = attr(a, name);
  if (!(v >= static_cast<double>(lo) && v < 2147483648.0) || v != std::floor(v)) {
    fail(code::kArgument,
         "attribute '" + name + "' must be a whole number >= " + std::to_string(lo));
  }
  return static_cast<int64_t>(v);
}

int64_t int_attr(const Attrs& a, const std::string& name, int64_t lo, int64_t fallback) {
  return a.count(name) != 0 ? int_attr(a, name, lo) : fallback;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

void expect_rank(const char* op, const char* name, const HostTensor& t, size_t rank) {
  if (t.shape.size() != rank) {
    fail(code::kShape, std::string(op) + ": " + name + " has shape " + shape_str(t.shape) +
                           ", expected rank " + std::to_string(rank));
  }
}

void expect_shape(const char* op, const char* name, const HostTensor& t,
                  const std::vector<int64_t>& want) {
  if (t.shape != want) {
    fail(code::kShape, std::string(op) + ": " + name + " has shape " + shape_str(t.shape) +
                           ", expected " + shape_str(want));
  }
}

// x [n, h, w, cin] NHWC and weight [cout, cin, k, k] give the shape; attributes give k, stride,
// pad.
op::Conv2dShape conv_shape(const Attrs& a, const HostTensor& x, const HostTensor& weight,
                           const HostTensor* bias) {
  expect_rank("conv2d", "x", x, 4);
  expect_rank("conv2d", "weight", weight, 4);
  op::Conv2dShape s{x.shape[0],
                    x.shape[1],
                    x.shape[2],
                    x.shape[3],
                    weight.shape[0],
                    int_attr(a, "k", 1),
                    int_attr(a, "stride", 1),
                    int_attr(a, "pad", 0)};
  expect_shape("conv2d", "weight", weight, {s.cout, s.cin, s.k, s.k});
  if (bias != nullptr) expect_shape("conv2d", "bias", *bias, {s.cout});
  if (s.h + 2 * s.pad < s.k || s.w + 2 * s.pad < s.k) {
    fail(code::kShape, "conv2d: input " + shape_str(x.shape) + " padded by " +
                           std::to_string(s.pad) + " is smaller than the kernel " +
                           std::to_string(s.k));
  }
  return s;
}

// inputs x [n, h, w, cin], weight [cout, cin, k, k], bias [cout] (optional), dy [n, oh, ow, cout]
// (optional); outputs y, and with dy: dx, dweight, dbias (when there is a bias).
void conv2d_case(const Attrs& a, const Tensors& in, Tensors& out) {
  const HostTensor& x = input(in, "x");
  const HostTensor& weight = input(in, "weight");
  const HostTensor* bias = optional_input(in, "bias");
  const HostTensor* dy = optional_input(in, "dy");
  const op::Conv2dShape s = conv_shape(a, x, weight, bias);
  const std::vector<int64_t> y_shape{s.n, s.oh(), s.ow(), s.cout};
  if (dy != nullptr) expect_shape("conv2d", "dy", *dy, y_shape);
  float* y = output(out, "y", y_shape);
  cpu::conv2d_forward(s, x.data.data(), weight.data.data(), bias ? bias->data.data() : nullptr, y);
  if (dy == nullptr) return;
  float* dx = output(out, "dx", x.shape);
  float* dweight = output(out, "dweight", weight.shape);
  float* dbias = bias ? output(out, "dbias", {s.cout}) : nullptr;
  cpu::conv2d_backward(s, x.data.data(), weight.data.data(), dy->data.data(), dx, dweight, dbias);
}

// inputs x [rows, in], weight [out, in], bias [out] (optional), dy [rows, out] (optional).
void linear_case(const Attrs&, const Tensors& in, Tensors& out) {
  const HostTensor& x = input(in, "x");
  const HostTensor& weight = input(in, "weight");
  const HostTensor* bias = optional_input(in, "bias");
  const HostTensor* dy = optional_input(in, "dy");
  expect_rank("linear", "x", x, 2);
  expect_rank("linear", "weight", weight, 2);
  const op::LinearShape s{x.shape[0], x.shape[1], weight.shape[0]};
  expect_shape("linear", "weight", weight, {s.out, s.in});
  if (bias != nullptr) expect_shape("linear", "bias", *bias, {s.out});
  if (dy != nullptr) expect_shape("linear", "dy", *dy, {s.rows, s.out});
  float* y = output(out, "y", {s.rows, s.out});
  cpu::linear_forward(s, x.data.data(), weight.data.data(), bias ? bias->data.data() : nullptr, y);
  if (dy == nullptr) return;
  float* dx = output(out, "dx", x.shape);
  float* dweight = output(out, "dweight", weight.shape);
  float* dbias = bias ? output(out, "dbias", {s.out}) : nullptr;
  cpu::linear_backward(s, x.data.data(), weight.data.data(), dy->data.data(), dx, dweight, dbias);
}

// Values in [-1, 1) from a fixed sequence: timing needs finite, non-denormal data, not randomness.
std::vector<float> filler(int64_t count, uint32_t seed) {
  std::vector<float> v(static_cast<size_t>(count));
  uint32_t state = seed * 2654435761u + 1u;
  for (float& f : v) {
    state = state * 1664525u + 1013904223u;
    f = static_cast<float>(state >> 8) / 8388608.0f - 1.0f;
  }
  return v;
}

// Milliseconds on the wall clock, or with `cpu_clock` the CPU time of the whole process: on a
// machine shared with other work, CPU time with one thread (OMP_NUM_THREADS=1) is what the
// work itself costs, while wall time counts the slices other processes took.
double now_ms(bool cpu_clock) {
  if (cpu_clock) {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) * 1e-6;
  }
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Runs each step `iters` times after `warmup` untimed rounds; output `<step>_ms` holds the times
// (wall clock, or process CPU time with attribute cpu_clock: 1).
template <typename... Steps>
void time_steps(const Attrs& a, Tensors& out, const std::vector<std::string>& names,
                Steps... steps) {
  const int64_t iters = int_attr(a, "iters", 1, 10);
  const int64_t warmup = int_attr(a, "warmup", 0, 2);
  const bool cpu_clock = int_attr(a, "cpu_clock", 0, 0) != 0;
  std::vector<float*> times;
  for (const std::string& name : names) times.push_back(output(out, name + "_ms", {iters}));
  for (int64_t i = -warmup; i < iters; ++i) {
    size_t step = 0;
    for (auto run : {std::function<void()>(steps)...}) {
      const double t0 = now_ms(cpu_clock);
      run();
      if (i >= 0) times[step][i] = static_cast<float>(now_ms(cpu_clock) - t0);
      ++step;
    }
  }
}

// attrs n, h, w, cin, cout, k, stride, pad, iters, warmup; outputs fwd_ms, bwd_data_ms and
// bwd_weights_ms (weights and bias gradients), one time per iteration.
void conv2d_bench(const Attrs& a, const Tensors&, Tensors& out) {
  const op::Conv2dShape s{int_attr(a, "n", 1),      int_attr(a, "h", 1),    int_attr(a, "w", 1),
                          int_attr(a, "cin", 1),    int_attr(a, "cout", 1), int_attr(a, "k", 1),
                          int_attr(a, "stride", 1), int_attr(a, "pad", 0)};
  const std::vector<float> x = filler(s.n * s.h * s.w * s.cin, 1);
  const std::vector<float> weight = filler(s.cout * s.cin * s.k * s.k, 2);
  const std::vector<float> bias = filler(s.cout, 3);
  const std::vector<float> dy = filler(s.n * s.oh() * s.ow() * s.cout, 4);
  std::vector<float> y(dy.size()), dx(x.size()), dweight(weight.size()), dbias(bias.size());
  time_steps(
      a, out, {"fwd", "bwd_data", "bwd_weights"},
      [&] { cpu::conv2d_forward(s, x.data(), weight.data(), bias.data(), y.data()); },
      [&] {
        cpu::conv2d_backward(s, x.data(), weight.data(), dy.data(), dx.data(), nullptr, nullptr);
      },
      [&] {
        cpu::conv2d_backward(s, x.data(), weight.data(), dy.data(), nullptr, dweight.data(),
                             dbias.data());
      });
}

// attrs rows, in, out, iters, warmup; outputs fwd_ms and bwd_ms (all three gradients).
void linear_bench(const Attrs& a, const Tensors&, Tensors& out) {
  const op::LinearShape s{int_attr(a, "rows", 1), int_attr(a, "in", 1), int_attr(a, "out", 1)};
  const std::vector<float> x = filler(s.rows * s.in, 1);
  const std::vector<float> weight = filler(s.out * s.in, 2);
  const std::vector<float> bias = filler(s.out, 3);
  const std::vector<float> dy = filler(s.rows * s.out, 4);
  std::vector<float> y(dy.size()), dx(x.size()), dweight(weight.size()), dbias(bias.size());
  time_steps(
      a, out, {"fwd", "bwd"},
      [&] { cpu::linear_forward(s, x.data(), weight.data(), bias.data(), y.data()); },
      [&] {
        cpu::linear_backward(s, x.data(), weight.data(), dy.data(), dx.data(), dweight.data(),
                             dbias.data());
      });
}

PFGM_OP_CASE("conv2d", conv2d_case);
PFGM_OP_CASE("linear", linear_case);
PFGM_OP_CASE("conv2d.bench", conv2d_bench);
PFGM_OP_CASE("linear.bench", linear_bench);

}  // namespace
}  // namespace pfgm::opcases
