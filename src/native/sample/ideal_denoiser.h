// The ideal denoiser of docs/method.md §2.4 as a model: the exact posterior mean E[y | x, sigma]
// over a fixed reference set, for any D > 0 or D = inf, optionally class-conditional (the posterior
// over the references of one class), and its input vector-Jacobian product for the likelihood.
//
// Inputs and outputs are fp32 [queries, n] row-major; sigma is one double per query. Everything
// is accumulated in double (objectives/field_targets.h does the weights in log space).
#pragma once

#include <cstdint>
#include <vector>

namespace pfgm::sample {

class IdealDenoiser {
 public:
  // refs [count, n]; classes (empty, or one class index in [0, label_dim) per reference).
  IdealDenoiser(std::vector<float> refs, int64_t n, double D, const std::vector<int32_t>& classes,
                int64_t label_dim);

  int64_t n() const { return n_; }
  int64_t count() const { return static_cast<int64_t>(refs_.size()) / n_; }
  int64_t label_dim() const { return label_dim_; }
  double D() const { return D_; }

  // out[i] = E[y | x_i, sigma_i] over the references of class cls[i] (every reference when cls is
  // null or cls[i] = -1, the unconditional posterior).
  void denoise(int64_t queries, const float* x, const double* sigma, const int32_t* cls,
               float* out) const;

  // vjp[i] = v_i^T dE[y | x_i, sigma_i] / dx_i and denoised[i] = E[y | x_i, sigma_i].
  void input_vjp(int64_t queries, const float* x, const double* sigma, const int32_t* cls,
                 const float* v, float* vjp, float* denoised) const;

 private:
  // Runs fn(first_ref, ref_count, indices of the queries of that class) once per class present.
  template <typename F>
  void by_class(int64_t queries, const int32_t* cls, F&& fn) const;

  std::vector<float> refs_;       // sorted by class, stable (the caller's order within a class)
  std::vector<int64_t> offsets_;  // class c holds refs [offsets_[c], offsets_[c + 1])
  int64_t n_;
  double D_;
  int64_t label_dim_;
};

// The input VJP of the posterior mean m(x) = sum_j w_j y_j (docs/method.md (2.4)):
//   d log w_j / dx = c_j (y_j - x) - sum_k w_k c_k (y_k - x),
//   c_j = (n + D) / (||x - y_j||^2 + r^2)   (finite D, r = sigma sqrt(D)),   c_j = 1 / sigma^2 (D =
//   inf)
// so v^T dm/dx = sum_j w_j (v . (y_j - m)) c_j (y_j - x)  (the mean term cancels since
// sum_j w_j (v . (y_j - m)) = 0). mean (nullable) receives m.
void posterior_mean_vjp(int64_t queries, int64_t refs, int64_t n, double D, const float* x,
                        const float* y, const double* sigma, const float* v, float* vjp,
                        float* mean);

}  // namespace pfgm::sample
