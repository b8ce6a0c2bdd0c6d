// The CUDA twins of the op cases (cases/op_cases.h): the same names, inputs, attributes and
// outputs as the CPU cases, so test/gpu/ops-parity.test.ts runs one set of inputs through
// runOp(name, attrs, inputs, 'cpu') and runOp(..., 'cuda') and compares. Each case uploads its
// inputs to pooled device memory, runs the pfgm::cuda op, synchronizes (so an execution error is
// reported by this case) and downloads its outputs. Inputs are validated as on the CPU, so a bad
// shape is ERR_PFGM_SHAPE here too, never an out-of-bounds read on the device.
#include <cmath>
#include <string>
#include <vector>

#include "cases/cuda/op_case_session.cuh"
#include "cases/op_cases.h"
#include "kernels/group_norm.cuh"
#include "ops.h"
#include "runtime/allocator.cuh"
#include "runtime/check.cuh"
#include "runtime/launch.cuh"
#include "sample/sampler_math.h"

namespace pfgm::cuda {
namespace {

using opcase::int_attr;
using opcase::Session;
using opcases::attr;
using opcases::Attrs;
using opcases::HostTensor;
using opcases::input;
using opcases::numel;
using opcases::optional_input;
using opcases::require_shape;
using opcases::Tensors;

// ---- elementwise -----------------------------------------------------------------------------

PFGM_GPU_OP_CASE("axpby", [](const Attrs& a, const Tensors& in, Tensors& out) {
  const HostTensor& x = input(in, "a");
  require_shape("axpby", "b", input(in, "b"), x.shape);
  Session s;
  axpby(numel(x.shape), static_cast<float>(attr(a, "alpha")), s.in(x),
        static_cast<float>(attr(a, "beta")), s.in(input(in, "b")), s.out("y", x.shape));
  s.finish("axpby", out);
});

PFGM_GPU_OP_CASE("scale", [](const Attrs& a, const Tensors& in, Tensors& out) {
  const HostTensor& x = input(in, "a");
  Session s;
  scale(numel(x.shape), static_cast<float>(attr(a, "alpha")), s.in(x), s.out("y", x.shape));
  s.finish("scale", out);
});

PFGM_GPU_OP_CASE("concat_channels", [](const Attrs&, const Tensors& in, Tensors& out) {
  const HostTensor& ta = input(in, "a");
  const HostTensor& tb = input(in, "b");
  if (ta.shape.empty() || tb.shape.size() != ta.shape.size() ||
      !std::equal(ta.shape.begin(), ta.shape.end() - 1, tb.shape.begin())) {
    fail(code::kShape,
         "concat_channels: a and b must differ only in their last (channel) dimension");
  }
  const int64_t ca = ta.shape.back(), cb = tb.shape.back();
  const int64_t pixels = ca > 0 ? numel(ta.shape) / ca : numel(tb.shape) / (cb > 0 ? cb : 1);
  std::vector<int64_t> ys = ta.shape;
  ys.back() = ca + cb;
  const HostTensor* dy = optional_input(in, "dy");
  if (dy != nullptr) require_shape("concat_channels", "dy", *dy, ys);
  Session s;
  concat_channels(pixels, ca, s.in(ta), cb, s.in(tb), s.out("y", ys));
  if (dy != nullptr) {
    split_channels(pixels, ca, s.out("da", ta.shape), cb, s.out("db", tb.shape), s.in(*dy));
  }
  s.finish("concat_channels", out);
});

PFGM_GPU_OP_CASE("add_channel_bias", [](const Attrs&, const Tensors& in, Tensors& out) {
  const HostTensor& x = input(in, "x");
  if (x.shape.size() != 4 || numel(x.shape) <= 0)
    fail(code::kShape, "add_channel_bias: x must be NHWC");
  const int64_t n = x.shape[0], hw = x.shape[1] * x.shape[2], c = x.shape[3];
  require_shape("add_channel_bias", "bias", input(in, "bias"), {n, c});
  Session s;
  add_channel_bias(n, hw, c, s.in(x), s.in(input(in, "bias")), s.out("y", x.shape));
  s.finish("add_channel_bias", out);
});

PFGM_GPU_OP_CASE("nchw_to_nhwc", [](const Attrs&, const Tensors& in, Tensors& out) {
  const HostTensor& x = input(in, "x");
  if (x.shape.size() != 4 || numel(x.shape) <= 0)
    fail(code::kShape, "nchw_to_nhwc: x must be NCHW");
  const int64_t n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3];
  Session s;
  nchw_to_nhwc(n, c, h, w, s.in(x), s.out("y", {n, h, w, c}));
  s.finish("nchw_to_nhwc", out);
});

PFGM_GPU_OP_CASE("nhwc_to_nchw", [](const Attrs&, const Tensors& in, Tensors& out) {
  const HostTensor& x = input(in, "x");
  if (x.shape.size() != 4 || numel(x.shape) <= 0)
    fail(code::kShape, "nhwc_to_nchw: x must be NHWC");
  const int64_t n = x.shape[0], h = x.shape[1], w = x.shape[2], c = x.shape[3];
  Session s;
  nhwc_to_nchw(n, c, h, w, s.in(x), s.out("y", {n, c, h, w}));
  s.finish("nhwc_to_nchw", out);
});

// ---- activations -----------------------------------------------------------------------------

PFGM_GPU_OP_CASE("silu", [](const Attrs&, const Tensors& in, Tensors& out) {
  const HostTensor& x = input(in, "x");
  const HostTensor* dy = optional_input(in, "dy");
  if (dy != nullptr) require_shape("silu", "dy", *dy, x.shape);
  Session s;
  const float* xd = s.in(x);
  silu_forward(numel(x.shape), xd, s.out("y", x.shape));
  if (dy != nullptr) silu_backward(numel(x.shape), xd, s.in(*dy), s.out("dx", x.shape));
  s.finish("silu", out);
});

PFGM_GPU_OP_CASE("dropout", [](const Attrs& a, const Tensors& in, Tensors& out) {
  const std::string op = "dropout";
  const HostTensor& x = input(in, "x");
  opcases::require_batch(op, "x", x);
  const HostTensor* dy = optional_input(in, "dy");
  if (dy != nullptr) require_shape(op, "dy", *dy, x.shape);
  op::DropoutSpec spec{};
  spec.samples = x.shape[0];
  spec.per_sample = numel(x.shape) / spec.samples;
  const double p = attr(a, "p");
  if (!(p >= 0.0 && p < 1.0)) fail(code::kArgument, op + ": p must be in [0, 1)");
  spec.p = static_cast<float>(p);
  if (!(spec.p < 1.0f)) fail(code::kArgument, op + ": p rounds to 1 in float32");
  spec.seed = static_cast<uint64_t>(int_attr(a, op, "seed", 0, 0, 9007199254740992.0));
  spec.sample_offset =
      static_cast<uint64_t>(int_attr(a, op, "sample_offset", 0, 0, 9007199254740992.0));
  spec.step = static_cast<uint32_t>(int_attr(a, op, "step", 0, 0, 4294967295.0));
  spec.site = static_cast<uint32_t>(int_attr(a, op, "site", 0, 0, 255));
  // As the CPU case (basic_cases.cc): in_place, outputs y, mask, dx and dx_regen.
  const bool in_place = int_attr(a, op, "in_place", 0, 0, 1) != 0;
  Session s;
  auto* mask = reinterpret_cast<uint32_t*>(
      s.out("mask", {spec.samples, op::dropout_mask_words(spec.per_sample)}));
  float* y = s.out("y", x.shape, in_place ? &x : nullptr);
  cuda::dropout_forward(spec, in_place ? y : s.in(x), y, mask);
  if (dy != nullptr) {
    float* dx = s.out("dx", x.shape, in_place ? dy : nullptr);
    cuda::dropout_backward(spec, mask, in_place ? dx : s.in(*dy), dx);
    float* dx_regen = s.out("dx_regen", x.shape, in_place ? dy : nullptr);
    cuda::dropout_backward(spec, nullptr, in_place ? dx_regen : s.in(*dy), dx_regen);
  }
  s.finish("dropout", out);
});

// ---- group norm ------------------------------------------------------------------------------

PFGM_GPU_OP_CASE("group_norm", [](const Attrs& a, const Tensors& in, Tensors& out) {
  const std::string op = "group_norm";
  const HostTensor& x = input(in, "x");
  if (x.shape.size() != 4 || numel(x.shape) <= 0) {
    fail(code::kShape, op + ": 'x' must be a non-empty NHWC tensor [n, h, w, c], got " +
                           opcases::shape_text(x.shape));
  }
  const int64_t n = x.shape[0], c = x.shape[3];
  op::GroupNormShape gs{};
  gs.n = n;
  gs.hw = x.shape[1] * x.shape[2];
  gs.c = c;
  gs.groups =
      int_attr(a, op, "groups", static_cast<double>(cpu::edm_groups(c)), 1, static_cast<double>(c));
  if (c % gs.groups != 0) fail(code::kShape, op + ": groups must divide the channels");
  const double eps = attr(a, "eps", 1e-5);
  if (!(eps >= 0.0 && std::isfinite(eps)))
    fail(code::kArgument, op + ": eps must be finite and >= 0");
  gs.eps = static_cast<float>(eps);
  gs.silu = attr(a, "silu", 0.0) != 0.0;
  require_shape(op, "gamma", input(in, "gamma"), {c});
  require_shape(op, "beta", input(in, "beta"), {c});
  const HostTensor* shift = optional_input(in, "shift");
  if (shift != nullptr) require_shape(op, "shift", *shift, {n, c});
  const HostTensor* dy = optional_input(in, "dy");
  if (dy != nullptr) require_shape(op, "dy", *dy, x.shape);

  Session s;
  const float* xd = s.in(x);
  const float* sh = s.in_opt(shift);
  const float* gamma = s.in(input(in, "gamma"));
  const float* beta = s.in(input(in, "beta"));
  float* mean = s.out("mean", {n, gs.groups});
  float* rstd = s.out("rstd", {n, gs.groups});
  cuda::group_norm_forward(gs, xd, sh, gamma, beta, s.out("y", x.shape), mean, rstd);
  if (dy != nullptr) {
    // backward_path 1 / 2: fail unless the backward takes the one-read / two-pass path here, so
    // the parity cases keep covering both as the choice in group_norm.cu changes.
    const double want = attr(a, "backward_path", 0.0);
    const GroupNormBackward path = group_norm_backward_path(gs);
    if (want != 0.0 && (want == 1.0) != (path == GroupNormBackward::kOneRead)) {
      fail(code::kArgument, op + ": the backward takes the " +
                                (path == GroupNormBackward::kOneRead ? "one-read" : "two-pass") +
                                " path for this shape, not the one backward_path names");
    }
    const bool params = attr(a, "no_params", 0.0) == 0.0;
    cuda::group_norm_backward(
        gs, xd, sh, gamma, beta, mean, rstd, s.in(*dy),
        attr(a, "no_dx", 0.0) != 0.0 ? nullptr : s.out("dx", x.shape),
        params ? s.out("dgamma", {c}) : nullptr, params ? s.out("dbeta", {c}) : nullptr,
        shift != nullptr && attr(a, "no_dshift", 0.0) == 0.0 ? s.out("dshift", {n, c}) : nullptr);
  }
  s.finish("group_norm", out);
});

// ---- loss ------------------------------------------------------------------------------------

PFGM_GPU_OP_CASE("weighted_mse", [](const Attrs&, const Tensors& in, Tensors& out) {
  const std::string op = "weighted_mse";
  const HostTensor& pred = input(in, "pred");
  opcases::require_batch(op, "pred", pred);
  require_shape(op, "target", input(in, "target"), pred.shape);
  const int64_t n = pred.shape[0], per = numel(pred.shape) / n;
  require_shape(op, "weight", input(in, "weight"), {n});
  Session s;
  const float* p = s.in(pred);
  const float* t = s.in(input(in, "target"));
  const float* w = s.in(input(in, "weight"));
  const double loss = weighted_mse_forward(n, per, p, t, w, s.out("per_sample", {n}));
  weighted_mse_backward(n, per, p, t, w, s.out("dpred", pred.shape));
  s.finish(op.c_str(), out);
  opcases::output(out, "loss", {1})[0] = static_cast<float>(loss);
});

// ---- optimiser -------------------------------------------------------------------------------

PFGM_GPU_OP_CASE("adam_step", [](const Attrs& a, const Tensors& in, Tensors& out) {
  const HostTensor& p = input(in, "p");
  for (const char* name : {"g", "m", "v"})
    require_shape("adam_step", name, input(in, name), p.shape);
  const HostTensor* ema = optional_input(in, "ema");
  if (ema != nullptr) require_shape("adam_step", "ema", *ema, p.shape);
  const double t = attr(a, "t", 1.0);
  if (!(t >= 1.0 && t == std::floor(t)))
    fail(code::kArgument, "adam_step: t must be an integer >= 1");
  Session s;
  float* pd = s.out("p", p.shape, &p);
  float* md = s.out("m", p.shape, &input(in, "m"));
  float* vd = s.out("v", p.shape, &input(in, "v"));
  float* ed = ema != nullptr ? s.out("ema", p.shape, ema) : nullptr;
  adam_step(numel(p.shape), pd, s.in(input(in, "g")), md, vd, attr(a, "lr"), attr(a, "beta1", 0.9),
            attr(a, "beta2", 0.999), attr(a, "eps", 1e-8), static_cast<int64_t>(t),
            static_cast<float>(attr(a, "grad_scale", 1.0)), ed, attr(a, "ema_beta", 0.0));
  s.finish("adam_step", out);
});

PFGM_GPU_OP_CASE("ema_update", [](const Attrs& a, const Tensors& in, Tensors& out) {
  const HostTensor& e = input(in, "ema");
  require_shape("ema_update", "p", input(in, "p"), e.shape);
  Session s;
  float* ed = s.out("ema", e.shape, &e);
  ema_update(numel(e.shape), ed, s.in(input(in, "p")), attr(a, "beta"));
  s.finish("ema_update", out);
});

PFGM_GPU_OP_CASE("axpy", [](const Attrs& a, const Tensors& in, Tensors& out) {
  const HostTensor& y = input(in, "y");
  require_shape("axpy", "x", input(in, "x"), y.shape);
  Session s;
  float* yd = s.out("y", y.shape, &y);
  axpy(numel(y.shape), static_cast<float>(attr(a, "alpha")), s.in(input(in, "x")), yd);
  s.finish("axpy", out);
});

PFGM_GPU_OP_CASE("grad_stats", [](const Attrs&, const Tensors& in, Tensors& out) {
  const HostTensor& g = input(in, "g");
  Session s;
  const optim::GradStats st = grad_stats(numel(g.shape), s.in(g));
  s.finish("grad_stats", out);
  opcases::write_double(out, "norm", st.norm);
  opcases::output(out, "finite", {1})[0] = st.finite ? 1.0f : 0.0f;
});

// ---- sampler ---------------------------------------------------------------------------------

// The sampler's streams (as cases/sampler_cases.cc), per-sample seeds copied to the device.
SampleStreams streams_of(const Attrs& a, int64_t count, Session& s) {
  SampleStreams st{};
  st.seed = static_cast<uint64_t>(attr(a, "seed", 0.0));
  st.sample_offset = static_cast<uint64_t>(attr(a, "sample_offset", 0.0));
  st.step = static_cast<uint32_t>(attr(a, "step", 0.0));
  if (a.count("seeds") != 0) {
    const std::vector<double>& v = a.at("seeds");
    if (static_cast<int64_t>(v.size()) != count) {
      fail(code::kShape, "sampler case: seeds must hold one seed per sample");
    }
    std::vector<uint64_t> host(v.size());
    for (size_t i = 0; i < v.size(); ++i) host[i] = static_cast<uint64_t>(v[i]);
    uint64_t* dev = s.scratch<uint64_t>(count);
    gpu::check(cudaMemcpy(dev, host.data(), host.size() * sizeof(uint64_t), cudaMemcpyHostToDevice),
               "cudaMemcpy (per-sample seeds to the GPU)");
    st.seeds = dev;
  }
  return st;
}

PFGM_GPU_OP_CASE("linear_combination", [](const Attrs& a, const Tensors& in, Tensors& out) {
  const std::vector<double> coefs = opcases::attr_list(a, "coefs");
  const int terms = static_cast<int>(coefs.size());
  if (terms < 1 || terms > kMaxCombineTerms) {
    fail(code::kArgument,
         "linear_combination: 1 to " + std::to_string(kMaxCombineTerms) + " coefs");
  }
  const HostTensor& first = input(in, "t0");
  Session s;
  std::vector<const float*> ptrs;
  for (int t = 0; t < terms; ++t) {
    const std::string name = "t" + std::to_string(t);
    require_shape("linear_combination", name, input(in, name), first.shape);
    ptrs.push_back(s.in(input(in, name)));
  }
  linear_combination_f32(numel(first.shape), terms, coefs.data(), ptrs.data(),
                         s.out("out", first.shape));
  s.finish("linear_combination", out);
});

PFGM_GPU_OP_CASE("churn_noise", [](const Attrs& a, const Tensors& in, Tensors& out) {
  const HostTensor& x = input(in, "x");
  opcases::require_batch("churn_noise", "x", x);
  const int64_t count = x.shape[0], n = numel(x.shape) / count;
  Session s;
  const SampleStreams st = streams_of(a, count, s);
  churn_noise_f32(s.in(x), s.out("out", x.shape), count, n, attr(a, "scale"), st);
  s.finish("churn_noise", out);
});

PFGM_GPU_OP_CASE("rademacher", [](const Attrs& a, const Tensors&, Tensors& out) {
  const int64_t count = static_cast<int64_t>(attr(a, "count"));
  const int64_t n = static_cast<int64_t>(attr(a, "n"));
  if (count < 1 || n < 1 || count * n > (int64_t{1} << 28)) {
    fail(code::kShape, "rademacher: count and n must be >= 1 with count * n <= 2^28");
  }
  Session s;
  const SampleStreams st = streams_of(a, count, s);
  rademacher_f32(s.out("out", {count, n}), count, n, st);
  s.finish("rademacher", out);
});

// ---- the allocator and error mapping, on the real device --------------------------------------

// attrs script as the CPU "caching_pool" case ([1, bytes, stream] allocate, [2, handle, 0]
// release, [3, 0, 0] release_cached), streams 0 (the engine stream) or 1 (a stream this case
// creates). Outputs classes, reused (1 when the handle got a block an earlier handle had) and
// stats [in_use, cached, device_allocs, device_frees, hits] as differences from the start.
PFGM_GPU_OP_CASE("caching_pool", [](const Attrs& a, const Tensors&, Tensors& out) {
  const std::vector<double> script = opcases::attr_list(a, "script");
  if (script.size() % 3 != 0) fail(code::kArgument, "caching_pool: script holds triples");
  gpu::pool_release_cached();
  const memory::PoolStats before = gpu::pool_stats();
  cudaStream_t side = nullptr;
  gpu::check(cudaStreamCreateWithFlags(&side, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  std::vector<void*> handles;
  std::vector<float> classes, reused;
  try {
    for (size_t k = 0; k < script.size(); k += 3) {
      const int op = static_cast<int>(script[k]);
      if (op == 1) {
        const size_t bytes = static_cast<size_t>(script[k + 1]);
        void* p = gpu::pool_allocate(bytes, script[k + 2] != 0 ? side : gpu::engine_stream());
        float r = 0.0f;
        for (void* q : handles) r = q == p ? 1.0f : r;
        handles.push_back(p);
        classes.push_back(static_cast<float>(memory::size_class(bytes)));
        reused.push_back(r);
      } else if (op == 2) {
        const auto h = static_cast<size_t>(script[k + 1]);
        if (h >= handles.size()) fail(code::kArgument, "caching_pool: no such handle");
        gpu::pool_release(handles[h]);
      } else if (op == 3) {
        gpu::pool_release_cached();
      } else {
        fail(code::kArgument, "caching_pool: op must be 1, 2 or 3");
      }
    }
  } catch (...) {
    cudaStreamDestroy(side);
    throw;
  }
  const memory::PoolStats after = gpu::pool_stats();
  gpu::pool_release_cached();
  cudaStreamDestroy(side);
  const int64_t n = static_cast<int64_t>(classes.size());
  float* c = opcases::output(out, "classes", {n});
  float* r = opcases::output(out, "reused", {n});
  for (int64_t i = 0; i < n; ++i) {
    c[i] = classes[static_cast<size_t>(i)];
    r[i] = reused[static_cast<size_t>(i)];
  }
  float* st = opcases::output(out, "stats", {5});
  st[0] = static_cast<float>(after.in_use_bytes) - static_cast<float>(before.in_use_bytes);
  st[1] = static_cast<float>(after.cached_bytes);
  st[2] = static_cast<float>(after.device_allocs - before.device_allocs);
  st[3] = static_cast<float>(after.device_frees - before.device_frees);
  st[4] = static_cast<float>(after.hits - before.hits);
});

// attr kind: 1 = an invalid cudaMemcpy (ERR_PFGM_CUDA naming the call), 2 = a 64 TiB allocation
// (ERR_PFGM_OUT_OF_MEMORY with the sizes). The device must stay usable afterwards, so the invalid
// copy is one the runtime refuses on the host: direction 7 (within the enum's range, not one of
// its kinds: cudaErrorInvalidMemcpyDirection) between two valid blocks. A copy between null
// device pointers might instead reach the copy engine and fault, which is sticky and would end
// the CUDA context for the rest of the test file.
PFGM_GPU_OP_CASE("cuda_fault", [](const Attrs& a, const Tensors&, Tensors&) {
  const int kind = static_cast<int>(attr(a, "kind"));
  if (kind == 1) {
    gpu::DeviceArray<float> block(8, gpu::engine_stream());
    gpu::check(cudaMemcpy(block.get(), block.get() + 4, 16, static_cast<cudaMemcpyKind>(7)),
               "cudaMemcpy (a deliberately invalid copy)");
  } else if (kind == 2) {
    gpu::DeviceArray<float> huge(int64_t{1} << 44, gpu::engine_stream());
  }
  fail(code::kArgument, "cuda_fault: kind must be 1 or 2");
});

}  // namespace
}  // namespace pfgm::cuda
