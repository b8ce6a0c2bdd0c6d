// Adam (torch.optim.Adam, with the gradient scale of clipping) and EDM's EMA over the flat fp32
// parameter buffer: elementwise and memory-bound. Variants (history: README.md beside this file):
//   production      pfgm::cuda::adam_step with the EMA (cuda/kernels/optim.cu): one fused pass,
//                   grid-stride loop over a capped grid, 64-bit indices
//   unfused         pfgm::cuda::adam_step, then pfgm::cuda::ema_update: the production entry
//                   points as two passes (p is written, then read back for the EMA)
//   thread_element  one element per thread, no grid-stride loop, 32-bit indices
// Reference: pfgm::optim::adam_step (src/native/optim/optim.cc). Every variant runs the shared
// per-element arithmetic (optim/adam_math.h), which rounds after each operation, so weights,
// moments and EMA must equal the CPU's bit for bit (tolerance 0).
#include <string>

#include "lab.cuh"
#include "launch.cuh"
#include "ops.h"
#include "optim/adam_math.h"
#include "optim/optim.h"

namespace {

__global__ void thread_element_kernel(uint32_t count, pfgm::optim::AdamCoefs c, float* p,
                                      const float* g, float* m, float* v, float* ema,
                                      float ema_beta) {
  const uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= count) return;
  const float pi = pfgm::optim::adam_element(c, p[i], g[i], &m[i], &v[i]);
  p[i] = pi;
  ema[i] = pfgm::optim::ema_element(ema[i], pi, ema_beta);
}

// The hyperparameters of a step (EDM's CIFAR-10 lr, PyTorch's betas, step 10, clipping scale).
constexpr double kLr = 1e-3, kBeta1 = 0.9, kBeta2 = 0.999, kEps = 1e-8, kEmaBeta = 0.999;
constexpr int64_t kStep = 10;
constexpr float kGradScale = 0.5f;

void run_family(const lab::Options& opt, lab::Report& report) {
  // small: an odd count (a partial block); full: ddpmpp-cifar10's ~56M parameters.
  const int64_t count = opt.size == "small" ? 100003 : 55733763;
  const std::string name = std::to_string(count) + " parameters";
  const std::vector<float> p0 = lab::uniform(count, -0.1f, 0.1f, 21);
  const std::vector<float> g = lab::uniform(count, -1.0f, 1.0f, 22);
  const std::vector<float> m0 = lab::uniform(count, -0.01f, 0.01f, 23);
  const std::vector<float> v0 = lab::uniform(count, 0.0f, 1e-4f, 24);
  const std::vector<float> e0 = lab::uniform(count, -0.1f, 0.1f, 25);
  std::vector<float> p_ref = p0, m_ref = m0, v_ref = v0, e_ref = e0;
  pfgm::optim::adam_step(count, p_ref.data(), g.data(), m_ref.data(), v_ref.data(), kLr, kBeta1,
                         kBeta2, kEps, kStep, kGradScale, e_ref.data(), kEmaBeta);

  lab::Buffer<float> p(count), dg(g), m(count), v(count), ema(count);
  const std::vector<lab::Variant> variants = {
      {"production", "cuda/kernels/optim.cu: Adam and the EMA in one pass",
       [&] {
         pfgm::cuda::adam_step(count, p.get(), dg.get(), m.get(), v.get(), kLr, kBeta1, kBeta2,
                               kEps, kStep, kGradScale, ema.get(), kEmaBeta);
       }},
      {"unfused", "cuda/kernels/optim.cu: adam_step, then ema_update (two passes)",
       [&] {
         pfgm::cuda::adam_step(count, p.get(), dg.get(), m.get(), v.get(), kLr, kBeta1, kBeta2,
                               kEps, kStep, kGradScale, nullptr, 0.0);
         pfgm::cuda::ema_update(count, ema.get(), p.get(), kEmaBeta);
       }},
      {"thread_element", "one element per thread, 32-bit index, no grid-stride loop",
       [&] {
         const pfgm::optim::AdamCoefs c =
             pfgm::optim::adam_coefs(kLr, kBeta1, kBeta2, kEps, kStep, kGradScale);
         const unsigned blocks = static_cast<unsigned>((count + 255) / 256);
         thread_element_kernel<<<blocks, 256>>>(static_cast<uint32_t>(count), c, p.get(), dg.get(),
                                                m.get(), v.get(), ema.get(),
                                                static_cast<float>(kEmaBeta));
         lab::check(cudaGetLastError(), "thread_element launch");
       }},
  };
  lab::run_case(
      opt, report, name, variants,
      [&] {
        p.upload(p0);
        m.upload(m0);
        v.upload(v0);
        ema.upload(e0);
      },
      [&] {
        return std::vector<lab::Check>{
            lab::exact("p", p.download(), p_ref), lab::exact("m", m.download(), m_ref),
            lab::exact("v", v.download(), v_ref), lab::exact("ema", ema.download(), e_ref)};
      });
}

}  // namespace

LAB_FAMILY(adam, "Adam + EMA over the flat parameter buffer (elementwise)", run_family);
