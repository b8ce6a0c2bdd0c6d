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
//
// Op case "emu_capture_selftest" checks stream capture (emu_graphs.cc) against CUDA's rules; its
// output `flags` holds, in order: nothing ran while capturing (y still 0), two launches of the
// graph ran its kernel twice (y = 2), cudaStreamSynchronize while capturing fails with
// cudaErrorStreamCaptureUnsupported and invalidates the capture (cudaStreamEndCapture:
// cudaErrorStreamCaptureInvalidated), a launch on the legacy stream while capturing fails with
// cudaErrorStreamCaptureImplicit and invalidates it too, cudaMalloc while capturing fails, and
// succeeds in the relaxed mode; 1 where each holds.
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

__global__ void add_one_kernel(float* y) { y[threadIdx.x] += 1.0f; }

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

PFGM_GPU_OP_CASE("emu_capture_selftest", [](const Attrs&, const Tensors&, Tensors& out) {
  using namespace pfgm;
  gpu::DeviceArray<float> y(kThreads, gpu::engine_stream());
  gpu::check(cudaMemset(y.get(), 0, kThreads * sizeof(float)), "cudaMemset");
  cudaStream_t s = nullptr;
  gpu::check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  float* flags = opcases::output(out, "flags", {8});
  float first = -1.0f;
  auto read_first = [&] {
    gpu::check(cudaMemcpy(&first, y.get(), sizeof(float), cudaMemcpyDeviceToHost), "cudaMemcpy");
    return first;
  };
  // A recorded launch runs only when the graph does, as often as it does.
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  gpu::check(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), "BeginCapture");
  add_one_kernel<<<1, kThreads, 0, s>>>(y.get());
  gpu::check(cudaStreamEndCapture(s, &graph), "EndCapture");
  gpu::check(cudaGraphInstantiate(&exec, graph, 0), "cudaGraphInstantiate");
  flags[0] = read_first() == 0.0f ? 1.0f : 0.0f;
  gpu::check(cudaGraphLaunch(exec, nullptr), "cudaGraphLaunch");
  gpu::check(cudaGraphLaunch(exec, nullptr), "cudaGraphLaunch");
  flags[1] = read_first() == 2.0f ? 1.0f : 0.0f;
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  // Synchronizing while capturing.
  gpu::check(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), "BeginCapture");
  flags[2] = cudaStreamSynchronize(s) == cudaErrorStreamCaptureUnsupported ? 1.0f : 0.0f;
  graph = nullptr;
  flags[3] =
      cudaStreamEndCapture(s, &graph) == cudaErrorStreamCaptureInvalidated && graph == nullptr
          ? 1.0f
          : 0.0f;
  cudaGetLastError();
  // Work on the legacy stream while capturing another.
  gpu::check(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), "BeginCapture");
  add_one_kernel<<<1, kThreads, 0, nullptr>>>(y.get());
  flags[4] = cudaGetLastError() == cudaErrorStreamCaptureImplicit ? 1.0f : 0.0f;
  flags[5] = cudaStreamEndCapture(s, &graph) == cudaErrorStreamCaptureInvalidated ? 1.0f : 0.0f;
  cudaGetLastError();
  // cudaMalloc while capturing: forbidden, unless the thread's mode is relaxed.
  void* block = nullptr;
  gpu::check(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), "BeginCapture");
  {
    const gpu::RelaxedCaptureMode relaxed;
    flags[7] = cudaMalloc(&block, 64) == cudaSuccess ? 1.0f : 0.0f;
  }
  gpu::check(cudaStreamEndCapture(s, &graph), "EndCapture");
  cudaGraphDestroy(graph);
  cudaFree(block);
  gpu::check(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), "BeginCapture");
  flags[6] = cudaMalloc(&block, 64) == cudaErrorStreamCaptureUnsupported ? 1.0f : 0.0f;
  cudaStreamEndCapture(s, &graph);
  cudaGetLastError();
  cudaStreamDestroy(s);
});

}  // namespace
