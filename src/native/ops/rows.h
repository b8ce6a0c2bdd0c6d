// Per-row helpers of the denoiser and the mapping network: a batch is `rows` samples of `cols`
// values, and each sample gets its own coefficient (c_in, c_skip, c_out of docs/method.md §2.2) or
// its own reduction (||x||^2 for the adaptive scale, a bias gradient over pixels). Each row is
// computed exactly as the per-sample loop it replaces, so moving a loop here changes no result.
#pragma once

#include <cstdint>

namespace pfgm::cpu {

// y[i, :] = a[i] * x[i, :]   (y may alias x)
void scale_rows(int64_t rows, int64_t cols, const float* a, const float* x, float* y);
// y[i, :] = a[i] * x[i, :] + b[i] * z[i, :]   (y may alias x or z)
void axpby_rows(int64_t rows, int64_t cols, const float* a, const float* x, const float* b,
                const float* z, float* y);
// out[i] = sum_j x[i, j]^2, accumulated in double in j order.
void sumsq_rows(int64_t rows, int64_t cols, const float* x, double* out);
// scale_rows and axpby_rows with the coefficients in the backend's memory (on a GPU, where
// adaptive_coefs wrote them), not on the host.
void scale_rows_dev(int64_t rows, int64_t cols, const float* a, const float* x, float* y);
void axpby_rows_dev(int64_t rows, int64_t cols, const float* a, const float* x, const float* b,
                    const float* z, float* y);
// The adaptive scale's per-sample coefficients (precond_math.h) of x [rows, cols] at the host's
// sigma [rows]: c_in, and c_skip and c_out unless null, from sumsq_rows's norms.
void adaptive_coefs(int64_t rows, int64_t cols, const float* x, const float* sigma,
                    double sigma_data, double d_aware_D, float* c_in, float* c_skip, float* c_out);
// out[j] = sum_i x[i, j], accumulated in double (in i order within fixed chunks of rows, the
// chunks then in order, whatever the thread count), rounded once (also the linear layer's bias
// gradient).
void sum_columns(int64_t rows, int64_t cols, const float* x, float* out);
// y[i, :] = [x[i, cols/2:], x[i, :cols/2]]: EDM swaps the embedding's [cos | sin] to [sin | cos].
void swap_halves(int64_t rows, int64_t cols, const float* x, float* y);

}  // namespace pfgm::cpu
