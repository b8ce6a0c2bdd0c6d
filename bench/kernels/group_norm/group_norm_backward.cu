// Group norm backward (dx, dgamma, dbeta, dshift), fused with the shift before the norm and the
// SiLU after it, on NHWC fp32. Variants (layout and history: README.md beside this file):
//   production  pfgm::cuda::group_norm_backward (cuda/kernels/group_norm.cu): the one-read kernel
//               (a block per (sample, column of whole groups) holds x and dy in registers) where
//               the shape fits it, else the two-pass path
//   two_pass    the same file's two-pass path on every shape: channel sums of dz and dz xhat,
//               coefficients per (sample, group), then a second read of x and dy for dx and dshift
// Reference: pfgm::cpu::group_norm_backward (src/native/ops/group_norm.cc), sums in double, from
// the CPU forward's mean and rstd (which the device variants get too). Tolerances
// (test/gpu/ops-parity.test.ts): every gradient within 5e-5 of its largest magnitude.
#include <string>
#include <vector>

#include "group_norm.cuh"
#include "lab.cuh"
#include "ops.h"
#include "ops/group_norm.h"

namespace {

using pfgm::cuda::GroupNormBackward;
using pfgm::op::GroupNormShape;

struct Case {
  std::string name;
  GroupNormShape shape;
  bool shift;
};

void run_family(const lab::Options& opt, lab::Report& report) {
  std::vector<Case> cases;
  if (opt.size == "small") {  // seconds on the emulator: two one-read shapes, one two-pass
    cases = {
        {"2x8x8x64 g16 silu+shift (one read, 32-ch columns)", {2, 64, 64, 16, 1e-5f, true}, true},
        {"1x20x20x96 g24 (one read, 16-ch columns)", {1, 400, 96, 24, 1e-5f, false}, false},
        {"1x48x48x32 g8 silu+shift (two-pass)", {1, 2304, 32, 8, 1e-5f, true}, true}};
  } else {  // the presets' norms at batch 128 (ddpmpp-cifar10, ddpmpp-small), ffhq64's at 32
    cases = {
        {"128x32x32x256 g32 silu+shift", {128, 1024, 256, 32, 1e-5f, true}, true},
        {"128x32x32x512 g32 silu+shift (512 threads)", {128, 1024, 512, 32, 1e-5f, true}, true},
        {"128x16x16x256 g32 silu+shift", {128, 256, 256, 32, 1e-5f, true}, true},
        {"128x8x8x256 g32 silu+shift", {128, 64, 256, 32, 1e-5f, true}, true},
        {"128x28x28x32 g8 silu+shift", {128, 784, 32, 8, 1e-5f, true}, true},
        {"32x64x64x128 g32 silu+shift (two-pass)", {32, 4096, 128, 32, 1e-5f, true}, true}};
  }
  for (const Case& cs : cases) {
    const GroupNormShape s = cs.shape;
    const int64_t total = s.n * s.hw * s.c, stats = s.n * s.groups;
    // A mean of 2 beside a spread of 1 per element, as the forward family.
    const std::vector<float> x = lab::uniform(total, 0.5f, 3.5f, 1);
    const std::vector<float> shift = lab::uniform(s.n * s.c, -1.0f, 1.0f, 2);
    const std::vector<float> gamma = lab::uniform(s.c, 0.5f, 1.5f, 3);
    const std::vector<float> beta = lab::uniform(s.c, -0.5f, 0.5f, 4);
    const std::vector<float> dy = lab::uniform(total, -1.0f, 1.0f, 5);
    const float* sh_host = cs.shift ? shift.data() : nullptr;
    std::vector<float> y(total), mean(stats), rstd(stats);
    pfgm::cpu::group_norm_forward(s, x.data(), sh_host, gamma.data(), beta.data(), y.data(),
                                  mean.data(), rstd.data());
    std::vector<float> dx_ref(total), dgamma_ref(s.c), dbeta_ref(s.c), dshift_ref(s.n * s.c);
    pfgm::cpu::group_norm_backward(s, x.data(), sh_host, gamma.data(), beta.data(), mean.data(),
                                   rstd.data(), dy.data(), dx_ref.data(), dgamma_ref.data(),
                                   dbeta_ref.data(), cs.shift ? dshift_ref.data() : nullptr);

    lab::Buffer<float> d_x(x), d_shift(shift), d_gamma(gamma), d_beta(beta), d_dy(dy);
    lab::Buffer<float> d_mean(mean), d_rstd(rstd);
    lab::Buffer<float> d_dx(total), d_dgamma(s.c), d_dbeta(s.c), d_dshift(s.n * s.c);
    const float* sh = cs.shift ? d_shift.get() : nullptr;
    auto run = [&](GroupNormBackward path) {
      pfgm::cuda::group_norm_backward_on(path, s, d_x.get(), sh, d_gamma.get(), d_beta.get(),
                                         d_mean.get(), d_rstd.get(), d_dy.get(), d_dx.get(),
                                         d_dgamma.get(), d_dbeta.get(),
                                         cs.shift ? d_dshift.get() : nullptr);
    };
    const bool one_read = pfgm::cuda::group_norm_backward_path(s) == GroupNormBackward::kOneRead;
    const std::vector<lab::Variant> variants = {
        {"production",
         one_read ? "cuda/kernels/group_norm.cu: one read, x and dy held in registers"
                  : "cuda/kernels/group_norm.cu: does not fit one read here, so two-pass",
         [&] { run(pfgm::cuda::group_norm_backward_path(s)); }},
        {"two_pass", "channel sums, coefficients, a second read of x and dy for dx",
         [&] { run(GroupNormBackward::kTwoPass); }},
    };
    lab::run_case(
        opt, report, cs.name, variants,
        [&] {  // NaNs, so an output left unwritten fails its check
          for (float* p : {d_dx.get(), d_dgamma.get(), d_dbeta.get(), d_dshift.get()}) {
            const int64_t count = p == d_dx.get() ? total : p == d_dshift.get() ? s.n * s.c : s.c;
            cudaMemset(p, 0xff, static_cast<size_t>(count) * sizeof(float));
          }
        },
        [&] {
          std::vector<lab::Check> checks = {
              lab::of_largest("dx", d_dx.download(), dx_ref, 5e-5),
              lab::of_largest("dgamma", d_dgamma.download(), dgamma_ref, 5e-5),
              lab::of_largest("dbeta", d_dbeta.download(), dbeta_ref, 5e-5)};
          if (cs.shift)
            checks.push_back(lab::of_largest("dshift", d_dshift.download(), dshift_ref, 5e-5));
          return checks;
        });
  }
}

}  // namespace

LAB_FAMILY(group_norm_backward,
           "group norm backward (+shift, +SiLU), NHWC fp32: one read against two passes",
           run_family);
