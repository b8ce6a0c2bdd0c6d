// Row softmax of attention, in place over [rows, len] fp32: w = exp(s - max) / sum exp(s - max).
// Variants (history: README.md beside this file):
//   production  pfgm::cuda::softmax_rows (cuda/kernels/softmax_rows.cu): one warp per row, rows up
//               to 256 held in registers, longer rows looping over memory
//   warp_loop   one warp per row looping over memory at every length (what the tiled attention
//               path ran before the two paths shared one softmax)
//   thread_row  one thread per row, three serial passes (the simplest kernel; uncoalesced)
// Reference: pfgm::cpu::attention_forward (src/native/ops/attention.cc, oneDNN's softmax), run
// with one channel per head (d = 1): its logits are then single products q_p k_j, exact in fp32,
// which the lab forms the same way for the GPU; the weights it saves are the reference rows.
// Tolerance: 2e-5 of the largest weight (the attention weights' tolerance of
// test/gpu/attention-resample-parity.test.ts; CUDA's expf and oneDNN's exp differ by an ulp or
// two).
#include <cmath>
#include <string>

#include "lab.cuh"
#include "ops/attention.h"
#include "softmax_rows.cuh"

namespace {

constexpr int kThreads = 256;
constexpr int kRowsPerBlock = kThreads / 32;

__device__ __forceinline__ float lane_sum(float v) {
  for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}
__device__ __forceinline__ float lane_max(float v) {
  for (int off = 16; off > 0; off /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}

// One warp per row, grid-stride over rows; lanes take j = lane, lane + 32, ...
__global__ void warp_loop_kernel(int64_t rows, int64_t len, float* w) {
  const int lane = static_cast<int>(threadIdx.x % 32);
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kRowsPerBlock;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32; r < rows;
       r += stride) {
    float* row = w + r * len;
    float mx = -INFINITY;
    for (int64_t j = lane; j < len; j += 32) mx = fmaxf(mx, row[j]);
    mx = lane_max(mx);
    float sum = 0.0f;
    for (int64_t j = lane; j < len; j += 32) {
      const float e = expf(row[j] - mx);
      row[j] = e;
      sum += e;
    }
    sum = lane_sum(sum);
    for (int64_t j = lane; j < len; j += 32) row[j] = row[j] / sum;
  }
}

// One thread per row.
__global__ void thread_row_kernel(int64_t rows, int64_t len, float* w) {
  const int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= rows) return;
  float* row = w + r * len;
  float mx = -INFINITY;
  for (int64_t j = 0; j < len; ++j) mx = fmaxf(mx, row[j]);
  float sum = 0.0f;
  for (int64_t j = 0; j < len; ++j) {
    row[j] = expf(row[j] - mx);
    sum += row[j];
  }
  for (int64_t j = 0; j < len; ++j) row[j] = row[j] / sum;
}

unsigned blocks(int64_t count, int64_t per_block) {
  const int64_t b = (count + per_block - 1) / per_block;
  return static_cast<unsigned>(b < 65536 ? (b > 0 ? b : 1) : 65536);
}

struct Case {
  std::string name;
  int64_t n, heads, hw;
};

void run_family(const lab::Options& opt, lab::Report& report) {
  std::vector<Case> cases;
  if (opt.size == "small") {  // both production paths: registers (64) and the loop (320)
    cases = {{"256 rows x 64", 1, 4, 64}, {"640 rows x 320", 1, 2, 320}};
  } else {  // ddpmpp-cifar10's 16x16 attention at batch 128, 4 heads; a 32x32 layer
    cases = {{"131072 rows x 256", 128, 4, 256}, {"32768 rows x 1024", 32, 1, 1024}};
  }
  for (const Case& cs : cases) {
    const int64_t rows = cs.n * cs.heads * cs.hw, len = cs.hw, c = cs.heads;
    // qkv [n, hw, 3c] with d = 1: channel 3h + j is component j (q, k, v) of head h.
    const std::vector<float> qkv = lab::uniform(cs.n * cs.hw * 3 * c, -3.0f, 3.0f, 11);
    std::vector<float> out(cs.n * cs.hw * c), w_ref(rows * len);
    pfgm::cpu::attention_forward(pfgm::op::AttentionShape{cs.n, cs.hw, c, cs.heads}, qkv.data(),
                                 out.data(), w_ref.data());
    // The logits the CPU formed: s[b, h, p, j] = q[b, p, h] * k[b, j, h] (1 / sqrt 1 = 1).
    std::vector<float> s(rows * len);
    for (int64_t b = 0; b < cs.n; ++b) {
      for (int64_t h = 0; h < cs.heads; ++h) {
        for (int64_t p = 0; p < cs.hw; ++p) {
          const float q = qkv[(b * cs.hw + p) * 3 * c + 3 * h];
          float* srow = s.data() + ((b * cs.heads + h) * cs.hw + p) * len;
          for (int64_t j = 0; j < cs.hw; ++j)
            srow[j] = q * qkv[(b * cs.hw + j) * 3 * c + 3 * h + 1];
        }
      }
    }
    lab::Buffer<float> w(rows * len);
    const std::vector<lab::Variant> variants = {
        {"production", "cuda/kernels/softmax_rows.cu: a warp per row, registers up to 256",
         [&] { pfgm::cuda::softmax_rows(rows, len, w.get()); }},
        {"warp_loop", "a warp per row, looping over memory at every length",
         [&] {
           warp_loop_kernel<<<blocks(rows, kRowsPerBlock), kThreads>>>(rows, len, w.get());
           lab::check(cudaGetLastError(), "warp_loop launch");
         }},
        {"thread_row", "a thread per row, serial passes",
         [&] {
           thread_row_kernel<<<blocks(rows, kThreads), kThreads>>>(rows, len, w.get());
           lab::check(cudaGetLastError(), "thread_row launch");
         }},
    };
    lab::run_case(
        opt, report, cs.name, variants, [&] { w.upload(s); },
        [&] { return std::vector<lab::Check>{lab::of_largest("w", w.download(), w_ref, 2e-5)}; });
  }
}

}  // namespace

LAB_FAMILY(softmax_rows, "attention's row softmax, in place, fp32", run_family);
