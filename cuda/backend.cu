// The CUDA backend of the network modules (nn/backend.h): each call forwards to the pfgm::cuda::
// twin of the CPU op, queued on the engine stream, and first reports to the thread's CUDA graph
// recorder when one is warming up, capturing or replaying a sequence (runtime/graph.cuh).
// Host-side arguments of the interface (per-sample coefficients, loss weights, sigma) are uploaded
// to pooled scratch first; results that return to the host (the loss, gradient statistics,
// per-row norms) synchronize. Convolutions and matrix
// products run in the backend's precision (fp32, TF32, or bf16 autocast with fp32 accumulation);
// everything else, and every parameter, gradient and optimizer state, stays fp32. The ops'
// overrides are generated from the list of ops (nn/backend_ops.h), except for the few whose entry
// says they are written by hand (kinds CUDA_CUSTOM and CUSTOM: after the class, in one place).
#include <cuda_runtime.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <type_traits>
#include <vector>

#include "device.h"
#include "kernels/dense.cuh"
#include "libs/attention_blas.cuh"
#include "nn/backend.h"
#include "nn/profile.h"
#include "ops.h"
#include "physics/physics.h"
#include "runtime/allocator.cuh"
#include "runtime/check.cuh"
#include "runtime/graph.cuh"
#include "runtime/launch.cuh"

namespace pfgm::nn {
namespace {

// Attention's products through cuBLAS (attention_blas.cu: tensor cores in tf32 / bf16, about
// twice the tiled kernel's speed in fp32 by estimate) whenever cuBLAS is linked in; the tiled
// fp32 kernel (attention.cu) otherwise, or with PFGM_ATTENTION=tiled, which lets a GPU session
// compare the two or step around a cuBLAS refusal without rebuilding. Read once.
bool attention_through_cublas() {
#ifdef PFGM_HAVE_CUBLAS
  static const bool blas = [] {
    const char* v = std::getenv("PFGM_ATTENTION");
    return v == nullptr || std::string(v) != "tiled";
  }();
  return blas;
#else
  return false;
#endif
}

cuda::MathMode math_mode(Precision p) {
  switch (p) {
    case Precision::kFp32: return cuda::MathMode::kFp32;
    case Precision::kTf32: return cuda::MathMode::kTf32;
    case Precision::kBf16: return cuda::MathMode::kBf16;
  }
  return cuda::MathMode::kFp32;
}

// Host (pageable) memory to the device, done with `host` when this returns. The callers' host
// arrays are temporaries (the per-sample coefficients are std::vectors that die with the call),
// and for a pageable source CUDA documents only that cudaMemcpyAsync "might be synchronous"
// (runtime API, "API synchronization behavior"); waiting for the stream makes it so. The cost is
// small: pageable copies already wait for the stream in practice, and these run where the host
// waits anyway (before a network call, or next to the loss's synchronizing read).
void upload_pageable(void* dst, const void* host, size_t bytes, const char* what) {
  if (bytes == 0) return;
  gpu::check(cudaMemcpyAsync(dst, host, bytes, cudaMemcpyHostToDevice, gpu::engine_stream()), what);
  gpu::check(cudaStreamSynchronize(gpu::engine_stream()), what);
}

// Device memory to the host, there when this returns.
void download_synchronous(void* host, const void* src, size_t bytes, const char* copy_what,
                          const char* sync_what) {
  if (bytes == 0) return;
  gpu::check(cudaMemcpyAsync(host, src, bytes, cudaMemcpyDeviceToHost, gpu::engine_stream()),
             copy_what);
  gpu::check(cudaStreamSynchronize(gpu::engine_stream()), sync_what);
}

// A host array of T on the device for the duration of one call: in pooled device memory (the
// caching pool orders reuse on the engine stream, so freeing it right after queuing the kernel is
// safe), or, while a CUDA graph is captured or replayed, where the graph's launch copies it
// (graph.cuh).
template <typename T>
class Staged {
 public:
  const T* get() const { return graph_ != nullptr ? graph_ : own_.get(); }
  gpu::DeviceArray<T> own_;
  const T* graph_ = nullptr;
};

template <typename T>
Staged<T> to_device(const T* host, int64_t count) {
  Staged<T> d;
  const size_t bytes = static_cast<size_t>(count > 0 ? count : 0) * sizeof(T);
  if (gpu::Recorder* r = gpu::recorder()) {
    d.graph_ = static_cast<const T*>(r->stage(host, bytes));
    if (d.graph_ != nullptr) return d;
  }
  d.own_ = gpu::DeviceArray<T>(count, gpu::engine_stream());
  if (count > 0)
    upload_pageable(d.own_.get(), host, bytes, "cudaMemcpyAsync (coefficients to the GPU)");
  return d;
}

// Whether the dry pass of a CUDA graph's replay skips this op, whose arguments must then match
// the recording (graph.cuh). An op whose result returns to the host cannot be in a graph. Host
// arrays are not fingerprinted by address (they are temporaries): their contents are staged.
template <class Ret, class... A>
bool skipped(const char* name, const A&... args) {
  gpu::Recorder* r = gpu::recorder();
  if (r == nullptr) return false;
  if constexpr (!std::is_void_v<Ret>) {
    r->refuse(std::string(name) + " returns its result to the host");
    return false;
  } else {
    gpu::Fingerprint f(name);
    f.all(args...);
    return !r->op(f.value());
  }
}

// PFGM_PROFILE=1 (nn/profile.h, bench/gpu-profile.mjs): each op's time on the GPU, under its
// name (and shape, for the convolutions and matrix products). The stream is drained before and
// after the op so that the host clock measures that op's GPU work alone, launch included: the
// step gets slower, but the shares show where its time goes. Off: one branch per op.
class OpTimer {
 public:
  // A null `op` (an op with no label in backend_ops.h) times nothing.
  explicit OpTimer(const char* op) {
    if (op != nullptr && profile::enabled()) begin(op);
  }
  OpTimer(const char* op, const op::Conv2dShape& s) {
    if (!profile::enabled()) return;
    begin(std::string(op) + " k" + std::to_string(s.k) + " s" + std::to_string(s.stride) + " " +
          std::to_string(s.cin) + "->" + std::to_string(s.cout) + " @" + std::to_string(s.h) + "x" +
          std::to_string(s.w));
  }
  OpTimer(const char* op, const op::ConvInferenceShape& s) {
    if (!profile::enabled()) return;
    const op::ConvGeometry& g = s.g;
    begin(std::string(op) + " k" + std::to_string(g.kh) + "x" + std::to_string(g.kw) + " s" +
          std::to_string(g.stride_h) + " " + std::to_string(g.cin) + "->" + std::to_string(g.cout) +
          " @" + std::to_string(s.h) + "x" + std::to_string(s.w));
  }
  OpTimer(const char* op, const op::LinearShape& s) {
    if (!profile::enabled()) return;
    begin(std::string(op) + " " + std::to_string(s.in) + "->" + std::to_string(s.out) + " x" +
          std::to_string(s.rows));
  }
  ~OpTimer() {
    if (name_.empty()) return;
    cudaStreamSynchronize(gpu::engine_stream());  // errors surface at the op's own next check
    const auto d = std::chrono::steady_clock::now() - start_;
    profile::totals_ms()[name_] += std::chrono::duration<double, std::milli>(d).count();
  }
  OpTimer(const OpTimer&) = delete;
  OpTimer& operator=(const OpTimer&) = delete;

 private:
  void begin(std::string name) {
    cudaStreamSynchronize(gpu::engine_stream());
    name_ = std::move(name);
    start_ = std::chrono::steady_clock::now();
  }
  std::string name_;
  std::chrono::steady_clock::time_point start_;
};

// Each op's profile label from backend_ops.h, for the overrides written by hand.
namespace label {
#define PFGM_CUDA_LABEL(kind, ret, name, label, params, args, checks) \
  [[maybe_unused]] constexpr const char* name = label;
PFGM_BACKEND_OPS(PFGM_CUDA_LABEL)
#undef PFGM_CUDA_LABEL
}  // namespace label

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(Precision p) : precision_(p), math_(math_mode(p)) {}
  Device device() const override { return Device::cuda; }
  Precision precision() const override { return precision_; }

  std::unique_ptr<GraphCache> graph_cache() override { return gpu::make_graph_cache(); }

  float* allocate(int64_t count) override {
    if (gpu::Recorder* r = gpu::recorder()) r->memory("allocate");
    OpTimer timer("gpu:allocate (zero-filled)");
    float* p = static_cast<float*>(gpu::allocate(static_cast<size_t>(count) * sizeof(float)));
    gpu::check(
        cudaMemsetAsync(p, 0, static_cast<size_t>(count) * sizeof(float), gpu::engine_stream()),
        "cudaMemsetAsync (a new activation)");
    return p;
  }
  void release(float* p) override {
    if (gpu::Recorder* r = gpu::recorder()) r->memory("release");
    gpu::release(p);
  }
  void copy(int64_t count, const float* src, float* dst) override {
    if (count <= 0 || src == dst || skipped<void>("copy", count, src, dst)) return;
    OpTimer timer("gpu:copy");
    gpu::check(cudaMemcpyAsync(dst, src, static_cast<size_t>(count) * sizeof(float),
                               cudaMemcpyDeviceToDevice, gpu::engine_stream()),
               "cudaMemcpyAsync (device to device)");
  }
  void fill(int64_t count, float value, float* y) override {
    if (skipped<void>("fill", count, value, y)) return;
    cuda::fill(count, value, y);
  }
  void upload(int64_t count, const float* host, float* dst) override {
    if (count <= 0) return;
    if (gpu::Recorder* r = gpu::recorder()) {
      // In a graph: the values are staged with the launch and copied into place by the graph
      // (a warm-up only counts them and uploads as usual).
      const bool skip = skipped<void>("upload", count, dst);
      const void* staged = r->stage(host, static_cast<size_t>(count) * sizeof(float));
      if (skip) return;
      if (staged != nullptr) {
        gpu::check(cudaMemcpyAsync(dst, staged, static_cast<size_t>(count) * sizeof(float),
                                   cudaMemcpyDeviceToDevice, gpu::engine_stream()),
                   "cudaMemcpyAsync (staged upload)");
        return;
      }
    }
    // `host` may be freed as soon as this returns (see upload_pageable).
    upload_pageable(dst, host, static_cast<size_t>(count) * sizeof(float),
                    "cudaMemcpyAsync (host to GPU)");
  }
  void download(int64_t count, const float* src, float* host) override {
    if (count <= 0) return;
    if (gpu::Recorder* r = gpu::recorder()) r->refuse("a download to the host");
    download_synchronous(host, src, static_cast<size_t>(count) * sizeof(float),
                         "cudaMemcpyAsync (GPU to host)", "cudaStreamSynchronize (download)");
  }

  // The ops of backend_ops.h, generated by kind; the CUDA_CUSTOM and CUSTOM ones are written by
  // hand below the class.
#define PFGM_CUDA_PLAIN(ret, name, label, params, args)          \
  ret name params override {                                     \
    if (skipped<ret>(#name, PFGM_OP_UNPAREN args)) return ret(); \
    OpTimer timer(label);                                        \
    return cuda::name args;                                      \
  }
#define PFGM_CUDA_MATH(ret, name, label, params, args)           \
  ret name params override {                                     \
    if (skipped<ret>(#name, PFGM_OP_UNPAREN args)) return ret(); \
    OpTimer timer(label, s);                                     \
    return cuda::name(PFGM_OP_UNPAREN args, math_);              \
  }
#define PFGM_CUDA_ATTENTION(ret, name, label, params, args)      \
  ret name params override {                                     \
    if (skipped<ret>(#name, PFGM_OP_UNPAREN args)) return ret(); \
    OpTimer timer(label);                                        \
    if (attention_through_cublas()) {                            \
      return cuda::name##_blas(PFGM_OP_UNPAREN args, math_);     \
    }                                                            \
    return cuda::name args;                                      \
  }
#define PFGM_CUDA_CUDA_CUSTOM(ret, name, label, params, args) ret name params override;
#define PFGM_CUDA_CUSTOM(ret, name, label, params, args) ret name params override;
#define PFGM_CUDA_OP(kind, ret, name, label, params, args, checks) \
  PFGM_CUDA_##kind(ret, name, label, params, args)
  PFGM_BACKEND_OPS(PFGM_CUDA_OP)
#undef PFGM_CUDA_OP
#undef PFGM_CUDA_CUSTOM
#undef PFGM_CUDA_CUDA_CUSTOM
#undef PFGM_CUDA_ATTENTION
#undef PFGM_CUDA_MATH
#undef PFGM_CUDA_PLAIN

 private:
  Precision precision_;
  cuda::MathMode math_;
};

// --- the CUDA_CUSTOM and CUSTOM ops of backend_ops.h, by hand ------------------------------------
// Host arrays of the interface (per-row coefficients, loss weights, sigma) are staged through
// pooled device scratch; results that return to the host synchronize.

void CudaBackend::sum_columns(int64_t rows, int64_t cols, const float* x, float* out) {
  if (skipped<void>("sum_columns", rows, cols, x, out)) return;
  OpTimer timer(label::sum_columns);
  gpu::column_sums(rows, cols, x, out);
}
void CudaBackend::scale_rows(int64_t rows, int64_t cols, const float* a, const float* x, float* y) {
  const bool skip = skipped<void>("scale_rows", rows, cols, x, y);
  const auto da = to_device(a, rows);
  if (skip) return;
  OpTimer timer(label::scale_rows);
  cuda::scale_rows(rows, cols, da.get(), x, y);
}
void CudaBackend::axpby_rows(int64_t rows, int64_t cols, const float* a, const float* x,
                             const float* b, const float* z, float* y) {
  const bool skip = skipped<void>("axpby_rows", rows, cols, x, z, y);
  const auto da = to_device(a, rows), db = to_device(b, rows);
  if (skip) return;
  OpTimer timer(label::axpby_rows);
  cuda::axpby_rows(rows, cols, da.get(), x, db.get(), z, y);
}
void CudaBackend::sumsq_rows(int64_t rows, int64_t cols, const float* x, double* out) {
  if (gpu::Recorder* r = gpu::recorder()) r->refuse("sumsq_rows returns its result to the host");
  OpTimer timer(label::sumsq_rows);
  gpu::DeviceArray<double> d(rows, gpu::engine_stream());
  cuda::sumsq_rows(rows, cols, x, d.get());
  if (rows > 0) {
    download_synchronous(out, d.get(), static_cast<size_t>(rows) * sizeof(double),
                         "cudaMemcpyAsync (row norms to the host)",
                         "cudaStreamSynchronize (row norms)");
  }
}
void CudaBackend::adaptive_coefs(int64_t rows, int64_t cols, const float* x, const float* sigma,
                                 double sigma_data, double d_aware_D, float* c_in, float* c_skip,
                                 float* c_out) {
  const bool skip =
      skipped<void>("adaptive_coefs", rows, cols, x, sigma_data, d_aware_D, c_in, c_skip, c_out);
  const auto ds = to_device(sigma, rows);
  if (skip) return;
  OpTimer timer(label::adaptive_coefs);
  cuda::adaptive_coefs(rows, cols, x, ds.get(), sigma_data, d_aware_D, c_in, c_skip, c_out);
}
double CudaBackend::weighted_mse_forward(int64_t samples, int64_t per_sample, const float* pred,
                                         const float* target, const float* weight) {
  if (gpu::Recorder* r = gpu::recorder()) r->refuse("the loss returns its value to the host");
  OpTimer timer(label::weighted_mse_forward);
  const auto dw = to_device(weight, samples);
  return cuda::weighted_mse_forward(samples, per_sample, pred, target, dw.get(), nullptr);
}
void CudaBackend::weighted_mse_backward(int64_t samples, int64_t per_sample, const float* pred,
                                        const float* target, const float* weight, float* dpred) {
  const bool skip =
      skipped<void>("weighted_mse_backward", samples, per_sample, pred, target, dpred);
  const auto dw = to_device(weight, samples);
  if (skip) return;
  OpTimer timer(label::weighted_mse_backward);
  cuda::weighted_mse_backward(samples, per_sample, pred, target, dw.get(), dpred);
}
void CudaBackend::weighted_mse_accumulate(int64_t samples, int64_t per_sample, const float* pred,
                                          const float* target, const float* weight, double share,
                                          double* total) {
  const bool skip =
      skipped<void>("weighted_mse_accumulate", samples, per_sample, pred, target, share, total);
  const auto dw = to_device(weight, samples);
  if (skip) return;
  OpTimer timer(label::weighted_mse_accumulate);
  cuda::weighted_mse_accumulate(samples, per_sample, pred, target, dw.get(), share, total);
}
void CudaBackend::adam_step_checked(int64_t count, float* param, const float* grad, float* m,
                                    float* v, const optim::AdamStep* step, const double* stats,
                                    float* ema) {
  const bool skip = skipped<void>("adam_step_checked", count, param, grad, m, v, stats, ema);
  const auto ds = to_device(step, 1);
  if (skip) return;
  OpTimer timer(label::adam_step_checked);
  cuda::adam_step_checked(count, param, grad, m, v, ds.get(), stats, ema);
}
void CudaBackend::student_t_noise_f32(float* out, const NoiseSpec& spec) {
  // physics.cu launches one block per sample: an empty batch would be a grid of 0 blocks
  // (cudaErrorInvalidConfiguration). The CPU op writes nothing then either.
  if (spec.count <= 0 || spec.n <= 0) return;
  // A training step's draws: the same op at every step when the step is read from device memory
  // (streams.step_at), so the step can be a graph; sigma is staged with the call.
  const bool skip = skipped<void>("student_t_noise_f32", out, spec);
  NoiseSpec d = spec;
  Staged<double> sigma;
  if (spec.sigma != nullptr) {
    sigma = to_device(spec.sigma, spec.count);
    d.sigma = sigma.get();
  }
  if (skip) return;
  OpTimer timer(label::student_t_noise_f32);  // after the upload
  cuda::student_t_noise_f32(nullptr, out, d);
}

}  // namespace

Backend& cuda_backend(Precision precision) {
  const gpu::Info info = gpu::query();
  if (!info.available) {
    fail(code::kDevice,
         "device 'cuda' is not usable here: " + info.reason + " (use device 'cpu' or 'auto')");
  }
  gpu::fix_device();  // the process's GPU from now on (device.h)
  gpu::bind_thread();
  static CudaBackend fp32(Precision::kFp32), tf32(Precision::kTf32), bf16(Precision::kBf16);
  switch (precision) {
    case Precision::kFp32: return fp32;
    case Precision::kTf32: return tf32;
    case Precision::kBf16: return bf16;
  }
  return fp32;
}

}  // namespace pfgm::nn
