// The fake-CUDA test addon's device: what cuda/backend.cu calls (the CUDA runtime's copies,
// memsets and synchronisation, the caching allocator, and every pfgm::cuda:: op) implemented on
// the guarded device's memory (test/native/guarded/guarded.h) with the CPU ops.
//
// It checks the one piece of GPU glue that the guarded backend cannot: cuda/backend.cu itself
// (which op it forwards to, with which arguments; its uploads of per-sample coefficients, loss
// weights and sigma into device scratch; its synchronizing downloads; the precision reaching the
// heavy ops). Every pointer a cuda:: op receives must be device memory of the size the op will
// touch (ops.h: the CUDA twins take device pointers; only FIR taps travel by value), every copy
// must go in the direction it claims, and host code touching device memory ends the process with
// status 86. The arithmetic is the CPU engine's, so a network on this device must match the CPU
// network bit for bit (test/native/network-fakecuda.test.ts). The kernels themselves are checked
// on a GPU by test/gpu/.
#include <cuda_runtime_api.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "../../../cuda/kernels/dense.cuh"
#include "../../../cuda/libs/attention_blas.cuh"
#include "../../../cuda/ops.h"
#include "../../../cuda/runtime/allocator.cuh"
#include "../../../cuda/runtime/graph.cuh"
#include "device.h"
#include "errors.h"
#include "fake_log.h"
#include "guarded/guarded.h"
#include "nn/backend.h"
#include "ops/loss.h"
#include "ops/rows.h"
#include "physics/physics.h"
#include "sample/sampler.h"

using pfgm::nn::guarded::Access;

namespace {
constexpr int64_t F = sizeof(float);
}  // namespace

// --- the CUDA runtime ----------------------------------------------------------------------------
extern "C" {
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t) {
  Access a("cudaMemcpyAsync");
  const int64_t b = static_cast<int64_t>(bytes);
  switch (kind) {
    case cudaMemcpyHostToDevice:
      a.host(src, "src (host)");
      a.device(dst, b, "dst");
      break;
    case cudaMemcpyDeviceToHost:
      a.device(src, b, "src");
      a.host(dst, "dst (host)");
      break;
    case cudaMemcpyDeviceToDevice:
      a.device(src, b, "src");
      a.device(dst, b, "dst");
      break;
    default: return cudaErrorInvalidMemcpyDirection;
  }
  if (bytes > 0) std::memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t) {
  Access a("cudaMemsetAsync");
  a.device(p, static_cast<int64_t>(bytes), "dst");
  if (bytes > 0) std::memset(p, value, bytes);
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaGetLastError(void) { return cudaSuccess; }
const char* cudaGetErrorName(cudaError_t) { return "cudaErrorFake"; }
const char* cudaGetErrorString(cudaError_t) { return "an error of the fake CUDA runtime"; }
}

namespace pfgm::gpu {

Info query() {
  Info info;
  info.compiled = true;
  info.available = true;
  info.reason = "the fake-CUDA test addon: cuda/backend.cu over the guarded CPU device";
  info.name = "fake CUDA (guarded CPU memory)";
  // PFGM_FAKE_CUDA_DEVICES=N pretends to have N devices, for the tests of `cuda:N`; every one of
  // them is the same guarded memory.
  const char* n = std::getenv("PFGM_FAKE_CUDA_DEVICES");
  info.device_count = n != nullptr && std::atoi(n) > 0 ? std::atoi(n) : 1;
  info.cudnn = true;
  info.cublas = true;
  return info;
}
// The selected device, for the tests: fakeCudaDevice() in fake_nccl.cc reports it.
namespace {
std::atomic<int> g_fake_current{0};
}  // namespace
void set_current_device(int ordinal) { g_fake_current.store(ordinal); }
int fake_current_device() { return g_fake_current.load(); }
void* allocate(size_t bytes) {
  fix_device();
  return nn::guarded::allocate(bytes);
}
void release(void* p) { nn::guarded::release(p); }
void* pool_allocate(size_t bytes, cudaStream_t) {
  return bytes == 0 ? nullptr : nn::guarded::allocate(bytes);
}
bool pool_release(void* p) {
  nn::guarded::release(p);
  return true;
}
void copy_to_device(void* dst, const void* src, size_t bytes) {
  cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, nullptr);
}
void copy_to_host(void* dst, const void* src, size_t bytes) {
  cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, nullptr);
}
void copy_on_device(void* dst, const void* src, size_t bytes) {
  cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, nullptr);
}
void synchronize() {}

void column_sums(int64_t rows, int64_t cols, const float* dy, float* out) {
  nn::guarded_backend().sum_columns(rows, cols, dy, out);
}

// No CUDA graphs on the fake device: its copies and ops run at once, on the host (the CUDA
// emulator records and replays graphs).
std::unique_ptr<nn::GraphCache> make_graph_cache() { return nn::eager_graph_cache(); }

}  // namespace pfgm::gpu

namespace pfgm::cuda {
namespace {
// The ops whose CUDA contract is the backend interface's (device pointers; FIR taps on the host,
// travelling by value): the guarded backend checks exactly that, then runs the CPU op.
nn::Backend& be() { return nn::guarded_backend(); }

// With PFGM_FAKECUDA_LOG_OPS=1 the heavy ops (kind MATH: linear and convolution, forward and
// backward) are logged too, so a test can see where collectives fall among the engine's work.
bool log_ops() {
  static const bool on = [] {
    const char* v = std::getenv("PFGM_FAKECUDA_LOG_OPS");
    return v != nullptr && std::string(v) == "1";
  }();
  return on;
}
}  // namespace

// Generated from the list of ops (nn/backend_ops.h), kinds PLAIN, MATH and ATTENTION. The math
// mode changes the GPU's rounding, not which values an op reads and writes; the cuBLAS attention
// reads and writes what the tiled one does.
#define PFGM_FAKE_PLAIN(ret, name, params, args) \
  ret name params { return be().name args; }
#define PFGM_FAKE_MATH(ret, name, params, args)                     \
  ret name(PFGM_OP_UNPAREN params, MathMode) {                      \
    if (log_ops()) pfgm::fakecuda::log(std::string("op ") + #name); \
    return be().name args;                                          \
  }
#define PFGM_FAKE_ATTENTION(ret, name, params, args) \
  PFGM_FAKE_PLAIN(ret, name, params, args)           \
  ret name##_blas(PFGM_OP_UNPAREN params, MathMode) { return be().name args; }
#define PFGM_FAKE_CUDA_CUSTOM(ret, name, params, args)
#define PFGM_FAKE_CUSTOM(ret, name, params, args)
#define PFGM_FAKE_OP(kind, ret, name, label, params, args, checks) \
  PFGM_FAKE_##kind(ret, name, params, args)
PFGM_BACKEND_OPS(PFGM_FAKE_OP)
#undef PFGM_FAKE_OP
#undef PFGM_FAKE_CUSTOM
#undef PFGM_FAKE_CUDA_CUSTOM
#undef PFGM_FAKE_ATTENTION
#undef PFGM_FAKE_MATH
#undef PFGM_FAKE_PLAIN

void fill(int64_t n, float value, float* y) { be().fill(n, value, y); }

// By hand: the ops (CUDA_CUSTOM and CUSTOM in the list) that take on the device what the backend
// interface takes on the host (per-row coefficients, loss weights, per-row sums, sigma): checked
// here against the CUDA contract.
void scale_rows(int64_t rows, int64_t cols, const float* a, const float* x, float* y) {
  Access c("cuda::scale_rows");
  c.device(a, rows * F, "a (per-row coefficients, uploaded)");
  c.device(x, rows * cols * F, "x");
  c.device(y, rows * cols * F, "y");
  cpu::scale_rows(rows, cols, a, x, y);
}
void axpby_rows(int64_t rows, int64_t cols, const float* a, const float* x, const float* b,
                const float* z, float* y) {
  Access c("cuda::axpby_rows");
  c.device(a, rows * F, "a (per-row coefficients, uploaded)");
  c.device(b, rows * F, "b (per-row coefficients, uploaded)");
  c.device(x, rows * cols * F, "x");
  c.device(z, rows * cols * F, "z");
  c.device(y, rows * cols * F, "y");
  cpu::axpby_rows(rows, cols, a, x, b, z, y);
}
void sumsq_rows(int64_t rows, int64_t cols, const float* x, double* out) {
  Access c("cuda::sumsq_rows");
  c.device(x, rows * cols * F, "x");
  c.device(out, rows * 8, "out");
  cpu::sumsq_rows(rows, cols, x, out);
}
void adaptive_coefs(int64_t rows, int64_t cols, const float* x, const float* sigma,
                    double sigma_data, double d_aware_D, float* c_in, float* c_skip, float* c_out) {
  Access c("cuda::adaptive_coefs");
  c.device(x, rows * cols * F, "x");
  c.device(sigma, rows * F, "sigma (uploaded)");
  c.device(c_in, rows * F, "c_in");
  c.device(c_skip, rows * F, "c_skip", true);
  c.device(c_out, rows * F, "c_out", true);
  cpu::adaptive_coefs(rows, cols, x, sigma, sigma_data, d_aware_D, c_in, c_skip, c_out);
}
double weighted_mse_forward(int64_t samples, int64_t per, const float* pred, const float* target,
                            const float* weight, float* per_sample) {
  Access c("cuda::weighted_mse_forward");
  c.device(pred, samples * per * F, "pred");
  c.device(target, samples * per * F, "target");
  c.device(weight, samples * F, "weight");
  c.device(per_sample, samples * F, "per_sample", true);
  return cpu::weighted_mse_forward(samples, per, pred, target, weight, per_sample);
}
void weighted_mse_backward(int64_t samples, int64_t per, const float* pred, const float* target,
                           const float* weight, float* dpred) {
  Access c("cuda::weighted_mse_backward");
  c.device(pred, samples * per * F, "pred");
  c.device(target, samples * per * F, "target");
  c.device(weight, samples * F, "weight");
  c.device(dpred, samples * per * F, "dpred");
  cpu::weighted_mse_backward(samples, per, pred, target, weight, dpred);
}
void weighted_mse_accumulate(int64_t samples, int64_t per, const float* pred, const float* target,
                             const float* weight, double share, double* total) {
  Access c("cuda::weighted_mse_accumulate");
  c.device(pred, samples * per * F, "pred");
  c.device(target, samples * per * F, "target");
  c.device(weight, samples * F, "weight");
  c.device(total, 8, "total");
  cpu::weighted_mse_accumulate(samples, per, pred, target, weight, share, total);
}
void adam_step_checked(int64_t count, float* p, const float* g, float* m, float* v,
                       const optim::AdamStep* step, const double* stats, float* ema) {
  Access c("cuda::adam_step_checked");
  for (const void* a : {static_cast<const void*>(p), static_cast<const void*>(g),
                        static_cast<const void*>(m), static_cast<const void*>(v)})
    c.device(a, count * F, "param / grad / m / v");
  c.device(ema, count * F, "ema", true);
  c.device(step, sizeof(optim::AdamStep), "step (uploaded)");
  c.device(stats, optim::kStatCount * 8, "stats");
  cpu::adam_step_checked(count, p, g, m, v, step, stats, ema);
}
void student_t_noise_f32(const float* y, float* out, const NoiseSpec& spec) {
  Access c("cuda::student_t_noise_f32");
  c.device(y, spec.count * spec.n * F, "y", true);
  c.device(out, spec.count * spec.n * F, "out");
  c.device(spec.sigma, spec.count * 8, "spec.sigma", true);
  c.device(spec.streams.step_at, 4, "spec.streams.step_at", true);
  cpu::student_t_noise_f32(y, out, spec);
}

// The sampler's twins that a sampling run on the GPU calls (sample/run.cc): the same CUDA
// contract, checked the same way.
void linear_combination_f32(int64_t n, int terms, const double* coefs, const float* const* inputs,
                            float* out) {
  Access c("cuda::linear_combination_f32");
  c.host(coefs, "coefs (host)");
  c.host(inputs, "inputs (the host array of device pointers)");
  for (int t = 0; t < terms; ++t) c.device(inputs[t], n * F, "inputs[t]");
  c.device(out, n * F, "out");
  cpu::linear_combination_f32(n, terms, coefs, inputs, out);
}
void churn_noise_f32(const float* x, float* out, int64_t count, int64_t n, double scale,
                     const SampleStreams& streams) {
  Access c("cuda::churn_noise_f32");
  c.device(x, count * n * F, "x");
  c.device(out, count * n * F, "out");
  c.device(streams.seeds, count * 8, "streams.seeds", true);
  cpu::churn_noise_f32(x, out, count, n, scale, streams);
}
int64_t first_nonfinite_f32(int64_t n, const float* x) {
  Access c("cuda::first_nonfinite_f32");
  c.device(x, n * F, "x");
  return cpu::first_nonfinite_f32(n, x);
}
double scaled_sumsq_f32(int64_t n, const float* e, const float* a, const float* b, double rtol,
                        double atol) {
  Access c("cuda::scaled_sumsq_f32");
  c.device(e, n * F, "e");
  c.device(a, n * F, "a");
  c.device(b, n * F, "b");
  return cpu::scaled_sumsq_f32(n, e, a, b, rtol, atol);
}

void slope_update_f32(int64_t n, double inv_sigma, const float* x, const float* den, int terms,
                      const double* coefs, const float* const* slopes, float* d_out, float* x_out) {
  Access a("cuda::slope_update_f32");
  a.host(coefs, "coefs (host)");
  a.device(x, n * F, "x");
  a.device(den, n * F, "den");
  for (int t = 1; t < terms; ++t) a.device(slopes[t], n * F, "slopes[t]");
  a.device(d_out, n * F, "d_out");
  a.device(x_out, n * F, "x_out");
  cpu::slope_update_f32(n, inv_sigma, x, den, terms, coefs, slopes, d_out, x_out);
}
void pfgm_drift_f32(int64_t count, int64_t hw, int64_t c, const float* f, double z, double gamma,
                    float* out) {
  Access a("cuda::pfgm_drift_f32");
  a.device(f, count * hw * (c + 1) * F, "f");
  a.device(out, count * hw * c * F, "out");
  cpu::pfgm_drift_f32(count, hw, c, f, z, gamma, out);
}

// The rest of the physics twins: not used by networks, so not in this device.
namespace {
[[noreturn]] void absent(const char* what) {
  fail(code::kDevice, std::string(what) + " is not part of the fake-CUDA test addon");
}
}  // namespace
void student_t_noise_f64(const double*, double*, const NoiseSpec&) {
  absent("student_t_noise_f64");
}
void pfgm_perturb_f32(const float*, float*, float*, const PfgmSpec&) { absent("pfgm_perturb_f32"); }
void pfgm_perturb_f64(const double*, double*, double*, const PfgmSpec&) {
  absent("pfgm_perturb_f64");
}
void training_sigma_f32(float*, int64_t, double, double, const SampleStreams&) {
  absent("training_sigma_f32");
}
void training_sigma_f64(double*, int64_t, double, double, const SampleStreams&) {
  absent("training_sigma_f64");
}

}  // namespace pfgm::cuda
