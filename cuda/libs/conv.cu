// 2-D convolutions on the GPU through cuDNN's legacy API (ops.h; the CPU reference is
// ops/conv.cc): forward, backward data, backward filter in the math modes of ops.h, on NHWC
// activations with the weights transposed to OHWI scratch on each call. A plan per (shape, math
// mode) keeps, per direction, the first candidate that runs (deterministic algorithms first, then
// by variant: 0 NHWC in the mode's type, 1 NHWC fp32 on bf16-rounded operands, 2 NCHW fp32; FFT
// and Winograd last), timed against the rest of its tier (PFGM_CUDNN_BENCHMARK). Bias add and
// bias gradient are bias.cu's kernels. The API, layouts, plans, candidate order and what each
// fallback changes numerically: bench/kernels/conv/README.md.
#include <algorithm>
#include <array>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kernels/dense.cuh"
#include "ops.h"
#include "runtime/allocator.cuh"
#include "runtime/check.cuh"
#include "runtime/launch.cuh"

#ifdef PFGM_HAVE_CUDNN
#include <cudnn.h>
#endif

namespace pfgm::cuda {
namespace {

std::string describe(const op::Conv2dShape& s) {
  return "conv2d n=" + std::to_string(s.n) + " h=" + std::to_string(s.h) +
         " w=" + std::to_string(s.w) + " cin=" + std::to_string(s.cin) +
         " cout=" + std::to_string(s.cout) + " k=" + std::to_string(s.k) +
         " stride=" + std::to_string(s.stride) + " pad=" + std::to_string(s.pad);
}

// The CPU's checks (ops/conv.cc), plus cuDNN's int dimensions: every tensor below 2^31 elements.
void check_shape(const op::Conv2dShape& s) {
  const bool sizes_ok = s.n >= 0 && s.h >= 1 && s.w >= 1 && s.cin >= 1 && s.cout >= 1 && s.k >= 1 &&
                        s.stride >= 1 && s.pad >= 0;
  if (!sizes_ok || s.h + 2 * s.pad < s.k || s.w + 2 * s.pad < s.k) {
    fail(code::kShape,
         describe(s) + ": sizes must be positive and the padded input at least the kernel");
  }
  const double big = static_cast<double>(INT_MAX);
  const double x = static_cast<double>(s.n) * s.h * s.w * s.cin;
  const double y = static_cast<double>(s.n) * s.oh() * s.ow() * s.cout;
  const double w = static_cast<double>(s.cout) * s.cin * s.k * s.k;
  if (x > big || y > big || w > big || s.pad > big || s.stride > big) {
    fail(code::kShape, describe(s) +
                           ": a tensor of 2^31 or more elements is beyond cuDNN's int sizes; "
                           "split the batch");
  }
}

MathMode checked(MathMode math) {
  if (math != MathMode::kFp32 && math != MathMode::kTf32 && math != MathMode::kBf16) {
    fail(code::kArgument, "conv2d: math mode must be 0 (fp32), 1 (tf32) or 2 (bf16)");
  }
  return math;
}

}  // namespace
}  // namespace pfgm::cuda

#ifndef PFGM_HAVE_CUDNN

namespace pfgm::cuda {
namespace {

[[noreturn]] void no_cudnn(const char* op) {
  fail(code::kDevice,
       std::string(op) +
           ": this CUDA build has no cuDNN: install nvidia-cudnn-cu13 (pip) or set CUDNN_ROOT "
           "to a cuDNN 9 folder (include/cudnn.h, lib/libcudnn.so.9) and rebuild");
}

}  // namespace

void conv2d_forward(const op::Conv2dShape& s, const float*, const float*, const float*, float*,
                    MathMode math) {
  check_shape(s);
  checked(math);
  no_cudnn("conv2d_forward");
}

void conv2d_backward(const op::Conv2dShape& s, const float*, const float*, const float*, float*,
                     float*, float*, MathMode math) {
  check_shape(s);
  checked(math);
  no_cudnn("conv2d_backward");
}

ConvPlanInfo conv2d_plan(const op::Conv2dShape& s, MathMode math) {
  check_shape(s);
  checked(math);
  no_cudnn("conv2d_plan");
}

}  // namespace pfgm::cuda

#else  // PFGM_HAVE_CUDNN

namespace pfgm::cuda {
namespace {

// cuDNN 9 keeps a message about its most recent failure (cudnn_graph.h: cudnnGetLastErrorString,
// thread-safe); it often names the offending attribute or engine, which the status alone does not.
std::string status_text(cudnnStatus_t status) {
  std::string text = std::string(cudnnGetErrorString(status)) + " (status " +
                     std::to_string(static_cast<int>(status)) + ")";
  char detail[512] = {0};
  cudnnGetLastErrorString(detail, sizeof detail);
  detail[sizeof detail - 1] = '\0';
  if (detail[0] != '\0') text += ": " + std::string(detail);
  return text;
}

bool is_memory(cudnnStatus_t status) {
  return status == CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED ||
         status == CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED;
}

void check_cudnn(cudnnStatus_t status, const std::string& what) {
  if (status == CUDNN_STATUS_SUCCESS) return;
  fail(is_memory(status) ? code::kMemory : code::kCuda,
       "cuDNN " + what + " failed: " + status_text(status));
}

// Workspace cap: a quarter of the device's free memory, at most 1 GiB (cuDNN's fastest algorithms
// rarely need more for these shapes; an algorithm over the cap is skipped, not an error).
size_t workspace_cap() {
  size_t free_bytes = 0, total = 0;
  gpu::check(cudaMemGetInfo(&free_bytes, &total), "cudaMemGetInfo (cuDNN workspace cap)");
  return std::min<size_t>(size_t{1} << 30, free_bytes / 4);
}

cudnnHandle_t handle() {
  static cudnnHandle_t h = [] {
    cudnnHandle_t made = nullptr;
    const cudnnStatus_t status = cudnnCreate(&made);
    if (status != CUDNN_STATUS_SUCCESS) {
      fail(code::kDevice,
           "cuDNN could not start (cudnnCreate: " + status_text(status) +
               "); check that the cuDNN 9 libraries next to libcudnn.so.9 match it and the "
               "driver is recent enough for CUDA 13");
    }
    return made;
  }();
  // The engine stream, or a CUDA graph's capture stream on this thread (launch.cuh).
  check_cudnn(cudnnSetStream(h, gpu::engine_stream()), "cudnnSetStream");
  return h;
}

// ---- variants and candidates -------------------------------------------------------------------

// How one attempt lays out and types its operands (the header's "Candidate order").
enum class Variant : int {
  kNhwc = 0,         // NHWC in the mode's data type (fp32, or bf16 in kBf16); OHWI filter
  kNhwcRounded = 1,  // kBf16 only: NHWC fp32 holding bf16-rounded x, w, dy; FMA math
  kNchw = 2,  // NCHW fp32 (bf16-rounded operands in kBf16); OIHW filter; FMA or (kTf32) default
};
constexpr int kVariants = 3;

const char* variant_name(Variant v, MathMode math) {
  switch (v) {
    case Variant::kNhwc: return math == MathMode::kBf16 ? "NHWC bf16" : "NHWC fp32";
    case Variant::kNhwcRounded: return "NHWC fp32 on bf16-rounded operands";
    case Variant::kNchw: break;
  }
  return math == MathMode::kBf16 ? "NCHW fp32 on bf16-rounded operands" : "NCHW fp32";
}

// PFGM_CUDNN_FIRST_VARIANT=1 or 2 leaves out the variants before it, so that a test run can check
// the fallbacks against the CPU as it checks the first choice (docs/cuda.md); unset or 0: all.
int first_variant() {
  static const int first = [] {
    const char* v = std::getenv("PFGM_CUDNN_FIRST_VARIANT");
    if (v == nullptr || v[0] == '\0' || std::string(v) == "0") return 0;
    if (std::string(v) == "1") return 1;
    if (std::string(v) == "2") return 2;
    fail(code::kArgument,
         std::string("PFGM_CUDNN_FIRST_VARIANT must be 0, 1 or 2, not '") + v + "'");
  }();
  return first;
}

// The variants a mode may use, in order of preference.
std::vector<Variant> ladder(MathMode math) {
  std::vector<Variant> all{Variant::kNhwc, Variant::kNchw};
  if (math == MathMode::kBf16) all = {Variant::kNhwc, Variant::kNhwcRounded, Variant::kNchw};
  std::vector<Variant> used;
  for (const Variant v : all) {
    if (static_cast<int>(v) >= first_variant()) used.push_back(v);
  }
  return used;
}

// Variants whose sums must be IEEE fp32 FMAs: no TF32 (CUDNN_DEFAULT_MATH permits TF32 for fp32
// data on Ampere and later, CUDNN_FMA_MATH does not), no down-conversion.
bool fp32_sums(MathMode math, Variant v) {
  return math == MathMode::kFp32 || (math == MathMode::kBf16 && v != Variant::kNhwc);
}

bool bf16_data(MathMode math, Variant v) { return math == MathMode::kBf16 && v == Variant::kNhwc; }

// The math type the heuristics are asked with; a candidate then brings its own (perf.mathType),
// except in the fp32-sum variants, which always run with FMA math. TF32 is asked for with the
// default math type, as PyTorch does when TF32 is allowed; bf16 data asks for tensor cores.
cudnnMathType_t ask_type(MathMode math, Variant v) {
  if (fp32_sums(math, v)) return CUDNN_FMA_MATH;
  return math == MathMode::kTf32 ? CUDNN_DEFAULT_MATH : CUDNN_TENSOR_OP_MATH;
}

enum Dir { kForward = 0, kBackwardData = 1, kBackwardFilter = 2 };
const char* const kDirName[3] = {"forward", "backward-data", "backward-filter"};

// FFT and Winograd (cudnn_cnn.h's algorithm enums).
bool is_transform(Dir dir, int a) {
  switch (dir) {
    case kForward:
      return a == CUDNN_CONVOLUTION_FWD_ALGO_FFT || a == CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING ||
             a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD ||
             a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED;
    case kBackwardData:
      return a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT ||
             a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING ||
             a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD ||
             a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED;
    case kBackwardFilter: break;
  }
  return a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT ||
         a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING ||
         a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD ||
         a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED;
}

// cuDNN documents these as summing with atomic adds ("the results are non-deterministic"): never
// counted as deterministic, whatever a perf struct says.
bool uses_atomics(Dir dir, int a) {
  if (dir == kBackwardData) return a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_0;
  if (dir == kBackwardFilter)
    return a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0 || a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3;
  return false;
}

struct Candidate {
  Variant variant = Variant::kNhwc;
  int algo = 0;  // the direction's cudnnConvolution*Algo_t
  cudnnMathType_t type = CUDNN_DEFAULT_MATH;
  bool deterministic = false;
  int tier = 0;  // the header's order: 0 deterministic, 1 not, 2 / 3 fp32-sum transforms
};

const char* math_type_name(cudnnMathType_t t) {
  switch (t) {
    case CUDNN_DEFAULT_MATH: return "default math";
    case CUDNN_TENSOR_OP_MATH: return "tensor-op math";
    case CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION: return "tensor-op math with conversion";
    case CUDNN_FMA_MATH: break;
  }
  return "FMA math";
}

std::string label(const Candidate& c, MathMode math) {
  return "algorithm " + std::to_string(c.algo) + " (" + variant_name(c.variant, math) + ", " +
         math_type_name(c.type) + (c.deterministic ? "" : ", non-deterministic") + ")";
}

// One direction of a plan: its candidates in order, and the one kept after the first call.
struct Direction {
  std::vector<Candidate> candidates;
  std::string heuristics_errors;  // heuristics queries that failed, for the error message
  int chosen = -1;                // index into candidates, -1 until a call ran one
  int rejected = 0;               // candidates that failed to run before the choice was made
  float milliseconds = -1.0f;     // the kept one's time in the first call (search()), else -1
  size_t workspace = 0;
  cudnnConvolutionDescriptor_t conv = nullptr;  // set to the chosen candidate's math type
};

// The descriptors of one variant.
struct Layout {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
};

struct Plan {
  std::array<Layout, kVariants> layouts;
  std::array<Direction, 3> dirs;
  const Layout& layout(Variant v) const { return layouts[static_cast<int>(v)]; }
  // Plans live until the process ends (like the handle), so the descriptors are never destroyed.
};

cudnnConvolutionDescriptor_t make_conv(const op::Conv2dShape& s, cudnnMathType_t type) {
  cudnnConvolutionDescriptor_t conv = nullptr;
  check_cudnn(cudnnCreateConvolutionDescriptor(&conv), "cudnnCreateConvolutionDescriptor");
  const int pad = static_cast<int>(s.pad), stride = static_cast<int>(s.stride);
  // PyTorch's conv2d is cuDNN's cross-correlation; symmetric zero padding, no dilation. The
  // compute type is FLOAT for fp32 and bf16 data alike: cuDNN has no true-bf16 convolution, only
  // PSEUDO_BFLOAT16_CONFIG (bf16 tensors, FLOAT convolution type).
  check_cudnn(cudnnSetConvolution2dDescriptor(conv, pad, pad, stride, stride, 1, 1,
                                              CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
              "cudnnSetConvolution2dDescriptor");
  check_cudnn(cudnnSetConvolutionMathType(conv, type), "cudnnSetConvolutionMathType");
  return conv;
}

Layout make_layout(const op::Conv2dShape& s, MathMode math, Variant v) {
  Layout l;
  const cudnnDataType_t type = bf16_data(math, v) ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
  const cudnnTensorFormat_t format = v == Variant::kNchw ? CUDNN_TENSOR_NCHW : CUDNN_TENSOR_NHWC;
  check_cudnn(cudnnCreateTensorDescriptor(&l.x), "cudnnCreateTensorDescriptor");
  check_cudnn(cudnnCreateTensorDescriptor(&l.y), "cudnnCreateTensorDescriptor");
  check_cudnn(cudnnCreateFilterDescriptor(&l.w), "cudnnCreateFilterDescriptor");
  // The dimensions are given as n, c, h, w in either format; the format sets fully packed strides.
  check_cudnn(
      cudnnSetTensor4dDescriptor(l.x, format, type, static_cast<int>(s.n), static_cast<int>(s.cin),
                                 static_cast<int>(s.h), static_cast<int>(s.w)),
      "cudnnSetTensor4dDescriptor (x)");
  check_cudnn(
      cudnnSetTensor4dDescriptor(l.y, format, type, static_cast<int>(s.n), static_cast<int>(s.cout),
                                 static_cast<int>(s.oh()), static_cast<int>(s.ow())),
      "cudnnSetTensor4dDescriptor (y)");
  // k, c, h, w; NHWC makes it KRSC = OHWI, NCHW makes it KCRS = PyTorch's OIHW.
  check_cudnn(cudnnSetFilter4dDescriptor(l.w, type, format, static_cast<int>(s.cout),
                                         static_cast<int>(s.cin), static_cast<int>(s.k),
                                         static_cast<int>(s.k)),
              "cudnnSetFilter4dDescriptor");
  return l;
}

// Appends the heuristics' usable candidates of one direction and variant, in the heuristics' order.
// `query(conv, count, &returned, perf)` calls the direction's cudnnGet*Algorithm_v7.
template <typename Perf, typename Query>
void collect(const op::Conv2dShape& s, MathMode math, Variant v, Dir dir, int max_count,
             Direction& d, Query query) {
  cudnnConvolutionDescriptor_t probe = make_conv(s, ask_type(math, v));
  std::vector<Perf> perf(static_cast<size_t>(std::max(max_count, 1)));
  int returned = 0;
  const cudnnStatus_t status = query(probe, static_cast<int>(perf.size()), &returned, perf.data());
  cudnnDestroyConvolutionDescriptor(probe);
  if (status != CUDNN_STATUS_SUCCESS) {
    d.heuristics_errors += std::string(d.heuristics_errors.empty() ? "" : "; ") +
                           "heuristics for " + variant_name(v, math) + ": " + status_text(status);
    return;
  }
  const bool fp32 = fp32_sums(math, v);
  for (int i = 0; i < returned && i < static_cast<int>(perf.size()); ++i) {
    const Perf& p = perf[static_cast<size_t>(i)];
    // Get_v7 lists every algorithm, the unsupported ones with a failing status.
    if (p.status != CUDNN_STATUS_SUCCESS) continue;
    // ALLOW_CONVERSION may drop fp32 to fp16, worse than TF32: refused in every mode. An fp32-sum
    // variant was asked with FMA math; a tensor-op candidate there would break its promise.
    if (p.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) continue;
    if (fp32 && p.mathType == CUDNN_TENSOR_OP_MATH) continue;
    Candidate c;
    c.variant = v;
    c.algo = static_cast<int>(p.algo);
    c.type = fp32 ? CUDNN_FMA_MATH : p.mathType;
    c.deterministic = p.determinism == CUDNN_DETERMINISTIC && !uses_atomics(dir, c.algo);
    c.tier = (fp32 && is_transform(dir, c.algo) ? 2 : 0) + (c.deterministic ? 0 : 1);
    d.candidates.push_back(c);
  }
}

std::unique_ptr<Plan> make_plan(const op::Conv2dShape& s, MathMode math) {
  cudnnHandle_t h = handle();
  auto plan = std::make_unique<Plan>();
  for (int v = 0; v < kVariants; ++v)
    plan->layouts[v] = make_layout(s, math, static_cast<Variant>(v));

  // cuDNN's output size must be ours (ops/conv.h), or every index below would be wrong.
  {
    const Layout& l = plan->layout(Variant::kNhwc);
    cudnnConvolutionDescriptor_t probe = make_conv(s, ask_type(math, Variant::kNhwc));
    int dims[4] = {0, 0, 0, 0};
    const cudnnStatus_t status = cudnnGetConvolution2dForwardOutputDim(
        probe, l.x, l.w, &dims[0], &dims[1], &dims[2], &dims[3]);
    cudnnDestroyConvolutionDescriptor(probe);
    check_cudnn(status, "cudnnGetConvolution2dForwardOutputDim");
    if (dims[0] != s.n || dims[1] != s.cout || dims[2] != s.oh() || dims[3] != s.ow()) {
      fail(code::kCuda, describe(s) + ": cuDNN's output size [" + std::to_string(dims[0]) + ", " +
                            std::to_string(dims[1]) + ", " + std::to_string(dims[2]) + ", " +
                            std::to_string(dims[3]) +
                            "] differs from the CPU's (a bug in pfgm: please report it)");
    }
  }

  int max_fwd = 0, max_data = 0, max_filter = 0;
  check_cudnn(cudnnGetConvolutionForwardAlgorithmMaxCount(h, &max_fwd),
              "cudnnGetConvolutionForwardAlgorithmMaxCount");
  check_cudnn(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &max_data),
              "cudnnGetConvolutionBackwardDataAlgorithmMaxCount");
  check_cudnn(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, &max_filter),
              "cudnnGetConvolutionBackwardFilterAlgorithmMaxCount");
  for (const Variant v : ladder(math)) {
    const Layout& l = plan->layout(v);
    collect<cudnnConvolutionFwdAlgoPerf_t>(s, math, v, kForward, max_fwd, plan->dirs[kForward],
                                           [&](cudnnConvolutionDescriptor_t c, int count,
                                               int* returned, cudnnConvolutionFwdAlgoPerf_t* perf) {
                                             return cudnnGetConvolutionForwardAlgorithm_v7(
                                                 h, l.x, l.w, c, l.y, count, returned, perf);
                                           });
    collect<cudnnConvolutionBwdDataAlgoPerf_t>(
        s, math, v, kBackwardData, max_data, plan->dirs[kBackwardData],
        [&](cudnnConvolutionDescriptor_t c, int count, int* returned,
            cudnnConvolutionBwdDataAlgoPerf_t* perf) {
          return cudnnGetConvolutionBackwardDataAlgorithm_v7(h, l.w, l.y, c, l.x, count, returned,
                                                             perf);
        });
    collect<cudnnConvolutionBwdFilterAlgoPerf_t>(
        s, math, v, kBackwardFilter, max_filter, plan->dirs[kBackwardFilter],
        [&](cudnnConvolutionDescriptor_t c, int count, int* returned,
            cudnnConvolutionBwdFilterAlgoPerf_t* perf) {
          return cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, l.x, l.y, c, l.w, count, returned,
                                                               perf);
        });
  }
  // The header's order: by tier; the stable sort keeps variant order, then the heuristics' order.
  for (Direction& d : plan->dirs) {
    std::stable_sort(d.candidates.begin(), d.candidates.end(),
                     [](const Candidate& a, const Candidate& b) { return a.tier < b.tier; });
  }
  return plan;
}

using Key = std::array<int64_t, 9>;

struct Cache {
  std::mutex mu;  // guards the map, the plans and every use of the handle
  std::map<Key, std::unique_ptr<Plan> > plans;
};

Cache& cache() {
  static Cache* c = new Cache;  // never destroyed, like the handle
  return *c;
}

Key key_of(const op::Conv2dShape& s, MathMode math) {
  return Key{s.n, s.h, s.w, s.cin, s.cout, s.k, s.stride, s.pad, static_cast<int64_t>(math)};
}

// With the cache's lock held.
Plan& plan_for(Cache& c, const op::Conv2dShape& s, MathMode math, bool* created) {
  const Key key = key_of(s, math);
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

// ---- operands ----------------------------------------------------------------------------------

bool aligned(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

void copy(int64_t count, const float* from, float* to) {
  if (count <= 0) return;
  gpu::check(cudaMemcpyAsync(to, from, static_cast<size_t>(count) * sizeof(float),
                             cudaMemcpyDeviceToDevice, gpu::engine_stream()),
             "cudaMemcpyAsync (conv2d operand staging)");
}

// The operands of one call as each variant reads them, staged on first use and kept until the
// call returns (pooled scratch, 256-byte aligned; its reuse is stream-ordered after the cuDNN
// calls that read it), and the scratch of the outputs.
class Operands {
 public:
  Operands(const op::Conv2dShape& s, MathMode math, const float* x, const float* w, const float* dy)
      : s_(s), math_(math), x_(x), w_(w), dy_(dy) {}

  template <typename T>
  T* scratch(int64_t count) {
    keep_.emplace_back(count * static_cast<int64_t>(sizeof(T)), gpu::engine_stream());
    return reinterpret_cast<T*>(keep_.back().get());
  }

  const void* x(Variant v) {
    return memo(0, v, [&] { return activation(v, s_.h, s_.w, s_.cin, x_); });
  }
  const void* dy(Variant v) {
    return memo(1, v, [&] { return activation(v, s_.oh(), s_.ow(), s_.cout, dy_); });
  }
  const void* w(Variant v) {
    return memo(2, v, [&] { return filter(v); });
  }

 private:
  template <typename Make>
  const void* memo(int which, Variant v, Make make) {
    const void*& slot = staged_[static_cast<size_t>(which * kVariants + static_cast<int>(v))];
    if (slot == nullptr) slot = make();
    return slot;
  }

  // An NHWC fp32 activation [n, h, w, c] as variant v reads it.
  const void* activation(Variant v, int64_t h, int64_t w, int64_t c, const float* p) {
    const int64_t count = s_.n * h * w * c;
    if (v == Variant::kNhwc && math_ == MathMode::kBf16) {
      uint16_t* b = scratch<uint16_t>(count);
      gpu::f32_to_bf16(count, p, b);
      return b;
    }
    if (v == Variant::kNhwc) {
      if (aligned(p)) return p;
      float* f = scratch<float>(count);
      copy(count, p, f);
      return f;
    }
    float* f = scratch<float>(count);
    if (v == Variant::kNchw) {
      nhwc_to_nchw(s_.n, c, h, w, p, f);
      if (math_ == MathMode::kBf16) gpu::round_bf16(count, f, f);
    } else {
      gpu::round_bf16(count, p, f);  // kNhwcRounded
    }
    return f;
  }

  // PyTorch's OIHW fp32 weights as variant v reads them: OHWI for the NHWC variants, OIHW for NCHW.
  const void* filter(Variant v) {
    const int64_t kk = s_.k * s_.k, count = s_.cout * s_.cin * kk;
    if (v == Variant::kNhwc && math_ == MathMode::kBf16) {
      uint16_t* b = scratch<uint16_t>(count);
      gpu::oihw_to_ohwi_bf16(s_.cout, s_.cin, kk, w_, b);
      return b;
    }
    const bool rounded = math_ == MathMode::kBf16;
    if (!rounded && aligned(w_) && (v == Variant::kNchw || kk == 1))
      return w_;  // already the layout
    float* f = scratch<float>(count);
    if (v == Variant::kNchw) {
      copy(count, w_, f);
    } else {
      gpu::oihw_to_ohwi(s_.cout, s_.cin, kk, w_, f);  // for kk == 1 a copy
    }
    if (rounded) gpu::round_bf16(count, f, f);
    return f;
  }

  op::Conv2dShape s_;
  MathMode math_;
  const float *x_, *w_, *dy_;
  std::array<const void*, 3 * kVariants> staged_{};
  std::vector<gpu::DeviceArray<unsigned char> > keep_;
};

// Where variant v writes an NHWC fp32 activation [n, h, w, c] whose home is `dst`.
void* activation_out(Operands& ops, Variant v, MathMode math, int64_t count, float* dst) {
  if (v == Variant::kNhwc && math == MathMode::kBf16) return ops.scratch<uint16_t>(count);
  if (v != Variant::kNchw && aligned(dst)) return dst;
  return ops.scratch<float>(count);
}

// ... and from there to `dst` (NHWC fp32), adding `bias` (nullable).
void activation_finish(const op::Conv2dShape& s, Variant v, MathMode math, int64_t h, int64_t w,
                       int64_t c, const void* out, const float* bias, float* dst) {
  const int64_t rows = s.n * h * w;
  if (v == Variant::kNhwc && math == MathMode::kBf16) {
    gpu::bf16_to_f32_bias(rows, c, static_cast<const uint16_t*>(out), bias,
                          dst);  // widen and add in one pass
    return;
  }
  if (v == Variant::kNchw) {
    nchw_to_nhwc(s.n, c, h, w, static_cast<const float*>(out), dst);
  } else if (out != dst) {
    copy(rows * c, static_cast<const float*>(out), dst);
  }
  gpu::add_bias_rows(rows, c, bias, dst);
}

// Where variant v writes the filter gradient whose home is `dst` (OIHW fp32) ...
void* filter_out(Operands& ops, const op::Conv2dShape& s, Variant v, MathMode math, float* dst) {
  const int64_t kk = s.k * s.k, count = s.cout * s.cin * kk;
  if (v == Variant::kNhwc && math == MathMode::kBf16) return ops.scratch<uint16_t>(count);
  if (aligned(dst) && (v == Variant::kNchw || kk == 1)) return dst;
  return ops.scratch<float>(count);
}

// ... and from there to `dst`.
void filter_finish(const op::Conv2dShape& s, Variant v, MathMode math, const void* out,
                   float* dst) {
  const int64_t kk = s.k * s.k, count = s.cout * s.cin * kk;
  if (v == Variant::kNhwc && math == MathMode::kBf16) {
    gpu::ohwi_bf16_to_oihw(s.cout, s.cin, kk, static_cast<const uint16_t*>(out), dst);
  } else if (out == dst) {
    return;
  } else if (v == Variant::kNchw) {
    copy(count, static_cast<const float*>(out), dst);
  } else {
    gpu::ohwi_to_oihw(s.cout, s.cin, kk, static_cast<const float*>(out), dst);
  }
}

// ---- running a direction -----------------------------------------------------------------------

const float kOne = 1.0f, kZero = 0.0f;  // alpha, beta: float for fp32 and bf16 data alike

// How the first call of a direction chooses (PFGM_CUDNN_BENCHMARK, read once):
//   0    the first candidate that runs, in the header's order (the same choice in every process);
//   1    (default) the candidates of the first tier that runs are timed, the fastest kept
//        (torch.backends.cudnn.benchmark with torch.backends.cudnn.deterministic): the tier's
//        accuracy and determinism promises hold; variants compete, each timed with its output
//        staging (its input staging, memoized per call, is left out: a transpose of an activation,
//        a few percent of a 3x3 convolution);
//   all  every candidate is timed, the non-deterministic and, in the fp32-sum variants, the FFT
//        and Winograd algorithms too (PyTorch's cudnn.benchmark without `deterministic`, which is
//        what its fp32 convolutions run): faster fp32, at the price of run-to-run differences in
//        the last bits and transform errors beyond kFp32's sqrt(K) 2^-24.
enum class Search { kFirst, kTier, kAll };

Search search() {
  static const Search mode = [] {
    const char* v = std::getenv("PFGM_CUDNN_BENCHMARK");
    if (v == nullptr || v[0] == '\0' || std::string(v) == "1") return Search::kTier;
    if (std::string(v) == "0") return Search::kFirst;
    if (std::string(v) == "all") return Search::kAll;
    fail(code::kArgument, std::string("PFGM_CUDNN_BENCHMARK must be 0, 1 or all, not '") + v + "'");
  }();
  return mode;
}

// Candidates that the timing compares with the first one that ran.
bool same_group(const Candidate& a, const Candidate& b) {
  return search() == Search::kAll || a.tier == b.tier;
}

// Milliseconds of the fastest of `reps` runs of `once` on the engine stream (CUDA events).
template <typename Once>
float time_runs(int reps, Once once) {
  static cudaEvent_t start = nullptr, stop = nullptr;  // under the cache's lock, like the handle
  if (start == nullptr) {
    gpu::check(cudaEventCreate(&start), "cudaEventCreate (cuDNN algorithm timing)");
    gpu::check(cudaEventCreate(&stop), "cudaEventCreate (cuDNN algorithm timing)");
  }
  const cudaStream_t stream = gpu::engine_stream();
  float best = -1.0f;
  for (int r = 0; r < reps; ++r) {
    gpu::check(cudaEventRecord(start, stream), "cudaEventRecord (cuDNN algorithm timing)");
    if (!once()) return -1.0f;
    gpu::check(cudaEventRecord(stop, stream), "cudaEventRecord (cuDNN algorithm timing)");
    gpu::check(cudaEventSynchronize(stop), "cudaEventSynchronize (cuDNN algorithm timing)");
    float ms = 0.0f;
    gpu::check(cudaEventElapsedTime(&ms, start, stop),
               "cudaEventElapsedTime (cuDNN algorithm timing)");
    if (best < 0.0f || ms < best) best = ms;
  }
  return best;
}

// Runs direction `dir` of plan `p` (with the cache's lock held): the kept candidate, or on the
// plan's first use of the direction, the candidates in order until one runs; unless search() is
// kFirst, the rest of that one's group (same_group) is run and timed as well and the fastest kept,
// which then computes this call's outputs too, so that the first call's results are those of every
// later one.
// `size(c, conv, &bytes)` asks cuDNN for the candidate's workspace; `run(c, conv, ws, bytes)`
// stages the operands for its variant, calls cuDNN and, on success, moves the outputs home (with
// beta = 0 and a bias added after, so running it again gives the same outputs).
template <typename Size, typename Run>
void execute(const op::Conv2dShape& s, MathMode math, Plan& p, Dir dir, Size size, Run run) {
  Direction& d = p.dirs[dir];
  const cudaStream_t stream = gpu::engine_stream();
  auto run_kept = [&] {
    const Candidate& c = d.candidates[static_cast<size_t>(d.chosen)];
    gpu::DeviceArray<unsigned char> workspace(static_cast<int64_t>(d.workspace), stream);
    const cudnnStatus_t status = run(c, d.conv, workspace.get(), d.workspace);
    if (status != CUDNN_STATUS_SUCCESS) {
      fail(is_memory(status) ? code::kMemory : code::kCuda,
           describe(s) + ": cuDNN " + kDirName[dir] + " " + label(c, math) +
               ", which ran before, failed: " + status_text(status));
    }
  };
  if (d.chosen >= 0) {
    run_kept();
    return;
  }
  const size_t cap = workspace_cap();
  const bool timing = search() != Search::kFirst;
  std::vector<std::string> failures;
  bool all_memory = !d.candidates.empty();
  int best = -1, last_run = -1;
  float best_ms = 0.0f;
  for (size_t i = 0; i < d.candidates.size(); ++i) {
    const Candidate& c = d.candidates[i];
    if (best >= 0 && !same_group(c, d.candidates[static_cast<size_t>(best)])) continue;
    cudnnConvolutionDescriptor_t conv = make_conv(s, c.type);
    size_t bytes = 0;
    cudnnStatus_t status = size(c, conv, &bytes);
    bool memory = is_memory(status);
    std::string why;
    float ms = -1.0f;
    if (status == CUDNN_STATUS_SUCCESS && bytes > cap) {
      why = "workspace of " + std::to_string(bytes >> 20) + " MiB over the cap of " +
            std::to_string(cap >> 20) + " MiB";
      memory = true;
    } else if (status == CUDNN_STATUS_SUCCESS) {
      try {
        gpu::DeviceArray<unsigned char> workspace(static_cast<int64_t>(bytes), stream);
        last_run = static_cast<int>(i);  // a failed attempt may have written part of the outputs
        status = run(c, conv, workspace.get(), bytes);  // also the warm-up of the timing
        if (status == CUDNN_STATUS_SUCCESS) {
          if (timing) {
            ms = time_runs(2, [&] {
              status = run(c, conv, workspace.get(), bytes);
              return status == CUDNN_STATUS_SUCCESS;
            });
          }
        }
      } catch (const Error& e) {
        // Out of memory for this candidate's workspace or its variant's scratch: another may fit.
        if (std::string(e.code()) != code::kMemory) {
          cudnnDestroyConvolutionDescriptor(conv);
          throw;
        }
        why = e.what();
        memory = true;
      }
      if (why.empty() && status == CUDNN_STATUS_SUCCESS) {
        if (best < 0 || ms < best_ms) {
          if (best >= 0) cudnnDestroyConvolutionDescriptor(d.conv);
          best = static_cast<int>(i);
          best_ms = ms;
          d.conv = conv;
          d.workspace = bytes;
        } else {
          cudnnDestroyConvolutionDescriptor(conv);
        }
        if (!timing) break;
        continue;
      }
      memory = memory || is_memory(status);
    }
    if (why.empty()) why = status_text(status);
    // A refused launch may have left a (non-sticky) CUDA error behind: clear it, so the next
    // kernel's check does not report it. A sticky error makes every later attempt fail as well.
    cudaGetLastError();
    cudnnDestroyConvolutionDescriptor(conv);
    failures.push_back(label(c, math) + ": " + why);
    all_memory = all_memory && memory;
  }
  if (best >= 0) {
    d.chosen = best;
    d.rejected = static_cast<int>(failures.size());
    d.milliseconds = best_ms;
    if (last_run != best) run_kept();  // this call's outputs from the kept algorithm
    return;
  }
  std::string tried;
  for (size_t i = 0; i < failures.size() && i < 12; ++i) tried += (i ? "; " : "") + failures[i];
  if (failures.size() > 12) tried += "; and " + std::to_string(failures.size() - 12) + " more";
  if (failures.empty()) tried = "cuDNN's heuristics offered none";
  if (!d.heuristics_errors.empty()) tried += " (" + d.heuristics_errors + ")";
  fail(all_memory ? code::kMemory : code::kCuda,
       describe(s) + ": no cuDNN " + kDirName[dir] + " algorithm ran in math mode " +
           std::to_string(static_cast<int>(math)) + ": " + tried);
}

void forward(const op::Conv2dShape& s, MathMode math, Plan& p, Operands& ops, const float* bias,
             float* y) {
  cudnnHandle_t h = handle();
  const int64_t count = s.n * s.oh() * s.ow() * s.cout;
  execute(
      s, math, p, kForward,
      [&](const Candidate& c, cudnnConvolutionDescriptor_t conv, size_t* bytes) {
        const Layout& l = p.layout(c.variant);
        return cudnnGetConvolutionForwardWorkspaceSize(
            h, l.x, l.w, conv, l.y, static_cast<cudnnConvolutionFwdAlgo_t>(c.algo), bytes);
      },
      [&](const Candidate& c, cudnnConvolutionDescriptor_t conv, void* ws, size_t bytes) {
        const Layout& l = p.layout(c.variant);
        const void* x = ops.x(c.variant);
        const void* w = ops.w(c.variant);
        void* out = activation_out(ops, c.variant, math, count, y);
        const cudnnStatus_t status = cudnnConvolutionForward(
            h, &kOne, l.x, x, l.w, w, conv, static_cast<cudnnConvolutionFwdAlgo_t>(c.algo), ws,
            bytes, &kZero, l.y, out);
        if (status == CUDNN_STATUS_SUCCESS)
          activation_finish(s, c.variant, math, s.oh(), s.ow(), s.cout, out, bias, y);
        return status;
      });
}

void backward_data(const op::Conv2dShape& s, MathMode math, Plan& p, Operands& ops, float* dx) {
  cudnnHandle_t h = handle();
  const int64_t count = s.n * s.h * s.w * s.cin;
  execute(
      s, math, p, kBackwardData,
      [&](const Candidate& c, cudnnConvolutionDescriptor_t conv, size_t* bytes) {
        const Layout& l = p.layout(c.variant);
        return cudnnGetConvolutionBackwardDataWorkspaceSize(
            h, l.w, l.y, conv, l.x, static_cast<cudnnConvolutionBwdDataAlgo_t>(c.algo), bytes);
      },
      [&](const Candidate& c, cudnnConvolutionDescriptor_t conv, void* ws, size_t bytes) {
        const Layout& l = p.layout(c.variant);
        const void* w = ops.w(c.variant);
        const void* dy = ops.dy(c.variant);
        void* out = activation_out(ops, c.variant, math, count, dx);
        const cudnnStatus_t status = cudnnConvolutionBackwardData(
            h, &kOne, l.w, w, l.y, dy, conv, static_cast<cudnnConvolutionBwdDataAlgo_t>(c.algo), ws,
            bytes, &kZero, l.x, out);
        if (status == CUDNN_STATUS_SUCCESS)
          activation_finish(s, c.variant, math, s.h, s.w, s.cin, out, nullptr, dx);
        return status;
      });
}

void backward_filter(const op::Conv2dShape& s, MathMode math, Plan& p, Operands& ops,
                     float* dweight) {
  cudnnHandle_t h = handle();
  execute(
      s, math, p, kBackwardFilter,
      [&](const Candidate& c, cudnnConvolutionDescriptor_t conv, size_t* bytes) {
        const Layout& l = p.layout(c.variant);
        return cudnnGetConvolutionBackwardFilterWorkspaceSize(
            h, l.x, l.y, conv, l.w, static_cast<cudnnConvolutionBwdFilterAlgo_t>(c.algo), bytes);
      },
      [&](const Candidate& c, cudnnConvolutionDescriptor_t conv, void* ws, size_t bytes) {
        const Layout& l = p.layout(c.variant);
        const void* x = ops.x(c.variant);
        const void* dy = ops.dy(c.variant);
        void* out = filter_out(ops, s, c.variant, math, dweight);
        const cudnnStatus_t status = cudnnConvolutionBackwardFilter(
            h, &kOne, l.x, x, l.y, dy, conv, static_cast<cudnnConvolutionBwdFilterAlgo_t>(c.algo),
            ws, bytes, &kZero, l.w, out);
        if (status == CUDNN_STATUS_SUCCESS) filter_finish(s, c.variant, math, out, dweight);
        return status;
      });
}

}  // namespace

ConvPlanInfo conv2d_plan(const op::Conv2dShape& s, MathMode math) {
  check_shape(s);
  checked(math);
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  ConvPlanInfo info;
  if (s.n > 0) {  // an empty batch never reaches cuDNN, so it has no plan
    const Plan& p = plan_for(c, s, math, &info.created);
    for (int d = 0; d < 3; ++d) {
      const Direction& dir = p.dirs[d];
      info.candidates[d] = static_cast<int>(dir.candidates.size());
      if (dir.chosen < 0) continue;
      const Candidate& chosen = dir.candidates[static_cast<size_t>(dir.chosen)];
      info.algo[d] = chosen.algo;
      info.variant[d] = static_cast<int>(chosen.variant);
      info.deterministic[d] = chosen.deterministic;
      info.rejected[d] = dir.rejected;
      info.workspace_bytes[d] = static_cast<double>(dir.workspace);
      info.milliseconds[d] = dir.milliseconds;
    }
  }
  info.plans = static_cast<int64_t>(c.plans.size());
  return info;
}

void conv2d_forward(const op::Conv2dShape& s, const float* x, const float* weight,
                    const float* bias, float* y, MathMode math) {
  check_shape(s);
  checked(math);
  if (s.n == 0) return;
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  bool created = false;
  Plan& p = plan_for(c, s, math, &created);
  Operands ops(s, math, x, weight, nullptr);
  forward(s, math, p, ops, bias, y);
}

void conv2d_backward(const op::Conv2dShape& s, const float* x, const float* weight, const float* dy,
                     float* dx, float* dweight, float* dbias, MathMode math) {
  check_shape(s);
  checked(math);
  const int64_t wcount = s.cout * s.cin * s.k * s.k;
  if (s.n == 0) {  // an empty batch: the parameter gradients are sums over nothing
    if (dweight != nullptr) {
      gpu::check(cudaMemsetAsync(dweight, 0, static_cast<size_t>(wcount) * sizeof(float),
                                 gpu::engine_stream()),
                 "cudaMemsetAsync (conv2d dweight of an empty batch)");
    }
    if (dbias != nullptr) gpu::column_sums(0, s.cout, dy, dbias);
    return;
  }
  if (dbias != nullptr)
    gpu::column_sums(s.n * s.oh() * s.ow(), s.cout, dy, dbias);  // from fp32 dy in every mode
  if (dx == nullptr && dweight == nullptr) return;

  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  bool created = false;
  Plan& p = plan_for(c, s, math, &created);
  Operands ops(s, math, x, weight, dy);  // dy staged once per variant for both directions
  if (dx != nullptr) backward_data(s, math, p, ops, dx);
  if (dweight != nullptr) backward_filter(s, math, p, ops, dweight);
}

}  // namespace pfgm::cuda

#endif  // PFGM_HAVE_CUDNN
