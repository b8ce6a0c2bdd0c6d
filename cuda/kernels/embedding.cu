// CUDA twins of ops/embedding.cc: the noise-level embeddings and map_label's input with label
// dropout. Each output element is computed by one thread from the same float roundings as the
// CPU loop: the frequency through double pow rounded to float, the angle x * f rounded to float
// (fp::mul, so no contraction can skip that rounding), cos / sin in double rounded once. CUDA's
// double pow / cos / sin are within 1-2 double ulp of libm's, so a float result can differ only
// when the exact value lies within ~2^-52 relative of a float rounding boundary: 1 float ulp at
// most, and rarely at all. label_input shares ops/label_math.h with the CPU: bit for bit.
#include <string>

#include "ops.h"
#include "ops/label_math.h"
#include "ops/rounding.h"
#include "runtime/check.cuh"
#include "runtime/launch.cuh"

namespace pfgm::cuda {
namespace {

using gpu::first_index;
using gpu::grid_stride;

// Thread t: sample i = t / half, frequency j = t % half; writes y[i, j] (cos) and y[i, half + j]
// (sin). Recomputing the frequency per element costs one double pow, cheap next to cos / sin.
__global__ void positional_kernel(int64_t n, int64_t channels, float base, float denom,
                                  const float* x, float* y) {
  const int64_t half = channels / 2;
  for (int64_t t = first_index(); t < n * half; t += grid_stride()) {
    const int64_t i = t / half, j = t % half;
    // torch: arange(half, float32) / (half - endpoint), then base ** freqs (CPU: double pow).
    const float e = fp::div(static_cast<float>(j), denom);
    const float f = static_cast<float>(pow(static_cast<double>(base), static_cast<double>(e)));
    const double arg = static_cast<double>(fp::mul(x[i], f));
    y[i * channels + j] = static_cast<float>(cos(arg));
    y[i * channels + half + j] = static_cast<float>(sin(arg));
  }
}

__global__ void fourier_kernel(int64_t n, int64_t channels, float two_pi, const float* freqs,
                               const float* x, float* y) {
  const int64_t half = channels / 2;
  for (int64_t t = first_index(); t < n * half; t += grid_stride()) {
    const int64_t i = t / half, j = t % half;
    const float w = fp::mul(two_pi, freqs[j]);
    const double arg = static_cast<double>(fp::mul(x[i], w));
    y[i * channels + j] = static_cast<float>(cos(arg));
    y[i * channels + half + j] = static_cast<float>(sin(arg));
  }
}

// One thread per output element; each redraws its sample's keep decision (one Philox block, ten
// rounds of integer math), which is cheaper than a second kernel and keeps the op one launch.
__global__ void label_kernel(op::LabelInputSpec s, float gain, const float* labels, float* out) {
  const uint32_t step = s.training && labels != nullptr ? step_value(s.step, s.step_at) : 0;
  for (int64_t t = first_index(); t < s.n * s.label_dim; t += grid_stride()) {
    if (labels == nullptr) {
      out[t] = 0.0f;
      continue;
    }
    const int64_t i = t / s.label_dim;
    const float keep =
        lab::keep(s.training, s.p, s.seed, s.sample_offset + static_cast<uint64_t>(i), step);
    out[t] = lab::element(labels[t], gain, keep);
  }
}

}  // namespace

void positional_embedding(int64_t n, int64_t channels, double max_positions, bool endpoint,
                          const float* x, float* y) {
  const int64_t half = channels / 2;
  if (n < 1 || half < 1) return;
  // The same two float roundings as the CPU, on the host.
  const float base = static_cast<float>(1.0 / max_positions);
  const float denom = static_cast<float>(half - (endpoint ? 1 : 0));
  positional_kernel<<<gpu::grid_for(n * half), gpu::kThreads, 0, gpu::engine_stream()>>>(
      n, channels, base, denom, x, y);
  gpu::check_kernel("positional_embedding kernel");
}

void fourier_embedding(int64_t n, int64_t channels, const float* freqs, const float* x, float* y) {
  const int64_t half = channels / 2;
  if (n < 1 || half < 1) return;
  const float two_pi = static_cast<float>(2.0 * M_PI);  // torch rounds 2 pi to float, as the CPU
  fourier_kernel<<<gpu::grid_for(n * half), gpu::kThreads, 0, gpu::engine_stream()>>>(
      n, channels, two_pi, freqs, x, y);
  gpu::check_kernel("fourier_embedding kernel");
}

void label_input(const op::LabelInputSpec& s, const float* labels, float* out) {
  cpu::check_label_input(s);
  if (s.n * s.label_dim == 0) return;
  label_kernel<<<gpu::grid_for(s.n * s.label_dim), gpu::kThreads, 0, gpu::engine_stream()>>>(
      s, lab::gain(s.label_dim), labels, out);
  gpu::check_kernel("label_input kernel");
}

}  // namespace pfgm::cuda
