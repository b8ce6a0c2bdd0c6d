// CUDA twin of ops/conv_inference.cc's backend op (the FID Inception's convolutions): a patch
// matrix (im2col) of the NHWC input, one matrix product with the OHWI weights through the linear
// layer's cuBLAS GEMM in the backend's math mode (libs/linear.cu, which adds the bias), then ReLU.
// Why not cuDNN: docs/dev/architecture.md, "The FID Inception". A 1x1 convolution with stride 1
// and no padding is the product itself (its patch matrix is the input). The patch matrix is pooled
// scratch of at most kPatchFloats floats, so a large batch runs as several products over whole
// images; every product's rows are whole output pixels, so the results do not depend on the split.
#include <algorithm>

#include "ops.h"
#include "ops/conv_inference.h"
#include "runtime/allocator.cuh"
#include "runtime/check.cuh"
#include "runtime/launch.cuh"

namespace pfgm::cuda {
namespace {

using gpu::first_index;
using gpu::grid_stride;

// 64 Mi floats (256 MiB) of patches at most per product, and always at least one image.
constexpr int64_t kPatchFloats = int64_t{1} << 26;

// patches[row, (ky * kw + kx) * cin + ci] = x[img, oy * sh - ph + ky, ox * sw - pw + kx, ci], or 0
// in the padding; row = (img * oh + oy) * ow + ox over `images` images.
__global__ void im2col_kernel(op::ConvInferenceShape s, int64_t images, int64_t oh, int64_t ow,
                              const float* x, float* patches) {
  const op::ConvGeometry& g = s.g;
  const int64_t cols = g.kh * g.kw * g.cin, count = images * oh * ow * cols;
  for (int64_t k = first_index(); k < count; k += grid_stride()) {
    const int64_t col = k % cols, row = k / cols;
    const int64_t ci = col % g.cin, kx = (col / g.cin) % g.kw, ky = col / (g.cin * g.kw);
    const int64_t ox = row % ow, oy = (row / ow) % oh, img = row / (ow * oh);
    const int64_t iy = oy * g.stride_h - g.pad_h + ky, ix = ox * g.stride_w - g.pad_w + kx;
    const bool inside = iy >= 0 && iy < s.h && ix >= 0 && ix < s.w;
    patches[k] = inside ? x[((img * s.h + iy) * s.w + ix) * g.cin + ci] : 0.0f;
  }
}

// max(v, 0), a NaN kept (as oneDNN's ReLU and PyTorch's).
__global__ void relu_kernel(int64_t count, float* y) {
  for (int64_t i = first_index(); i < count; i += grid_stride()) {
    const float v = y[i];
    y[i] = (v > 0.0f || v != v) ? v : 0.0f;
  }
}

}  // namespace

void conv2d_inference_forward(const op::ConvInferenceShape& s, const float* x, const float* weight,
                              const float* bias, float* y, MathMode math) {
  cpu::check_conv_inference_shape(s);
  if (s.n == 0) return;
  const op::ConvGeometry& g = s.g;
  const int64_t oh = s.oh(), ow = s.ow(), cols = g.kh * g.kw * g.cin;
  const bool pointwise =
      g.kh == 1 && g.kw == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 && g.pad_w == 0;
  if (pointwise) {
    linear_forward({s.n * s.h * s.w, g.cin, g.cout}, x, weight, bias, y, math);
  } else {
    const int64_t per_image = oh * ow * cols;
    const int64_t chunk = std::max<int64_t>(1, std::min(s.n, kPatchFloats / per_image));
    gpu::DeviceArray<float> patches(chunk * per_image, gpu::engine_stream());
    for (int64_t first = 0; first < s.n; first += chunk) {
      const int64_t images = std::min(chunk, s.n - first);
      const int64_t count = images * per_image;
      im2col_kernel<<<gpu::grid_for(count), gpu::kThreads, 0, gpu::engine_stream()>>>(
          s, images, oh, ow, x + first * s.h * s.w * g.cin, patches.get());
      gpu::check_kernel("im2col_kernel");
      linear_forward({images * oh * ow, cols, g.cout}, patches.get(), weight, bias,
                     y + first * oh * ow * g.cout, math);
    }
  }
  if (s.relu) {
    const int64_t count = s.n * oh * ow * g.cout;
    relu_kernel<<<gpu::grid_for(count), gpu::kThreads, 0, gpu::engine_stream()>>>(count, y);
    gpu::check_kernel("relu_kernel");
  }
}

}  // namespace pfgm::cuda
