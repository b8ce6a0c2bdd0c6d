// The error of the 3x3 convolutions (src/native/ops/conv_winograd.cc and oneDNN's direct path)
// against a float64 direct convolution of the same fp32 inputs, for
// test/native/ops-conv-winograd.test.ts. The data are made here, so the large preset shapes cost
// nothing to carry across the binding.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "errors.h"
#include "op_cases.h"
#include "ops/conv.h"
#include "ops/conv_winograd.h"

namespace pfgm::opcases {
namespace {

// Values in [-scale, scale) from a fixed sequence.
std::vector<float> uniform(int64_t count, uint32_t seed, float scale) {
  std::vector<float> v(static_cast<size_t>(count));
  uint32_t state = seed * 2654435761u + 1u;
  for (float& f : v) {
    state = state * 1664525u + 1013904223u;
    f = (static_cast<float>(state >> 8) / 8388608.0f - 1.0f) * scale;
  }
  return v;
}

struct Reference {
  std::vector<double> value, magnitude;  // the sum, and the sum of the |terms| (incl. |bias|)
};

// out[n, y, x, co] = sum over a, b, ci of src[n, y + a - 1, x + b - 1, ci] k[a][b][co][ci] + bias,
// in float64, for a 3x3 kernel with padding 1.
Reference reference(int64_t n, int64_t h, int64_t w, int64_t c1, int64_t c2,
                    const std::vector<float>& src, const std::vector<double>& k,
                    const float* bias) {
  Reference r;
  r.value.assign(static_cast<size_t>(n * h * w * c2), 0.0);
  r.magnitude.assign(r.value.size(), 0.0);
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < n * h * w; ++p) {
    const int64_t b0 = p / (h * w), y = p / w % h, x = p % w;
    double* out = &r.value[static_cast<size_t>(p * c2)];
    double* mag = &r.magnitude[static_cast<size_t>(p * c2)];
    for (int64_t co = 0; co < c2; ++co) {
      out[co] = bias != nullptr ? bias[co] : 0.0;
      mag[co] = std::fabs(out[co]);
    }
    for (int64_t a = 0; a < 3; ++a) {
      for (int64_t b = 0; b < 3; ++b) {
        const int64_t yy = y + a - 1, xx = x + b - 1;
        if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
        const float* in = &src[static_cast<size_t>(((b0 * h + yy) * w + xx) * c1)];
        for (int64_t co = 0; co < c2; ++co) {
          const double* kk = &k[static_cast<size_t>(((a * 3 + b) * c2 + co) * c1)];
          double sum = 0, abs_sum = 0;
          for (int64_t ci = 0; ci < c1; ++ci) {
            sum += kk[ci] * in[ci];
            abs_sum += std::fabs(kk[ci] * in[ci]);
          }
          out[co] += sum;
          mag[co] += abs_sum;
        }
      }
    }
  }
  return r;
}

// dweight[co][ci][a][b] = sum over n, y, x of dy[n, y, x, co] x[n, y + a - 1, x + b - 1, ci], in
// float64.
Reference weight_reference(const op::Conv2dShape& s, const std::vector<float>& x,
                           const std::vector<float>& dy) {
  Reference r;
  r.value.assign(static_cast<size_t>(s.cout * s.cin * 9), 0.0);
  r.magnitude.assign(r.value.size(), 0.0);
#pragma omp parallel for schedule(static)
  for (int64_t co = 0; co < s.cout; ++co) {
    for (int64_t p = 0; p < s.n * s.h * s.w; ++p) {
      const int64_t b0 = p / (s.h * s.w), y = p / s.w % s.h, xx = p % s.w;
      const double g = dy[static_cast<size_t>(p * s.cout + co)];
      for (int64_t a = 0; a < 3; ++a) {
        for (int64_t b = 0; b < 3; ++b) {
          const int64_t yi = y + a - 1, xi = xx + b - 1;
          if (yi < 0 || yi >= s.h || xi < 0 || xi >= s.w) continue;
          const float* in = &x[static_cast<size_t>(((b0 * s.h + yi) * s.w + xi) * s.cin)];
          for (int64_t ci = 0; ci < s.cin; ++ci) {
            const size_t k = static_cast<size_t>((co * s.cin + ci) * 9 + a * 3 + b);
            r.value[k] += g * in[ci];
            r.magnitude[k] += std::fabs(g * in[ci]);
          }
        }
      }
    }
  }
  return r;
}

// Writes `<name>_ulp<suffix>`: the largest |got - ref| / (2^-24 sum |terms|), the error in units of
// the rounding of each output's own dot product, and `<name>_rel<suffix>`: the largest |got - ref|
// over the largest |ref|.
void write_errors(Tensors& out, const std::string& name, const std::string& suffix,
                  const std::vector<float>& got, const Reference& ref) {
  double worst_ulp = 0, worst_abs = 0, scale = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double d = std::fabs(static_cast<double>(got[i]) - ref.value[i]);
    if (!(d <= worst_abs)) worst_abs = std::isnan(d) ? INFINITY : d;
    const double ulp = d / (std::ldexp(1.0, -24) * std::max(ref.magnitude[i], 1e-30));
    if (!(ulp <= worst_ulp)) worst_ulp = std::isnan(ulp) ? INFINITY : ulp;
    scale = std::max(scale, std::fabs(ref.value[i]));
  }
  write_double(out, name + "_ulp" + suffix, worst_ulp);
  write_double(out, name + "_rel" + suffix, worst_abs / std::max(scale, 1e-30));
}

// attrs n, h, w, cin, cout, tiles (a list of 0: whatever cpu::conv2d_forward / conv2d_backward
// run, which the test sets to the direct path with PFGM_CONV_WINOGRAD=0; 2 or 4: the Winograd
// path), seed. Outputs, per tile t: y_ulp_t, y_rel_t (forward with bias), dx_ulp_t, dx_rel_t
// (backward data), dw_ulp_t, dw_rel_t and db_ulp_t, db_rel_t (backward weights and bias).
void winograd_error(const Attrs& a, const Tensors&, Tensors& out) {
  const auto whole = [&](const char* name) { return static_cast<int64_t>(attr(a, name)); };
  const op::Conv2dShape s{whole("n"), whole("h"), whole("w"), whole("cin"), whole("cout"), 3, 1, 1};
  const auto seed = static_cast<uint32_t>(attr(a, "seed", 1));
  // Inputs of unit size, weights of PyTorch's default initial scale, so outputs are O(1).
  const float wscale = 1.0f / std::sqrt(9.0f * static_cast<float>(s.cin));
  const std::vector<float> x = uniform(s.n * s.h * s.w * s.cin, seed, 1.0f);
  const std::vector<float> weight = uniform(s.cout * s.cin * 9, seed + 1, wscale);
  const std::vector<float> bias = uniform(s.cout, seed + 2, wscale);
  const std::vector<float> dy = uniform(s.n * s.h * s.w * s.cout, seed + 3, 1.0f);

  std::vector<double> kf(weight.size()), kb(weight.size());
  for (int64_t co = 0; co < s.cout; ++co) {
    for (int64_t ci = 0; ci < s.cin; ++ci) {
      for (int64_t t = 0; t < 9; ++t) {
        const double v = weight[static_cast<size_t>((co * s.cin + ci) * 9 + t)];
        kf[static_cast<size_t>((t * s.cout + co) * s.cin + ci)] = v;
        kb[static_cast<size_t>(((8 - t) * s.cin + ci) * s.cout + co)] = v;
      }
    }
  }
  const Reference ry = reference(s.n, s.h, s.w, s.cin, s.cout, x, kf, bias.data());
  const Reference rdx = reference(s.n, s.h, s.w, s.cout, s.cin, dy, kb, nullptr);
  const Reference rdw = weight_reference(s, x, dy);
  Reference rdb;
  for (int64_t co = 0; co < s.cout; ++co) {
    double sum = 0, mag = 0;
    for (int64_t p = 0; p < s.n * s.h * s.w; ++p) {
      sum += dy[static_cast<size_t>(p * s.cout + co)];
      mag += std::fabs(dy[static_cast<size_t>(p * s.cout + co)]);
    }
    rdb.value.push_back(sum);
    rdb.magnitude.push_back(mag);
  }
  for (const double td : attr_list(a, "tiles")) {
    const auto tile = static_cast<int64_t>(td);
    if (tile != 0 && tile != 2 && tile != 4) fail(code::kArgument, "tiles must be 0, 2 or 4");
    std::vector<float> y(dy.size()), dx(x.size()), dw(weight.size()), db(bias.size());
    if (tile == 0) {
      cpu::conv2d_forward(s, x.data(), weight.data(), bias.data(), y.data());
      cpu::conv2d_backward(s, x.data(), weight.data(), dy.data(), dx.data(), dw.data(), db.data());
    } else {
      cpu::winograd::forward(s, tile, x.data(), weight.data(), bias.data(), y.data());
      cpu::winograd::backward_data(s, tile, weight.data(), dy.data(), dx.data());
      cpu::winograd::backward_weights(s, tile, x.data(), dy.data(), dw.data(), db.data());
    }
    const std::string t = "_" + std::to_string(tile);
    write_errors(out, "y", t, y, ry);
    write_errors(out, "dx", t, dx, rdx);
    write_errors(out, "dw", t, dw, rdw);
    write_errors(out, "db", t, db, rdb);
  }
}

PFGM_OP_CASE("conv2d.winograd_error", winograd_error);

}  // namespace
}  // namespace pfgm::opcases
