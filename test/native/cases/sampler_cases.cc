// Op cases for the sampler's fused kernels (sampler.h), so tests can run them on either backend
// (test/gpu/ops-parity.test.ts compares the CUDA twins with these).
#include <string>
#include <vector>

#include "errors.h"
#include "op_cases.h"
#include "sample/sampler.h"
#include "sample/sampler_math.h"

namespace {

using pfgm::opcases::attr;
using pfgm::opcases::Attrs;
using pfgm::opcases::HostTensor;
using pfgm::opcases::input;
using pfgm::opcases::output;
using pfgm::opcases::Tensors;

// Inputs t0 .. t{k-1} (one shape, 1 <= k <= kMaxCombineTerms); attr coefs [k]; output out.
PFGM_OP_CASE("linear_combination", [](const Attrs& a, const Tensors& in, Tensors& out) {
  const std::vector<double> coefs = pfgm::opcases::attr_list(a, "coefs");
  const int terms = static_cast<int>(coefs.size());
  if (terms < 1 || terms > pfgm::kMaxCombineTerms) {
    pfgm::fail(pfgm::code::kArgument,
               "linear_combination: 1 to " + std::to_string(pfgm::kMaxCombineTerms) + " coefs");
  }
  const HostTensor& first = input(in, "t0");
  std::vector<const float*> ptrs;
  for (int t = 0; t < terms; ++t) {
    const std::string name = "t" + std::to_string(t);
    pfgm::opcases::require_shape("linear_combination", name, input(in, name), first.shape);
    ptrs.push_back(input(in, name).data.data());
  }
  pfgm::cpu::linear_combination_f32(pfgm::opcases::numel(first.shape), terms, coefs.data(),
                                    ptrs.data(), output(out, "out", first.shape));
});

// The streams of a sampler draw from attrs seed (or seeds [count]), sample_offset, step.
pfgm::SampleStreams streams_of(const Attrs& a, int64_t count, std::vector<uint64_t>& seeds) {
  pfgm::SampleStreams s{};
  s.seed = static_cast<uint64_t>(attr(a, "seed", 0.0));
  s.sample_offset = static_cast<uint64_t>(attr(a, "sample_offset", 0.0));
  s.step = static_cast<uint32_t>(attr(a, "step", 0.0));
  if (a.count("seeds") != 0) {
    for (double v : a.at("seeds")) seeds.push_back(static_cast<uint64_t>(v));
    if (static_cast<int64_t>(seeds.size()) != count) {
      pfgm::fail(pfgm::code::kShape, "sampler case: seeds must hold one seed per sample");
    }
    s.seeds = seeds.data();
  }
  return s;
}

// Input x [count, ...]; attrs scale, seed | seeds, sample_offset, step; output out.
PFGM_OP_CASE("churn_noise", [](const Attrs& a, const Tensors& in, Tensors& out) {
  const HostTensor& x = input(in, "x");
  pfgm::opcases::require_batch("churn_noise", "x", x);
  const int64_t count = x.shape[0], n = pfgm::opcases::numel(x.shape) / count;
  std::vector<uint64_t> seeds;
  const pfgm::SampleStreams s = streams_of(a, count, seeds);
  pfgm::cpu::churn_noise_f32(x.data.data(), output(out, "out", x.shape), count, n, attr(a, "scale"),
                             s);
});

// attrs count, n, seed | seeds, sample_offset, step; output out [count, n] of +-1.
PFGM_OP_CASE("rademacher", [](const Attrs& a, const Tensors&, Tensors& out) {
  const int64_t count = static_cast<int64_t>(attr(a, "count"));
  const int64_t n = static_cast<int64_t>(attr(a, "n"));
  if (count < 1 || n < 1 || count * n > (int64_t{1} << 28)) {
    pfgm::fail(pfgm::code::kShape, "rademacher: count and n must be >= 1 with count * n <= 2^28");
  }
  std::vector<uint64_t> seeds;
  const pfgm::SampleStreams s = streams_of(a, count, seeds);
  pfgm::cpu::rademacher_f32(output(out, "out", {count, n}), count, n, s);
});

}  // namespace
