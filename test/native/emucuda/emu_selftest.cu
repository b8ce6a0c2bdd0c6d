// The CUDA emulator's own test kernels (only in pfgm_emucuda.node), run by
// test/native/cuda-emulated.test.ts through the op case "emu_selftest":
//
//   kind 0  semantics: shared memory across a barrier, shuffles (xor, up, down, idx), ballot and
//           the __syncthreads votes, on 2 warps; out[64, 8], compared with CUDA's definitions
//   kind 1  half a warp at __syncthreads, the other half at a full-warp shuffle: never completes
//   kind 2  a read one element past the end of a device allocation
//   kind 3  a full-mask shuffle after half the warp has exited
//   kind 4  an order-dependent (racy) kernel: out[64] = the thread that wrote a shared int last
//   kind 5  a launch of 2048 threads per block (an invalid configuration)
//
// Kinds 1-3 leave a sticky error, as on a GPU, so each runs in a process of its own.
#include <cstdint>

#include "cases/op_cases.h"
#include "device.h"
#include "errors.h"
#include "runtime/allocator.cuh"
#include "runtime/check.cuh"
#include "runtime/launch.cuh"

namespace {

using pfgm::opcases::Attrs;
using pfgm::opcases::Tensors;

constexpr int kThreads = 64;
constexpr int kFields = 8;

__global__ void semantics_kernel(float* out) {
  const int t = static_cast<int>(threadIdx.x);
  const int lane = t & 31;
  __shared__ int seen[kThreads];
  seen[t] = t;
  __syncthreads();
  const int neighbour = seen[(t + 1) % kThreads];
  float sum = static_cast<float>(t);
  for (int off = 16; off > 0; off /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, off);
  const float up = __shfl_up_sync(0xffffffffu, static_cast<float>(t), 1);
  const float down = __shfl_down_sync(0xffffffffu, static_cast<float>(t), 2);
  const float idx = __shfl_sync(0xffffffffu, static_cast<float>(t), 5);
  const unsigned ballot = __ballot_sync(0xffffffffu, lane % 3 == 0);
  const int any = __syncthreads_or(t == 37);
  const int count = __syncthreads_count(t % 4 == 0);
  const int all = __syncthreads_and(t != 50);
  float* o = out + t * kFields;
  o[0] = static_cast<float>(neighbour);
  o[1] = sum;
  o[2] = up;
  o[3] = down;
  o[4] = idx;
  o[5] = static_cast<float>(ballot & 0xffffu);
  o[6] = static_cast<float>(any + 2 * all);
  o[7] = static_cast<float>(count);
}

__global__ void divergent_kernel(float* out) {
  const int lane = static_cast<int>(threadIdx.x);
  if (lane < 16) {
    __syncthreads();
    out[lane] = 1.0f;
  } else {
    out[lane] = __shfl_xor_sync(0xffffffffu, 1.0f, 1);
  }
}

__global__ void past_the_end_kernel(int64_t count, const float* in, float* out) {
  out[0] = in[count];
}

__global__ void exited_lane_kernel(float* out) {
  const int lane = static_cast<int>(threadIdx.x);
  if (lane >= 16) return;
  out[lane] = __shfl_xor_sync(0xffffffffu, static_cast<float>(lane), 1);
}

__global__ void racy_kernel(float* out) {
  __shared__ int last;
  last = static_cast<int>(threadIdx.x);  // every thread writes, unsynchronized
  __syncthreads();
  out[threadIdx.x] = static_cast<float>(last);
}

__global__ void empty_kernel() {}

PFGM_GPU_OP_CASE("emu_selftest", [](const Attrs& a, const Tensors&, Tensors& out) {
  using namespace pfgm;
  const int kind = static_cast<int>(opcases::attr(a, "kind"));
  const int64_t n = kind == 0 ? kThreads * kFields : kThreads;
  gpu::DeviceArray<float> y(n, gpu::engine_stream());
  gpu::DeviceArray<float> x(16, gpu::engine_stream());
  switch (kind) {
    case 0: semantics_kernel<<<1, kThreads, 0, gpu::engine_stream()>>>(y.get()); break;
    case 1: divergent_kernel<<<1, 32, 0, gpu::engine_stream()>>>(y.get()); break;
    case 2: past_the_end_kernel<<<1, 1, 0, gpu::engine_stream()>>>(16, x.get(), y.get()); break;
    case 3: exited_lane_kernel<<<1, 32, 0, gpu::engine_stream()>>>(y.get()); break;
    case 4: racy_kernel<<<1, kThreads, 0, gpu::engine_stream()>>>(y.get()); break;
    case 5: empty_kernel<<<1, 2048, 0, gpu::engine_stream()>>>(); break;
    default: fail(code::kArgument, "emu_selftest: kind must be 0 to 5");
  }
  gpu::check_launch("emu_selftest");
  float* host = opcases::output(out, "y", {kind == 0 ? kThreads : n, kind == 0 ? kFields : 1});
  gpu::copy_to_host(host, y.get(), static_cast<size_t>(n) * sizeof(float));
});

}  // namespace
