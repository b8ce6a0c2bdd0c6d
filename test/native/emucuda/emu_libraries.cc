// The CUDA emulator's stand-in for what cuDNN computes (cuda/libs/conv.cu): the CPU engine's
// convolution, on operands first rounded to the math mode's precision (tf32: 10 mantissa bits;
// bf16: 7), as the tensor cores read them, with fp32 sums. The bias add, the bias gradient and
// the bf16 rounding are the real kernels (bias.cu, bf16.cu). cuDNN is not emulated (its
// algorithm search is what conv.cu is about): this file only lets the emulated addon run whole
// networks through cuda/backend.cu and the real custom kernels; conv.cu's own parity
// (test/gpu/conv-linear-parity.test.ts) needs a GPU. cuBLAS is emulated (emu_cublas.cc), so
// linear.cu and attention_blas.cu run as they are.
#include <cstdint>

#include "../../../cuda/kernels/dense.cuh"
#include "../../../cuda/ops.h"
#include "../../../cuda/runtime/allocator.cuh"
#include "../../../cuda/runtime/launch.cuh"
#include "emu_state.h"
#include "errors.h"
#include "nn/backend.h"

namespace pfgm::cuda {
namespace {

// A copy of p[0, count) rounded for `math`, or p itself in fp32.
const float* rounded(const float* p, int64_t count, MathMode math, gpu::DeviceArray<float>& keep) {
  if (p == nullptr || math == MathMode::kFp32) return p;
  keep = gpu::DeviceArray<float>(count, gpu::engine_stream());
  if (math == MathMode::kBf16) {
    gpu::round_bf16(count, p, keep.get());
  } else {
    for (int64_t i = 0; i < count; ++i) keep.get()[i] = pfgm_emu::round_tf32(p[i]);
  }
  return keep.get();
}

nn::Backend& cpu() { return nn::cpu_backend(); }

}  // namespace

// While the engine stream is captured (emu_graphs.cc), a convolution is recorded whole, as
// cuDNN's kernels would be, and computed when the graph runs.
template <class Call>
bool recorded(Call call) {
  switch (pfgm_emu::capture_action(gpu::engine_stream(), "an emulated convolution")) {
    case pfgm_emu::CaptureAction::kRecord:
      pfgm_emu::record(call);  // when the graph runs, nothing captures: it computes
      return true;
    case pfgm_emu::CaptureAction::kSkip: return true;
    case pfgm_emu::CaptureAction::kRun: break;
  }
  return false;
}

void conv2d_forward(const op::Conv2dShape& s, const float* x, const float* w, const float* b,
                    float* y, MathMode math) {
  if (recorded([=] { conv2d_forward(s, x, w, b, y, math); })) return;
  gpu::DeviceArray<float> xr, wr;
  cpu().conv2d_forward(s, rounded(x, s.n * s.h * s.w * s.cin, math, xr),
                       rounded(w, s.cout * s.cin * s.k * s.k, math, wr), nullptr, y);
  if (b != nullptr) gpu::add_bias_rows(s.n * s.oh() * s.ow(), s.cout, b, y);
}

void conv2d_backward(const op::Conv2dShape& s, const float* x, const float* w, const float* dy,
                     float* dx, float* dw, float* db, MathMode math) {
  if (recorded([=] { conv2d_backward(s, x, w, dy, dx, dw, db, math); })) return;
  gpu::DeviceArray<float> xr, wr, dyr;
  cpu().conv2d_backward(s, rounded(x, s.n * s.h * s.w * s.cin, math, xr),
                        rounded(w, s.cout * s.cin * s.k * s.k, math, wr),
                        rounded(dy, s.n * s.oh() * s.ow() * s.cout, math, dyr), dx, dw, nullptr);
  if (db != nullptr) gpu::column_sums(s.n * s.oh() * s.ow(), s.cout, dy, db);
}

// cuDNN's algorithm plans do not exist here; conv-linear-parity's plan checks need a GPU.
ConvPlanInfo conv2d_plan(const op::Conv2dShape&, MathMode) {
  fail(code::kDevice,
       "conv2d_plan: cuDNN's plans are not emulated (the CUDA emulator's convolutions are the "
       "CPU's)");
}

}  // namespace pfgm::cuda
