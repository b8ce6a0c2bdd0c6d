// Launch geometry shared by the CUDA kernels: one engine stream, 256-thread blocks and
// grid-stride loops whose grid is capped, so any element count (int64) is covered without
// overflowing gridDim.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

namespace pfgm::gpu {

// The stream that a CUDA graph is being captured on, on this thread (graph.cu), or null.
inline thread_local cudaStream_t t_capture_stream = nullptr;

// The stream every engine kernel and the allocator use: the legacy default stream, so work is
// ordered across the addon's worker threads, which the caching allocator's same-stream reuse
// relies on. While a thread captures a CUDA graph (graph.cu), its work goes to the capture
// stream instead, and the graph is then launched on the legacy stream, in the same order.
inline cudaStream_t engine_stream() { return t_capture_stream; }

inline constexpr int kThreads = 256;
// 65536 blocks of 256 threads keep every SM of an H100 busy many times over; larger counts loop.
inline constexpr int64_t kMaxBlocks = int64_t{1} << 16;

inline unsigned grid_for(int64_t count, int threads = kThreads) {
  const int64_t blocks = (count + threads - 1) / threads;
  return static_cast<unsigned>(std::clamp<int64_t>(blocks, 1, kMaxBlocks));
}

// for (int64_t i = first_index(); i < count; i += grid_stride())
__device__ __forceinline__ int64_t first_index() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t grid_stride() {
  return static_cast<int64_t>(gridDim.x) * blockDim.x;
}

}  // namespace pfgm::gpu
