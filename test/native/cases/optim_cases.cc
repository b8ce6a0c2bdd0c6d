// Op cases for the optimiser passes (optim.h), so that tests can run Adam, the EMA, gradient
// accumulation and the gradient statistics on either backend with one set of inputs
// (test/gpu/ops-parity.test.ts compares the CUDA twins with these).
#include <algorithm>
#include <cmath>
#include <string>

#include "errors.h"
#include "op_cases.h"
#include "optim/optim.h"

namespace {

using pfgm::opcases::attr;
using pfgm::opcases::Attrs;
using pfgm::opcases::HostTensor;
using pfgm::opcases::input;
using pfgm::opcases::optional_input;
using pfgm::opcases::output;
using pfgm::opcases::Tensors;

// Inputs p, g, m, v (one shape) and optional ema; attrs lr, beta1 (0.9), beta2 (0.999),
// eps (1e-8), t (step from 1), grad_scale (1), ema_beta (with ema). Outputs p, m, v (and ema).
PFGM_OP_CASE("adam_step", [](const Attrs& a, const Tensors& in, Tensors& out) {
  const HostTensor& p = input(in, "p");
  const int64_t count = pfgm::opcases::numel(p.shape);
  for (const char* name : {"g", "m", "v"})
    pfgm::opcases::require_shape("adam_step", name, input(in, name), p.shape);
  const HostTensor* ema = optional_input(in, "ema");
  if (ema != nullptr) pfgm::opcases::require_shape("adam_step", "ema", *ema, p.shape);
  const double t = attr(a, "t", 1.0);
  if (!(t >= 1.0 && t == std::floor(t)))
    pfgm::fail(pfgm::code::kArgument, "adam_step: t must be an integer >= 1");
  float* po = output(out, "p", p.shape);
  float* mo = output(out, "m", p.shape);
  float* vo = output(out, "v", p.shape);
  std::copy(p.data.begin(), p.data.end(), po);
  std::copy(input(in, "m").data.begin(), input(in, "m").data.end(), mo);
  std::copy(input(in, "v").data.begin(), input(in, "v").data.end(), vo);
  float* eo = nullptr;
  if (ema != nullptr) {
    eo = output(out, "ema", p.shape);
    std::copy(ema->data.begin(), ema->data.end(), eo);
  }
  pfgm::optim::adam_step(count, po, input(in, "g").data.data(), mo, vo, attr(a, "lr"),
                         attr(a, "beta1", 0.9), attr(a, "beta2", 0.999), attr(a, "eps", 1e-8),
                         static_cast<int64_t>(t), static_cast<float>(attr(a, "grad_scale", 1.0)),
                         eo, attr(a, "ema_beta", 0.0));
});

// Inputs ema, p; attr beta; output ema = lerp(p, ema, beta).
PFGM_OP_CASE("ema_update", [](const Attrs& a, const Tensors& in, Tensors& out) {
  const HostTensor& e = input(in, "ema");
  pfgm::opcases::require_shape("ema_update", "p", input(in, "p"), e.shape);
  float* eo = output(out, "ema", e.shape);
  std::copy(e.data.begin(), e.data.end(), eo);
  pfgm::optim::ema_update(pfgm::opcases::numel(e.shape), eo, input(in, "p").data.data(),
                          attr(a, "beta"));
});

// Inputs x, y; attr alpha; output y + alpha x.
PFGM_OP_CASE("axpy", [](const Attrs& a, const Tensors& in, Tensors& out) {
  const HostTensor& y = input(in, "y");
  pfgm::opcases::require_shape("axpy", "x", input(in, "x"), y.shape);
  float* yo = output(out, "y", y.shape);
  std::copy(y.data.begin(), y.data.end(), yo);
  pfgm::optim::axpy(pfgm::opcases::numel(y.shape), static_cast<float>(attr(a, "alpha")),
                    input(in, "x").data.data(), yo);
});

// Input g; outputs norm [2] (the double norm as float hi + lo, so tests see its full precision)
// and finite [1] (1 or 0).
PFGM_OP_CASE("grad_stats", [](const Attrs&, const Tensors& in, Tensors& out) {
  const HostTensor& g = input(in, "g");
  const pfgm::optim::GradStats s =
      pfgm::optim::grad_stats(pfgm::opcases::numel(g.shape), g.data.data());
  pfgm::opcases::write_double(out, "norm", s.norm);
  output(out, "finite", {1})[0] = s.finite ? 1.0f : 0.0f;
});

}  // namespace
