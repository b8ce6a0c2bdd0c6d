// CUDA twins of ops/loss.cc (docs/method.md §2.2's weighted squared error).
//
// Forward: one block per sample; each thread sums its strided share of (pred - target)^2 in fp32,
// the block combines the 256 partial sums in a fixed tree, and the batch mean is summed in sample
// order in double (on the host, or on the device when the loss stays there). The CPU sums each
// sample serially in double, so the two agree to about 1e-6 relative (fp32 partials of <=
// per_sample / 256 terms, then log2(256) tree levels). Backward is elementwise with the CPU's
// rounding: bit-identical.
#include <vector>

#include "ops.h"
#include "ops/rounding.h"
#include "runtime/allocator.cuh"
#include "runtime/check.cuh"
#include "runtime/launch.cuh"

namespace pfgm::cuda {
namespace {

using gpu::kThreads;

__global__ void mse_per_sample_kernel(int64_t per_sample, const float* pred, const float* target,
                                      const float* weight, double* losses, float* per_sample_loss) {
  __shared__ float partial[kThreads];
  const int64_t i = blockIdx.x;
  const float* p = pred + i * per_sample;
  const float* t = target + i * per_sample;
  float acc = 0.0f;
  for (int64_t j = threadIdx.x; j < per_sample; j += blockDim.x) {
    const float d = p[j] - t[j];
    acc += d * d;
  }
  partial[threadIdx.x] = acc;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    const double loss = static_cast<double>(weight[i]) * static_cast<double>(partial[0]);
    losses[i] = loss;
    if (per_sample_loss != nullptr) per_sample_loss[i] = static_cast<float>(loss);
  }
}

// total[0] += share * (mean of the per-sample losses), summed in sample order in double as the
// host does, each operation rounded on its own (no contraction into a fused multiply-add).
__global__ void mse_accumulate_kernel(int64_t samples, const double* losses, double share,
                                      double* total) {
  double sum = 0.0;
  for (int64_t i = 0; i < samples; ++i) sum = fp::dadd(sum, losses[i]);
  total[0] = fp::dadd(total[0], fp::dmul(share, sum / static_cast<double>(samples)));
}

__global__ void mse_backward_kernel(int64_t samples, int64_t per_sample, const float* pred,
                                    const float* target, const float* weight, float* dpred) {
  for (int64_t k = gpu::first_index(); k < samples * per_sample; k += gpu::grid_stride()) {
    const int64_t i = k / per_sample;
    // The CPU's k_i: 2 w_i / samples in double, rounded once.
    const float ki =
        static_cast<float>(2.0 * static_cast<double>(weight[i]) / static_cast<double>(samples));
    dpred[k] = fp::mul(ki, fp::sub(pred[k], target[k]));
  }
}

}  // namespace

double weighted_mse_forward(int64_t samples, int64_t per_sample, const float* pred,
                            const float* target, const float* weight, float* per_sample_loss) {
  if (samples <= 0) return 0.0;
  if (samples > (int64_t{1} << 31) - 1)
    fail(code::kShape, "weighted_mse: at most 2^31 - 1 samples");
  gpu::DeviceArray<double> losses(samples, gpu::engine_stream());
  mse_per_sample_kernel<<<static_cast<unsigned>(samples), kThreads, 0, gpu::engine_stream()>>>(
      per_sample, pred, target, weight, losses.get(), per_sample_loss);
  gpu::check_kernel("mse_per_sample_kernel");
  std::vector<double> host(static_cast<size_t>(samples));
  gpu::check(cudaMemcpyAsync(host.data(), losses.get(), host.size() * sizeof(double),
                             cudaMemcpyDeviceToHost, gpu::engine_stream()),
             "cudaMemcpyAsync (loss to the host)");
  gpu::check(cudaStreamSynchronize(gpu::engine_stream()), "weighted_mse_forward");
  double total = 0.0;
  for (double l : host) total += l;  // sample order, as on the CPU
  return total / static_cast<double>(samples);
}

void weighted_mse_accumulate(int64_t samples, int64_t per_sample, const float* pred,
                             const float* target, const float* weight, double share,
                             double* total) {
  if (samples <= 0) return;
  if (samples > (int64_t{1} << 31) - 1)
    fail(code::kShape, "weighted_mse: at most 2^31 - 1 samples");
  gpu::DeviceArray<double> losses(samples, gpu::engine_stream());
  mse_per_sample_kernel<<<static_cast<unsigned>(samples), kThreads, 0, gpu::engine_stream()>>>(
      per_sample, pred, target, weight, losses.get(), nullptr);
  gpu::check_kernel("mse_per_sample_kernel");
  mse_accumulate_kernel<<<1, 1, 0, gpu::engine_stream()>>>(samples, losses.get(), share, total);
  gpu::check_kernel("mse_accumulate_kernel");
}

void weighted_mse_backward(int64_t samples, int64_t per_sample, const float* pred,
                           const float* target, const float* weight, float* dpred) {
  const int64_t total = samples * per_sample;
  if (total <= 0) return;
  mse_backward_kernel<<<gpu::grid_for(total), kThreads, 0, gpu::engine_stream()>>>(
      samples, per_sample, pred, target, weight, dpred);
  gpu::check_kernel("mse_backward_kernel");
}

}  // namespace pfgm::cuda
