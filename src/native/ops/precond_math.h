// EDM's preconditioning coefficients (docs/method.md §2.2) with the adaptive scale of
// nn::PrecondConfig, compiled by g++ for the denoiser's host path and the CPU op
// (rows.h's adaptive_coefs) and by nvcc for its CUDA twin, so that a sampling run can compute
// them on the device, inside a CUDA graph, from norms it never reads back. Every product that
// meets a sum is rounded on its own (fp::d*), as g++ does on baseline x86-64: the device then
// turns the same norm and sigma into the same coefficients, and the CPU's are what they were
// when the host computed them inline.
#pragma once

#include <cmath>

#include "rounding.h"

namespace pfgm::precond {

// The squared noise scale of a sample of squared norm `sumsq` over `per` values:
// max(sigma^2, ||x||^2 / N - sigma_data^2), as std::max picks it (sigma^2 unless it is smaller).
PFGM_HD double adaptive_scale2(double sigma, double sumsq, double per, double sigma_data) {
  const double s2 = fp::dmul(sigma, sigma);
  const double u = fp::dsub(sumsq / per, fp::dmul(sigma_data, sigma_data));
  return s2 < u ? u : s2;
}

struct Coefs {
  float c_skip, c_out, c_in;
};

// c_skip, c_out and c_in at squared noise scale s2. d_aware_D > 2 asks for the D-aware input
// scale c_in = 1 / sqrt(s2 D / (D - 2) + sigma_data^2); anything else (0, infinity) for EDM's.
PFGM_HD Coefs coefs(double s2, double sigma_data, double d_aware_D) {
  const double sd = sigma_data, sd2 = fp::dmul(sd, sd);
  const double scale = sqrt(s2);
  double var_in = fp::dadd(s2, sd2);
  if (d_aware_D > 2) var_in = fp::dadd(fp::dmul(s2, d_aware_D) / (d_aware_D - 2), sd2);
  return Coefs{static_cast<float>(sd2 / fp::dadd(s2, sd2)),
               static_cast<float>(fp::dmul(scale, sd) / sqrt(fp::dadd(s2, sd2))),
               static_cast<float>(1.0 / sqrt(var_in))};
}

}  // namespace pfgm::precond
