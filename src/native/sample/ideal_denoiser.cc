// The ideal denoiser (docs/method.md §2.4): class grouping around the posterior-mean kernel of
// objectives/field_targets, and the kernel's input VJP (see ideal_denoiser.h for the formula).
#include "ideal_denoiser.h"

#include <omp.h>

#include <cmath>
#include <string>

#include "../errors.h"
#include "../objectives/field_targets.h"

namespace pfgm::sample {

IdealDenoiser::IdealDenoiser(std::vector<float> refs, int64_t n, double D,
                             const std::vector<int32_t>& classes, int64_t label_dim)
    : n_(n), D_(D), label_dim_(label_dim) {
  if (n < 1) fail(code::kShape, "the ideal denoiser needs samples of at least one element");
  const int64_t count = static_cast<int64_t>(refs.size()) / n;
  if (count < 1 || count * n != static_cast<int64_t>(refs.size()))
    fail(code::kShape, "the reference set must hold a whole number (>= 1) of samples of " +
                           std::to_string(n) + " values");
  if (!(D > 0)) fail(code::kArgument, "D must be > 0 or Infinity");
  for (const float v : refs)
    if (!std::isfinite(v)) fail(code::kArgument, "the reference set holds a non-finite value");
  if (classes.empty()) {
    if (label_dim != 0) fail(code::kArgument, "labelDim > 0 needs one class per reference");
    refs_ = std::move(refs);
    offsets_ = {0, count};
    return;
  }
  if (static_cast<int64_t>(classes.size()) != count)
    fail(code::kShape, "give one class per reference (" + std::to_string(count) + ")");
  if (label_dim < 1) fail(code::kArgument, "class labels need labelDim >= 1");
  // Counting sort by class: each class becomes one contiguous block of references.
  offsets_.assign(static_cast<size_t>(label_dim + 1), 0);
  for (const int32_t c : classes) {
    if (c < 0 || c >= label_dim)
      fail(code::kArgument,
           "class " + std::to_string(c) + " is outside [0, " + std::to_string(label_dim) + ")");
    ++offsets_[static_cast<size_t>(c) + 1];
  }
  for (int64_t c = 0; c < label_dim; ++c) offsets_[c + 1] += offsets_[c];
  std::vector<int64_t> next(offsets_.begin(), offsets_.end() - 1);
  refs_.resize(refs.size());
  for (int64_t j = 0; j < count; ++j) {
    const int64_t slot = next[static_cast<size_t>(classes[j])]++;
    std::copy(refs.begin() + j * n, refs.begin() + (j + 1) * n, refs_.begin() + slot * n);
  }
}

template <typename F>
void IdealDenoiser::by_class(int64_t queries, const int32_t* cls, F&& fn) const {
  const int64_t total = count();
  std::vector<std::vector<int64_t>> groups(static_cast<size_t>(label_dim_ + 1));
  for (int64_t i = 0; i < queries; ++i) {
    const int32_t c = cls == nullptr ? -1 : cls[i];
    if (c < -1 || c >= label_dim_)
      fail(code::kArgument, "class " + std::to_string(c) + " of query " + std::to_string(i) +
                                " is outside [-1, " + std::to_string(label_dim_) + ")");
    groups[static_cast<size_t>(c + 1)].push_back(i);
  }
  for (int64_t g = 0; g <= label_dim_; ++g) {
    const std::vector<int64_t>& idx = groups[static_cast<size_t>(g)];
    if (idx.empty()) continue;
    const int64_t first = g == 0 ? 0 : offsets_[g - 1];
    const int64_t refs = g == 0 ? total : offsets_[g] - offsets_[g - 1];
    if (refs == 0)
      fail(code::kArgument, "class " + std::to_string(g - 1) + " has no reference samples");
    fn(first, refs, idx);
  }
}

namespace {

// Gathers rows `idx` of a [*, n] array (or returns the array itself when idx is 0..queries-1).
template <typename T>
const T* gather(const T* src, int64_t n, const std::vector<int64_t>& idx, int64_t queries,
                std::vector<T>& buf) {
  if (static_cast<int64_t>(idx.size()) == queries) return src;  // one group: already in order
  buf.resize(idx.size() * static_cast<size_t>(n));
  for (size_t r = 0; r < idx.size(); ++r)
    std::copy(src + idx[r] * n, src + (idx[r] + 1) * n, buf.begin() + static_cast<int64_t>(r) * n);
  return buf.data();
}

void scatter(const float* src, int64_t n, const std::vector<int64_t>& idx, int64_t queries,
             float* dst) {
  if (static_cast<int64_t>(idx.size()) == queries) return;  // written in place
  for (size_t r = 0; r < idx.size(); ++r)
    std::copy(src + static_cast<int64_t>(r) * n, src + static_cast<int64_t>(r + 1) * n,
              dst + idx[r] * n);
}

}  // namespace

void IdealDenoiser::denoise(int64_t queries, const float* x, const double* sigma,
                            const int32_t* cls, float* out) const {
  by_class(queries, cls, [&](int64_t first, int64_t refs, const std::vector<int64_t>& idx) {
    std::vector<float> xb, ob;
    std::vector<double> sb;
    const int64_t q = static_cast<int64_t>(idx.size());
    const float* xs = gather(x, n_, idx, queries, xb);
    const double* ss = gather(sigma, 1, idx, queries, sb);
    float* os = q == queries ? out : (ob.resize(static_cast<size_t>(q * n_)), ob.data());
    cpu::posterior_mean(q, refs, n_, D_, xs, refs_.data() + first * n_, ss, os);
    scatter(os, n_, idx, queries, out);
  });
}

void IdealDenoiser::input_vjp(int64_t queries, const float* x, const double* sigma,
                              const int32_t* cls, const float* v, float* vjp,
                              float* denoised) const {
  by_class(queries, cls, [&](int64_t first, int64_t refs, const std::vector<int64_t>& idx) {
    std::vector<float> xb, vb, ob, mb;
    std::vector<double> sb;
    const int64_t q = static_cast<int64_t>(idx.size());
    const bool whole = q == queries;
    const float* xs = gather(x, n_, idx, queries, xb);
    const float* vs = gather(v, n_, idx, queries, vb);
    const double* ss = gather(sigma, 1, idx, queries, sb);
    float* os = whole ? vjp : (ob.resize(static_cast<size_t>(q * n_)), ob.data());
    float* ms = whole ? denoised : (mb.resize(static_cast<size_t>(q * n_)), mb.data());
    posterior_mean_vjp(q, refs, n_, D_, xs, refs_.data() + first * n_, ss, vs, os, ms);
    scatter(os, n_, idx, queries, vjp);
    scatter(ms, n_, idx, queries, denoised);
  });
}

void posterior_mean_vjp(int64_t queries, int64_t refs, int64_t n, double D, const float* x,
                        const float* y, const double* sigma, const float* v, float* vjp,
                        float* mean) {
  // The normalised log-weights of every (query, reference) pair, from the same log-space kernel
  // as the denoiser itself, so the VJP is the derivative of exactly what denoise() returns.
  std::vector<double> logw(static_cast<size_t>(queries * refs));
  cpu::posterior_log_weights(queries, refs, n, D, x, y, sigma, logw.data());
  const bool gaussian = std::isinf(D);
  const int threads = omp_get_max_threads();
  // Per thread: the weights row, the mean and the VJP accumulator (allocated here so a failed
  // allocation throws before the parallel region).
  std::vector<double> scratch(static_cast<size_t>((refs + 2 * n) * threads));
#pragma omp parallel for schedule(static) if (queries > 1 && queries * refs * n >= 32768)
  for (int64_t i = 0; i < queries; ++i) {
    double* w = scratch.data() + (refs + 2 * n) * omp_get_thread_num();
    double* m = w + refs;
    double* acc = m + n;
    const float* xi = x + i * n;
    const float* vi = v + i * n;
    std::fill(m, m + n, 0.0);
    std::fill(acc, acc + n, 0.0);
    for (int64_t j = 0; j < refs; ++j) {
      w[j] = std::exp(logw[i * refs + j]);
      if (w[j] == 0.0) continue;
      const float* yj = y + j * n;
      for (int64_t k = 0; k < n; ++k) m[k] += w[j] * static_cast<double>(yj[k]);
    }
    const double s = sigma[i];
    for (int64_t j = 0; j < refs; ++j) {
      if (w[j] == 0.0) continue;
      const float* yj = y + j * n;
      double a = 0.0, d2 = 0.0;
      for (int64_t k = 0; k < n; ++k) {
        a += static_cast<double>(vi[k]) * (static_cast<double>(yj[k]) - m[k]);
        const double e = static_cast<double>(yj[k]) - static_cast<double>(xi[k]);
        d2 += e * e;
      }
      // c_j = (n + D) / (d2 + sigma^2 D), written as (n / D + 1) / (d2 / D + sigma^2) so that
      // neither sigma^2 D nor n + D overflows or loses the n at huge D; D = inf gives 1 / sigma^2.
      const double c =
          gaussian ? 1.0 / (s * s) : (static_cast<double>(n) / D + 1.0) / (d2 / D + s * s);
      const double f = w[j] * a * c;
      for (int64_t k = 0; k < n; ++k)
        acc[k] += f * (static_cast<double>(yj[k]) - static_cast<double>(xi[k]));
    }
    for (int64_t k = 0; k < n; ++k) {
      vjp[i * n + k] = static_cast<float>(acc[k]);
      if (mean != nullptr) mean[i * n + k] = static_cast<float>(m[k]);
    }
  }
}

}  // namespace pfgm::sample
