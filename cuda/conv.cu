// 2-D convolutions on the GPU through cuDNN (ops.h; the CPU reference is ops/conv.cc): forward,
// backward data, backward filter, with the math modes of ops.h. Bias add and bias gradient are
// our own kernels (bias.cu), so their summation order is fixed and documented.
//
// Layouts. Activations are NHWC, as everywhere in the engine; PyTorch's weights are OIHW. cuDNN's
// legacy API wants the filter in the data's format (NHWC data -> KRSC filter = OHWI): mixing an
// NCHW filter with NHWC tensors leaves only a few non-tensor-core algorithms, or none. So the
// weights are transposed into OHWI scratch on each call (a few MiB at most, one coalesced pass,
// small next to the convolution, and it doubles as the bf16 conversion), and the filter gradient
// is computed in OHWI and transposed back. For k = 1 OIHW and OHWI are the same array, so fp32
// 1x1 convolutions use the caller's buffers directly.
//
// Plans. cuDNN's handle is made once, bound to gpu::engine_stream(). For each (shape, math mode)
// a plan holds the tensor/filter/convolution descriptors and the three algorithms, chosen with
// cuDNN's heuristics (cudnnGetConvolution*Algorithm_v7): the first candidate, in the heuristics'
// order, that succeeded, is allowed in the math mode, reports a workspace that cuDNN confirms
// (cudnnGet*WorkspaceSize) and that fits the cap, preferring deterministic algorithms (so
// gradients repeat bit for bit, as the CPU's do) and falling back to any. Workspace comes from
// the caching allocator on each call. Plans are never removed; one mutex serializes the plan
// cache and every use of the handle (cuDNN handles are not safe to drive from two threads at
// once; all work goes to one stream anyway, so the lock costs only host time).
#include <algorithm>
#include <array>
#include <climits>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "allocator.cuh"
#include "check.cuh"
#include "dense.cuh"
#include "launch.cuh"
#include "ops.h"

#ifdef PFGM_HAVE_CUDNN
#include <cudnn.h>
#endif

namespace pfgm::cuda {
namespace {

std::string describe(const cpu::Conv2dShape& s) {
  return "conv2d n=" + std::to_string(s.n) + " h=" + std::to_string(s.h) + " w=" + std::to_string(s.w) +
         " cin=" + std::to_string(s.cin) + " cout=" + std::to_string(s.cout) + " k=" + std::to_string(s.k) +
         " stride=" + std::to_string(s.stride) + " pad=" + std::to_string(s.pad);
}

// The CPU's checks (ops/conv.cc), plus cuDNN's int dimensions: every tensor below 2^31 elements.
void check_shape(const cpu::Conv2dShape& s) {
  const bool sizes_ok = s.n >= 0 && s.h >= 1 && s.w >= 1 && s.cin >= 1 && s.cout >= 1 && s.k >= 1 &&
                        s.stride >= 1 && s.pad >= 0;
  if (!sizes_ok || s.h + 2 * s.pad < s.k || s.w + 2 * s.pad < s.k) {
    fail(code::kShape, describe(s) + ": sizes must be positive and the padded input at least the kernel");
  }
  const double big = static_cast<double>(INT_MAX);
  const double x = static_cast<double>(s.n) * s.h * s.w * s.cin;
  const double y = static_cast<double>(s.n) * s.oh() * s.ow() * s.cout;
  const double w = static_cast<double>(s.cout) * s.cin * s.k * s.k;
  if (x > big || y > big || w > big || s.pad > big || s.stride > big) {
    fail(code::kShape, describe(s) + ": a tensor of 2^31 or more elements is beyond cuDNN's int sizes; "
                                     "split the batch");
  }
}

}  // namespace
}  // namespace pfgm::cuda

#ifndef PFGM_HAVE_CUDNN

namespace pfgm::cuda {
namespace {

[[noreturn]] void no_cudnn(const char* op) {
  fail(code::kDevice, std::string(op) +
                          ": this CUDA build has no cuDNN: install nvidia-cudnn-cu13 (pip) or set CUDNN_ROOT "
                          "to a cuDNN 9 folder (include/cudnn.h, lib/libcudnn.so.9) and rebuild");
}

}  // namespace

void conv2d_forward(const cpu::Conv2dShape& s, const float*, const float*, const float*, float*, MathMode) {
  check_shape(s);
  no_cudnn("conv2d_forward");
}

void conv2d_backward(const cpu::Conv2dShape& s, const float*, const float*, const float*, float*, float*, float*,
                     MathMode) {
  check_shape(s);
  no_cudnn("conv2d_backward");
}

ConvPlanInfo conv2d_plan(const cpu::Conv2dShape& s, MathMode) {
  check_shape(s);
  no_cudnn("conv2d_plan");
}

}  // namespace pfgm::cuda

#else  // PFGM_HAVE_CUDNN

namespace pfgm::cuda {
namespace {

void check_cudnn(cudnnStatus_t status, const char* what) {
  if (status == CUDNN_STATUS_SUCCESS) return;
  const bool memory = status == CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED ||
                      status == CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED;
  fail(memory ? code::kMemory : code::kCuda,
       std::string("cuDNN ") + what + " failed: " + cudnnGetErrorString(status) + " (status " +
           std::to_string(static_cast<int>(status)) + ")");
}

// Workspace cap: a quarter of the device's free memory, at most 1 GiB (cuDNN's fastest algorithms
// rarely need more for these shapes; an algorithm over the cap is skipped, not an error).
size_t workspace_cap() {
  size_t free_bytes = 0, total = 0;
  gpu::check(cudaMemGetInfo(&free_bytes, &total), "cudaMemGetInfo (cuDNN workspace cap)");
  return std::min<size_t>(size_t{1} << 30, free_bytes / 4);
}

// The math type the heuristics are asked with (the chosen algorithm then brings its own, except in
// kFp32). CUDNN_DEFAULT_MATH permits TF32 for fp32 data on Ampere and later, so plain fp32 must ask
// for FMA math, and TF32 is asked for with the default (as PyTorch does when TF32 is allowed);
// bf16 data asks for tensor cores outright.
cudnnMathType_t math_type(MathMode math) {
  switch (math) {
    case MathMode::kFp32: return CUDNN_FMA_MATH;
    case MathMode::kTf32: return CUDNN_DEFAULT_MATH;
    case MathMode::kBf16: break;
  }
  return CUDNN_TENSOR_OP_MATH;
}

cudnnDataType_t data_type(MathMode math) {
  return math == MathMode::kBf16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
}

// kFp32 promises IEEE fp32 sums (ops.h): FFT and Winograd transforms have larger, shape-dependent
// errors, so they are left to the other modes. A tensor-op math type, or ALLOW_CONVERSION (fp16
// down-conversion, worse than TF32) in any mode, is refused.
bool allowed(MathMode math, cudnnMathType_t type, bool transform_algo) {
  if (type == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) return false;
  if (math != MathMode::kFp32) return true;
  return !transform_algo && type != CUDNN_TENSOR_OP_MATH;
}

bool is_transform(cudnnConvolutionFwdAlgo_t a) {
  return a == CUDNN_CONVOLUTION_FWD_ALGO_FFT || a == CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING ||
         a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD || a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED;
}
bool is_transform(cudnnConvolutionBwdDataAlgo_t a) {
  return a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT || a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING ||
         a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD || a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED;
}
bool is_transform(cudnnConvolutionBwdFilterAlgo_t a) {
  return a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT || a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING ||
         a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED;
}

cudnnHandle_t handle() {
  static cudnnHandle_t h = [] {
    cudnnHandle_t made = nullptr;
    const cudnnStatus_t status = cudnnCreate(&made);
    if (status != CUDNN_STATUS_SUCCESS) {
      fail(code::kDevice, std::string("cuDNN could not start (cudnnCreate: ") + cudnnGetErrorString(status) +
                              "); check that the cuDNN 9 libraries next to libcudnn.so.9 match it and the "
                              "driver is recent enough for CUDA 13");
    }
    check_cudnn(cudnnSetStream(made, gpu::engine_stream()), "cudnnSetStream");
    return made;
  }();
  return h;
}

// One direction's choice: algorithm, its workspace, its math type and a descriptor set to it.
template <typename Algo>
struct Choice {
  Algo algo{};
  size_t workspace = 0;
  bool deterministic = false;
  cudnnConvolutionDescriptor_t conv = nullptr;
};

struct Plan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  Choice<cudnnConvolutionFwdAlgo_t> fwd;
  Choice<cudnnConvolutionBwdDataAlgo_t> data;
  Choice<cudnnConvolutionBwdFilterAlgo_t> filter;
  // Plans live until the process ends (like the handle), so the descriptors are never destroyed.
};

cudnnConvolutionDescriptor_t make_conv(const cpu::Conv2dShape& s, cudnnMathType_t type) {
  cudnnConvolutionDescriptor_t conv = nullptr;
  check_cudnn(cudnnCreateConvolutionDescriptor(&conv), "cudnnCreateConvolutionDescriptor");
  const int pad = static_cast<int>(s.pad), stride = static_cast<int>(s.stride);
  // PyTorch's conv2d is a cross-correlation; accumulation in fp32 in every mode.
  check_cudnn(cudnnSetConvolution2dDescriptor(conv, pad, pad, stride, stride, 1, 1, CUDNN_CROSS_CORRELATION,
                                              CUDNN_DATA_FLOAT),
              "cudnnSetConvolution2dDescriptor");
  check_cudnn(cudnnSetConvolutionMathType(conv, type), "cudnnSetConvolutionMathType");
  return conv;
}

// Walks the heuristics' candidates twice (deterministic ones first, then any) and takes the first
// that is allowed and fits. `workspace(algo, conv)` asks cuDNN for the exact size.
template <typename Perf, typename Algo, typename Workspace>
Choice<Algo> choose(const cpu::Conv2dShape& s, MathMode math, const Perf* perf, int count, size_t cap,
                    const char* direction, Workspace workspace) {
  for (const bool need_deterministic : {true, false}) {
    for (int i = 0; i < count; ++i) {
      const Perf& p = perf[i];
      if (p.status != CUDNN_STATUS_SUCCESS) continue;
      if (need_deterministic && p.determinism != CUDNN_DETERMINISTIC) continue;
      if (!allowed(math, p.mathType, is_transform(p.algo))) continue;
      // fp32: FMA math whatever the heuristics said; otherwise the candidate's own math type.
      const cudnnMathType_t type = math == MathMode::kFp32 ? CUDNN_FMA_MATH : p.mathType;
      cudnnConvolutionDescriptor_t conv = make_conv(s, type);
      size_t bytes = 0;
      if (workspace(p.algo, conv, &bytes) == CUDNN_STATUS_SUCCESS && bytes <= cap) {
        return Choice<Algo>{p.algo, bytes, p.determinism == CUDNN_DETERMINISTIC, conv};
      }
      cudnnDestroyConvolutionDescriptor(conv);
    }
  }
  fail(code::kCuda, describe(s) + ": cuDNN offers no " + direction + " algorithm for this shape in math mode " +
                        std::to_string(static_cast<int>(math)) + " within a workspace of " +
                        std::to_string(cap >> 20) + " MiB");
}

std::unique_ptr<Plan> make_plan(const cpu::Conv2dShape& s, MathMode math) {
  cudnnHandle_t h = handle();
  auto plan = std::make_unique<Plan>();
  const cudnnDataType_t type = data_type(math);
  check_cudnn(cudnnCreateTensorDescriptor(&plan->x), "cudnnCreateTensorDescriptor");
  check_cudnn(cudnnCreateTensorDescriptor(&plan->y), "cudnnCreateTensorDescriptor");
  check_cudnn(cudnnCreateFilterDescriptor(&plan->w), "cudnnCreateFilterDescriptor");
  // NHWC: the dimensions are still given as n, c, h, w; the format sets the strides.
  check_cudnn(cudnnSetTensor4dDescriptor(plan->x, CUDNN_TENSOR_NHWC, type, static_cast<int>(s.n),
                                         static_cast<int>(s.cin), static_cast<int>(s.h), static_cast<int>(s.w)),
              "cudnnSetTensor4dDescriptor (x)");
  check_cudnn(cudnnSetTensor4dDescriptor(plan->y, CUDNN_TENSOR_NHWC, type, static_cast<int>(s.n),
                                         static_cast<int>(s.cout), static_cast<int>(s.oh()),
                                         static_cast<int>(s.ow())),
              "cudnnSetTensor4dDescriptor (y)");
  check_cudnn(cudnnSetFilter4dDescriptor(plan->w, type, CUDNN_TENSOR_NHWC, static_cast<int>(s.cout),
                                         static_cast<int>(s.cin), static_cast<int>(s.k), static_cast<int>(s.k)),
              "cudnnSetFilter4dDescriptor");

  // cuDNN's output size must be ours (ops/conv.h), or every index below would be wrong.
  cudnnConvolutionDescriptor_t probe = make_conv(s, math_type(math));
  int dims[4] = {0, 0, 0, 0};
  check_cudnn(cudnnGetConvolution2dForwardOutputDim(probe, plan->x, plan->w, &dims[0], &dims[1], &dims[2], &dims[3]),
              "cudnnGetConvolution2dForwardOutputDim");
  if (dims[0] != s.n || dims[1] != s.cout || dims[2] != s.oh() || dims[3] != s.ow()) {
    fail(code::kCuda, describe(s) + ": cuDNN's output size [" + std::to_string(dims[0]) + ", " +
                          std::to_string(dims[1]) + ", " + std::to_string(dims[2]) + ", " + std::to_string(dims[3]) +
                          "] differs from the CPU's (a bug in pfgm: please report it)");
  }

  const size_t cap = workspace_cap();
  int max_count = 0, returned = 0;
  {
    check_cudnn(cudnnGetConvolutionForwardAlgorithmMaxCount(h, &max_count), "cudnnGetConvolutionForwardAlgorithmMaxCount");
    std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(static_cast<size_t>(std::max(max_count, 1)));
    check_cudnn(cudnnGetConvolutionForwardAlgorithm_v7(h, plan->x, plan->w, probe, plan->y, max_count, &returned,
                                                       perf.data()),
                "cudnnGetConvolutionForwardAlgorithm_v7");
    plan->fwd = choose<cudnnConvolutionFwdAlgoPerf_t, cudnnConvolutionFwdAlgo_t>(
        s, math, perf.data(), returned, cap, "forward",
        [&](cudnnConvolutionFwdAlgo_t a, cudnnConvolutionDescriptor_t c, size_t* bytes) {
          return cudnnGetConvolutionForwardWorkspaceSize(h, plan->x, plan->w, c, plan->y, a, bytes);
        });
  }
  {
    check_cudnn(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &max_count),
                "cudnnGetConvolutionBackwardDataAlgorithmMaxCount");
    std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(static_cast<size_t>(std::max(max_count, 1)));
    check_cudnn(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, plan->w, plan->y, probe, plan->x, max_count, &returned,
                                                            perf.data()),
                "cudnnGetConvolutionBackwardDataAlgorithm_v7");
    plan->data = choose<cudnnConvolutionBwdDataAlgoPerf_t, cudnnConvolutionBwdDataAlgo_t>(
        s, math, perf.data(), returned, cap, "backward-data",
        [&](cudnnConvolutionBwdDataAlgo_t a, cudnnConvolutionDescriptor_t c, size_t* bytes) {
          return cudnnGetConvolutionBackwardDataWorkspaceSize(h, plan->w, plan->y, c, plan->x, a, bytes);
        });
  }
  {
    check_cudnn(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, &max_count),
                "cudnnGetConvolutionBackwardFilterAlgorithmMaxCount");
    std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(static_cast<size_t>(std::max(max_count, 1)));
    check_cudnn(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, plan->x, plan->y, probe, plan->w, max_count,
                                                              &returned, perf.data()),
                "cudnnGetConvolutionBackwardFilterAlgorithm_v7");
    plan->filter = choose<cudnnConvolutionBwdFilterAlgoPerf_t, cudnnConvolutionBwdFilterAlgo_t>(
        s, math, perf.data(), returned, cap, "backward-filter",
        [&](cudnnConvolutionBwdFilterAlgo_t a, cudnnConvolutionDescriptor_t c, size_t* bytes) {
          return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, plan->x, plan->y, c, plan->w, a, bytes);
        });
  }
  cudnnDestroyConvolutionDescriptor(probe);
  return plan;
}

using Key = std::array<int64_t, 9>;

struct Cache {
  std::mutex mu;  // guards the map and every use of the handle
  std::map<Key, std::unique_ptr<Plan>> plans;
};

Cache& cache() {
  static Cache* c = new Cache;  // never destroyed, like the handle
  return *c;
}

// With the cache's lock held.
const Plan& plan_for(Cache& c, const cpu::Conv2dShape& s, MathMode math, bool* created) {
  const Key key{s.n, s.h, s.w, s.cin, s.cout, s.k, s.stride, s.pad, static_cast<int64_t>(math)};
  std::unique_ptr<Plan>& slot = c.plans[key];
  *created = !slot;
  if (!slot) {
    try {
      slot = make_plan(s, math);
    } catch (...) {
      c.plans.erase(key);  // no empty slot left behind: the next call tries again
      throw;
    }
  }
  return *slot;
}

MathMode checked(MathMode math) {
  if (math != MathMode::kFp32 && math != MathMode::kTf32 && math != MathMode::kBf16) {
    fail(code::kArgument, "conv2d: math mode must be 0 (fp32), 1 (tf32) or 2 (bf16)");
  }
  return math;
}

const float kOne = 1.0f, kZero = 0.0f;  // alpha, beta: fp32 for fp32 and bf16 data alike

}  // namespace

ConvPlanInfo conv2d_plan(const cpu::Conv2dShape& s, MathMode math) {
  check_shape(s);
  checked(math);
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  ConvPlanInfo info;
  const Plan& p = plan_for(c, s, math, &info.created);
  info.algo[0] = static_cast<int>(p.fwd.algo);
  info.algo[1] = static_cast<int>(p.data.algo);
  info.algo[2] = static_cast<int>(p.filter.algo);
  info.deterministic[0] = p.fwd.deterministic;
  info.deterministic[1] = p.data.deterministic;
  info.deterministic[2] = p.filter.deterministic;
  info.workspace_bytes[0] = static_cast<double>(p.fwd.workspace);
  info.workspace_bytes[1] = static_cast<double>(p.data.workspace);
  info.workspace_bytes[2] = static_cast<double>(p.filter.workspace);
  info.plans = static_cast<int64_t>(c.plans.size());
  return info;
}

void conv2d_forward(const cpu::Conv2dShape& s, const float* x, const float* weight, const float* bias, float* y,
                    MathMode math) {
  check_shape(s);
  checked(math);
  if (s.n == 0) return;
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  bool created = false;
  const Plan& p = plan_for(c, s, math, &created);
  const cudaStream_t stream = gpu::engine_stream();
  const int64_t kk = s.k * s.k, rows = s.n * s.oh() * s.ow();
  gpu::DeviceArray<unsigned char> workspace(static_cast<int64_t>(p.fwd.workspace), stream);
  if (math == MathMode::kBf16) {
    gpu::DeviceArray<uint16_t> xb(s.n * s.h * s.w * s.cin, stream), wb(s.cout * s.cin * kk, stream),
        yb(rows * s.cout, stream);
    gpu::f32_to_bf16(xb.size(), x, xb.get());
    gpu::oihw_to_ohwi_bf16(s.cout, s.cin, kk, weight, wb.get());
    check_cudnn(cudnnConvolutionForward(handle(), &kOne, p.x, xb.get(), p.w, wb.get(), p.fwd.conv, p.fwd.algo,
                                        workspace.get(), p.fwd.workspace, &kZero, p.y, yb.get()),
                "cudnnConvolutionForward (bf16)");
    gpu::bf16_to_f32_bias(rows, s.cout, yb.get(), bias, y);  // widen and add the bias in one pass
    return;
  }
  gpu::DeviceArray<float> w_ohwi;
  const float* w = weight;  // k = 1: OIHW is OHWI
  if (s.k > 1) {
    w_ohwi = gpu::DeviceArray<float>(s.cout * s.cin * kk, stream);
    gpu::oihw_to_ohwi(s.cout, s.cin, kk, weight, w_ohwi.get());
    w = w_ohwi.get();
  }
  check_cudnn(cudnnConvolutionForward(handle(), &kOne, p.x, x, p.w, w, p.fwd.conv, p.fwd.algo, workspace.get(),
                                      p.fwd.workspace, &kZero, p.y, y),
              "cudnnConvolutionForward");
  gpu::add_bias_rows(rows, s.cout, bias, y);
}

void conv2d_backward(const cpu::Conv2dShape& s, const float* x, const float* weight, const float* dy, float* dx,
                     float* dweight, float* dbias, MathMode math) {
  check_shape(s);
  checked(math);
  const cudaStream_t stream = gpu::engine_stream();
  const int64_t kk = s.k * s.k, wcount = s.cout * s.cin * kk;
  const int64_t rows_in = s.n * s.h * s.w, rows_out = s.n * s.oh() * s.ow();
  if (s.n == 0) {  // an empty batch: the parameter gradients are sums over nothing
    if (dweight != nullptr) {
      gpu::check(cudaMemsetAsync(dweight, 0, static_cast<size_t>(wcount) * sizeof(float), stream),
                 "cudaMemsetAsync (conv2d dweight of an empty batch)");
    }
    if (dbias != nullptr) gpu::column_sums(0, s.cout, dy, dbias);
    return;
  }
  if (dbias != nullptr) gpu::column_sums(rows_out, s.cout, dy, dbias);  // from fp32 dy in every mode
  if (dx == nullptr && dweight == nullptr) return;

  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  bool created = false;
  const Plan& p = plan_for(c, s, math, &created);
  cudnnHandle_t h = handle();
  const size_t ws_bytes = std::max(dx != nullptr ? p.data.workspace : 0, dweight != nullptr ? p.filter.workspace : 0);
  gpu::DeviceArray<unsigned char> workspace(static_cast<int64_t>(ws_bytes), stream);

  if (math == MathMode::kBf16) {
    gpu::DeviceArray<uint16_t> dyb(rows_out * s.cout, stream);
    gpu::f32_to_bf16(dyb.size(), dy, dyb.get());
    if (dx != nullptr) {
      gpu::DeviceArray<uint16_t> wb(wcount, stream), dxb(rows_in * s.cin, stream);
      gpu::oihw_to_ohwi_bf16(s.cout, s.cin, kk, weight, wb.get());
      check_cudnn(cudnnConvolutionBackwardData(h, &kOne, p.w, wb.get(), p.y, dyb.get(), p.data.conv, p.data.algo,
                                               workspace.get(), p.data.workspace, &kZero, p.x, dxb.get()),
                  "cudnnConvolutionBackwardData (bf16)");
      gpu::bf16_to_f32_bias(rows_in, s.cin, dxb.get(), nullptr, dx);
    }
    if (dweight != nullptr) {
      gpu::DeviceArray<uint16_t> xb(rows_in * s.cin, stream), dwb(wcount, stream);
      gpu::f32_to_bf16(xb.size(), x, xb.get());
      check_cudnn(cudnnConvolutionBackwardFilter(h, &kOne, p.x, xb.get(), p.y, dyb.get(), p.filter.conv,
                                                 p.filter.algo, workspace.get(), p.filter.workspace, &kZero, p.w,
                                                 dwb.get()),
                  "cudnnConvolutionBackwardFilter (bf16)");
      gpu::ohwi_bf16_to_oihw(s.cout, s.cin, kk, dwb.get(), dweight);
    }
    return;
  }

  if (dx != nullptr) {
    gpu::DeviceArray<float> w_ohwi;
    const float* w = weight;
    if (s.k > 1) {
      w_ohwi = gpu::DeviceArray<float>(wcount, stream);
      gpu::oihw_to_ohwi(s.cout, s.cin, kk, weight, w_ohwi.get());
      w = w_ohwi.get();
    }
    check_cudnn(cudnnConvolutionBackwardData(h, &kOne, p.w, w, p.y, dy, p.data.conv, p.data.algo, workspace.get(),
                                             p.data.workspace, &kZero, p.x, dx),
                "cudnnConvolutionBackwardData");
  }
  if (dweight != nullptr) {
    gpu::DeviceArray<float> dw_ohwi;
    float* dw = dweight;
    if (s.k > 1) {
      dw_ohwi = gpu::DeviceArray<float>(wcount, stream);
      dw = dw_ohwi.get();
    }
    check_cudnn(cudnnConvolutionBackwardFilter(h, &kOne, p.x, x, p.y, dy, p.filter.conv, p.filter.algo,
                                               workspace.get(), p.filter.workspace, &kZero, p.w, dw),
                "cudnnConvolutionBackwardFilter");
    if (s.k > 1) gpu::ohwi_to_oihw(s.cout, s.cin, kk, dw, dweight);
  }
}

}  // namespace pfgm::cuda

#endif  // PFGM_HAVE_CUDNN
