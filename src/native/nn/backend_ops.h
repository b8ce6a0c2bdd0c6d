// The one list of the ops a network runs on a backend (nn/backend.h). Everything that repeats an
// op's signature is generated from it:
//   - the declarations of the CPU references pfgm::cpu::name (below the list), for every kind
//     but CUSTOM;
//   - the pure virtuals of nn::Backend (backend.h);
//   - the CPU backend's overrides, forwarding to pfgm::cpu:: (backend_cpu.cc);
//   - the CUDA backend's overrides, forwarding to the pfgm::cuda:: twins under a PFGM_PROFILE
//     timer (cuda/backend.cu);
//   - the guarded test device's overrides: the pointer checks below, then the CPU op
//     (backend_guarded.cc);
//   - the pfgm::cuda:: declarations of the CUDA twins (cuda/ops.h);
//   - the fake-CUDA test addon's stand-ins for those twins (test/native/fakecuda/fake_runtime.cc);
//   - a generic test entry per op, op case `backend.name` on every device of the test addons
//     (test/native/cases/backend_cases.cc; test/native/backend-ops.test.ts runs them).
// The memory ops (allocate, release, copy, fill, upload, download) are written by hand in each
// backend.
//
// Adding an op `foo` therefore means touching 4 files:
//   1. its CPU reference: the definition of pfgm::cpu::foo in an ops/*.cc (the list declares it;
//      a type the op takes that no header below defines yet needs that header included here);
//   2. its CUDA twin: pfgm::cuda::foo with the same signature, in a cuda/kernels/*.cu (device
//      pointers; cuda/ops.h declares it);
//   3. one entry below (kind PLAIN in the common case);
//   4. its test: a row of the table in test/native/backend-ops.test.ts, which runs op case
//      `backend.foo` on every device against a reference written in TypeScript (test/gpu for the
//      kernel's parity on a GPU).
// Nothing else: backend.h, backend_cpu.cc, cuda/backend.cu, backend_guarded.cc, cuda/ops.h,
// fake_runtime.cc and backend_cases.cc pick it up (a parameter of a struct type that
// backend_cases.cc has no converter for yet asks for one there). Only kinds other than PLAIN, MATH
// and ATTENTION ask for more: their overrides are written by hand, in the marked section of
// cuda/backend.cu (CUDA_CUSTOM) and of backend_cpu.cc too (CUSTOM), and their CUDA twins (whose
// contract differs from the backend's) are declared in cuda/ops.h and faked in fake_runtime.cc
// by hand; a CUSTOM op's CPU reference is declared by hand too (in its ops/*.h).
//
// One entry: X(kind, return type, name, profile label, (parameters), (arguments), checks)
//   kind     PLAIN        cpu::name and cuda::name take the backend's arguments.
//            MATH         as PLAIN, and the CUDA twin takes the backend's precision as a trailing
//                         cuda::MathMode; the profile label gets the shape (s) appended.
//            ATTENTION    as MATH, but the CUDA backend runs cuda::name_blas (cuBLAS, with the
//                         math mode) or the tiled cuda::name (fp32), see cuda/backend.cu.
//            CUDA_CUSTOM  the CPU backend forwards as for PLAIN; the CUDA override is written by
//                         hand (host arrays staged through device scratch, results downloaded,
//                         or a kernel under another name).
//            CUSTOM       both the CPU and the CUDA overrides are written by hand (the CPU op's
//                         signature differs from the backend's).
//   label    the CUDA backend's PFGM_PROFILE timer name (bench/gpu-profile.mjs reads the gpu:
//            prefix), or nullptr for an op that is not timed on its own.
//   (arguments)  the parameters' names, in order.
//   checks   each pointer's contract, which the guarded device enforces: IN / OUT (device memory,
//            non-null, `count` floats), OPT (the same, or null) and HOST (host memory, `count`
//            elements of the pointer's type, for a parameter documented as host; `what` names it
//            in the error message). A uint32_t pointer (dropout's mask) counts 32-bit words, in
//            backend memory allocated as floats. The generic test entries size their arrays from
//            the counts.
// Every pointer is in the backend's memory unless it is checked HOST: per-sample coefficients
// (sigma, loss weights, per-row factors) are computed on the host and are a few floats per sample,
// except the adaptive scale's, which depend on the rows' norms (adaptive_coefs, the *_dev ops).
#pragma once

#include <cstdint>

// The shapes and types the ops take (and the hand-written declarations of some CPU references).
#include "../ops/activation.h"
#include "../ops/attention.h"
#include "../ops/conv.h"
#include "../ops/conv_inference.h"
#include "../ops/elementwise.h"
#include "../ops/embedding.h"
#include "../ops/group_norm.h"
#include "../ops/linear.h"
#include "../ops/loss.h"
#include "../ops/modulate.h"
#include "../ops/pool.h"
#include "../ops/resample.h"
#include "../ops/resize.h"
#include "../ops/rows.h"
#include "../optim/optim.h"
#include "../physics/noise.h"
#include "../physics/physics.h"

// (a, b, c) -> a, b, c: for the generators that append a parameter to a list.
#define PFGM_OP_UNPAREN(...) __VA_ARGS__

// clang-format off
#define PFGM_BACKEND_OPS(X)                                                                        \
  /* --- the heavy ops ---------------------------------------------------------------------- */ \
  X(MATH, void, linear_forward, "gpu:linear.forward",                                             \
    (const op::LinearShape& s, const float* x, const float* weight, const float* bias, float* y), \
    (s, x, weight, bias, y),                                                                      \
    IN(x, s.rows * s.in) IN(weight, s.out * s.in) OPT(bias, s.out) OUT(y, s.rows * s.out))        \
  X(MATH, void, linear_backward, "gpu:linear.backward",                                           \
    (const op::LinearShape& s, const float* x, const float* weight, const float* dy, float* dx,   \
     float* dweight, float* dbias),                                                               \
    (s, x, weight, dy, dx, dweight, dbias),                                                       \
    IN(x, s.rows * s.in) IN(weight, s.out * s.in) IN(dy, s.rows * s.out)                          \
    OPT(dx, s.rows * s.in) OPT(dweight, s.out * s.in) OPT(dbias, s.out))                          \
  X(MATH, void, conv2d_forward, "gpu:conv.forward",                                               \
    (const op::Conv2dShape& s, const float* x, const float* weight, const float* bias, float* y), \
    (s, x, weight, bias, y),                                                                      \
    IN(x, s.n * s.h * s.w * s.cin) IN(weight, s.cout * s.cin * s.k * s.k) OPT(bias, s.cout)       \
    OUT(y, s.n * s.oh() * s.ow() * s.cout))                                                       \
  /* x is needed only for dweight. */                                                             \
  X(MATH, void, conv2d_backward, "gpu:conv.backward",                                             \
    (const op::Conv2dShape& s, const float* x, const float* weight, const float* dy, float* dx,   \
     float* dweight, float* dbias),                                                               \
    (s, x, weight, dy, dx, dweight, dbias),                                                       \
    OPT(x, s.n * s.h * s.w * s.cin) IN(weight, s.cout * s.cin * s.k * s.k)                        \
    IN(dy, s.n * s.oh() * s.ow() * s.cout) OPT(dx, s.n * s.h * s.w * s.cin)                       \
    OPT(dweight, s.cout * s.cin * s.k * s.k) OPT(dbias, s.cout))                                  \
  /* weights may be null for inference. */                                                        \
  X(ATTENTION, void, attention_forward, "gpu:attention.forward",                                  \
    (const op::AttentionShape& s, const float* qkv, float* out, float* weights),                  \
    (s, qkv, out, weights),                                                                       \
    IN(qkv, s.n * s.hw * 3 * s.c) OUT(out, s.n * s.hw * s.c)                                      \
    OPT(weights, s.n * s.heads * s.hw * s.hw))                                                    \
  X(ATTENTION, void, attention_backward, "gpu:attention.backward",                                \
    (const op::AttentionShape& s, const float* qkv, const float* weights, const float* dout,      \
     float* dqkv),                                                                                \
    (s, qkv, weights, dout, dqkv),                                                                \
    IN(qkv, s.n * s.hw * 3 * s.c) IN(weights, s.n * s.heads * s.hw * s.hw)                        \
    IN(dout, s.n * s.hw * s.c) OUT(dqkv, s.n * s.hw * 3 * s.c))                                   \
  /* FIR resampling; the shape's filter taps are on the host (the CUDA twin takes them by */      \
  /* value, <= 8 taps). */                                                                        \
  X(PLAIN, void, fir_down_forward, "gpu:fir.down.forward",                                        \
    (const op::ResampleShape& s, const float* x, float* y), (s, x, y),                            \
    HOST(s.f, s.taps, "taps") IN(x, s.in.n * s.in.h * s.in.w * s.in.c)                            \
    OUT(y, s.in.n * s.down_h() * s.down_w() * s.in.c))                                            \
  X(PLAIN, void, fir_down_backward, "gpu:fir.down.backward",                                      \
    (const op::ResampleShape& s, const float* dy, float* dx), (s, dy, dx),                        \
    HOST(s.f, s.taps, "taps") IN(dy, s.in.n * s.down_h() * s.down_w() * s.in.c)                   \
    OUT(dx, s.in.n * s.in.h * s.in.w * s.in.c))                                                   \
  X(PLAIN, void, fir_up_forward, "gpu:fir.up.forward",                                            \
    (const op::ResampleShape& s, const float* x, float* y), (s, x, y),                            \
    HOST(s.f, s.taps, "taps") IN(x, s.in.n * s.in.h * s.in.w * s.in.c)                            \
    OUT(y, s.in.n * s.up_h() * s.up_w() * s.in.c))                                                \
  X(PLAIN, void, fir_up_backward, "gpu:fir.up.backward",                                          \
    (const op::ResampleShape& s, const float* dy, float* dx), (s, dy, dx),                        \
    HOST(s.f, s.taps, "taps") IN(dy, s.in.n * s.up_h() * s.up_w() * s.in.c)                       \
    OUT(dx, s.in.n * s.in.h * s.in.w * s.in.c))                                                   \
  X(PLAIN, void, group_norm_forward, "gpu:group_norm.forward",                                    \
    (const op::GroupNormShape& s, const float* x, const float* shift, const float* gamma,         \
     const float* beta, float* y, float* mean, float* rstd),                                      \
    (s, x, shift, gamma, beta, y, mean, rstd),                                                    \
    IN(x, s.n * s.hw * s.c) OPT(shift, s.n * s.c) IN(gamma, s.c) IN(beta, s.c)                    \
    OUT(y, s.n * s.hw * s.c) OUT(mean, s.n * s.groups) OUT(rstd, s.n * s.groups))                 \
  X(PLAIN, void, group_norm_backward, "gpu:group_norm.backward",                                  \
    (const op::GroupNormShape& s, const float* x, const float* shift, const float* gamma,         \
     const float* beta, const float* mean, const float* rstd, const float* dy, float* dx,         \
     float* dgamma, float* dbeta, float* dshift),                                                 \
    (s, x, shift, gamma, beta, mean, rstd, dy, dx, dgamma, dbeta, dshift),                        \
    IN(x, s.n * s.hw * s.c) OPT(shift, s.n * s.c) IN(gamma, s.c) IN(beta, s.c)                    \
    IN(mean, s.n * s.groups) IN(rstd, s.n * s.groups) IN(dy, s.n * s.hw * s.c)                    \
    OUT(dx, s.n * s.hw * s.c) OPT(dgamma, s.c) OPT(dbeta, s.c) OPT(dshift, s.n * s.c))            \
  /* Inference only (the FID Inception, nn/inception.h): weight [cout, kh, kw, cin] (OHWI).   */ \
  X(MATH, void, conv2d_inference_forward, "gpu:conv_inference.forward",                           \
    (const op::ConvInferenceShape& s, const float* x, const float* weight, const float* bias,     \
     float* y),                                                                                   \
    (s, x, weight, bias, y),                                                                      \
    IN(x, s.n * s.h * s.w * s.g.cin) IN(weight, s.g.cout * s.g.kh * s.g.kw * s.g.cin)             \
    OPT(bias, s.g.cout) OUT(y, s.n * s.oh() * s.ow() * s.g.cout))                                 \
  X(PLAIN, void, max_pool2d_forward, "gpu:pool.max",                                              \
    (const op::Pool2dShape& s, const float* x, float* y), (s, x, y),                              \
    IN(x, s.in.numel()) OUT(y, s.in.n * s.oh() * s.ow() * s.in.c))                                \
  X(PLAIN, void, avg_pool2d_forward, "gpu:pool.avg",                                              \
    (const op::Pool2dShape& s, bool count_include_pad, const float* x, float* y),                 \
    (s, count_include_pad, x, y),                                                                 \
    IN(x, s.in.numel()) OUT(y, s.in.n * s.oh() * s.ow() * s.in.c))                                \
  X(PLAIN, void, adaptive_avg_pool2d_forward, "gpu:pool.adaptive_avg",                            \
    (const op::Nhwc& in, int64_t oh, int64_t ow, const float* x, float* y), (in, oh, ow, x, y),   \
    IN(x, in.numel()) OUT(y, in.n * oh * ow * in.c))                                              \
  X(PLAIN, void, resize_bilinear_forward, "gpu:resize.bilinear",                                  \
    (const op::Nhwc& in, int64_t oh, int64_t ow, const float* x, float* y), (in, oh, ow, x, y),   \
    IN(x, in.numel()) OUT(y, in.n * oh * ow * in.c))                                              \
                                                                                                  \
  /* --- memory-bound ops ------------------------------------------------------------------- */ \
  X(PLAIN, void, silu_forward, "gpu:silu.forward",                                                \
    (int64_t count, const float* x, float* y), (count, x, y),                                     \
    IN(x, count) OUT(y, count))                                                                   \
  X(PLAIN, void, silu_backward, "gpu:silu.backward",                                              \
    (int64_t count, const float* x, const float* dy, float* dx), (count, x, dy, dx),              \
    IN(x, count) IN(dy, count) OUT(dx, count))                                                    \
  /* mask: the keep-mask as bits (activation.h), written by the forward and read by the       */ \
  /* backward; null draws it again from the Philox stream.                                    */ \
  X(PLAIN, void, dropout_forward, "gpu:dropout.forward",                                          \
    (const op::DropoutSpec& s, const float* x, float* y, uint32_t* mask), (s, x, y, mask),        \
    IN(x, s.samples * s.per_sample) OUT(y, s.samples * s.per_sample)                              \
    OPT(mask, s.samples * op::dropout_mask_words(s.per_sample)) OPT(s.step_at, 1))                \
  X(PLAIN, void, dropout_backward, "gpu:dropout.backward",                                        \
    (const op::DropoutSpec& s, const uint32_t* mask, const float* dy, float* dx),                 \
    (s, mask, dy, dx),                                                                            \
    OPT(mask, s.samples * op::dropout_mask_words(s.per_sample)) OPT(s.step_at, 1)                 \
    IN(dy, s.samples * s.per_sample) OUT(dx, s.samples * s.per_sample))                           \
  X(PLAIN, void, axpby, "gpu:axpby",                                                              \
    (int64_t count, float alpha, const float* a, float beta, const float* b, float* y),           \
    (count, alpha, a, beta, b, y),                                                                \
    IN(a, count) IN(b, count) OUT(y, count))                                                      \
  X(PLAIN, void, scale, "gpu:scale",                                                              \
    (int64_t count, float alpha, const float* a, float* y), (count, alpha, a, y),                 \
    IN(a, count) OUT(y, count))                                                                   \
  X(PLAIN, void, concat_channels, "gpu:concat_channels",                                          \
    (int64_t pixels, int64_t ca, const float* a, int64_t cb, const float* b, float* y),           \
    (pixels, ca, a, cb, b, y),                                                                    \
    IN(a, pixels * ca) IN(b, pixels * cb) OUT(y, pixels * (ca + cb)))                             \
  /* y[p, offset + j] = x[p, j] for j < c: one part of a concatenation of several, in place. */ \
  X(PLAIN, void, place_channels, "gpu:place_channels",                                            \
    (int64_t pixels, int64_t c, const float* x, int64_t cy, int64_t offset, float* y),            \
    (pixels, c, x, cy, offset, y),                                                                \
    IN(x, pixels * c) OUT(y, pixels * cy))                                                        \
  X(PLAIN, void, split_channels, "gpu:split_channels",                                            \
    (int64_t pixels, int64_t ca, float* da, int64_t cb, float* db, const float* dy),              \
    (pixels, ca, da, cb, db, dy),                                                                 \
    OPT(da, pixels * ca) OPT(db, pixels * cb) IN(dy, pixels * (ca + cb)))                         \
  X(PLAIN, void, add_channel_bias, "gpu:add_channel_bias",                                        \
    (int64_t n, int64_t hw, int64_t c, const float* x, const float* bias, float* y),              \
    (n, hw, c, x, bias, y),                                                                       \
    IN(x, n * hw * c) IN(bias, n * c) OUT(y, n * hw * c))                                         \
  /* EDM's adaptive scale (ops/modulate.h): params [n, 2c] = [scale | shift] per sample. */         \
  X(PLAIN, void, modulate_forward, "gpu:modulate.forward",                                        \
    (int64_t n, int64_t hw, int64_t c, const float* x, const float* params, float* y),            \
    (n, hw, c, x, params, y),                                                                     \
    IN(x, n * hw * c) IN(params, n * 2 * c) OUT(y, n * hw * c))                                   \
  X(PLAIN, void, modulate_backward, "gpu:modulate.backward",                                      \
    (int64_t n, int64_t hw, int64_t c, const float* x, const float* params, const float* dy,      \
     float* dx, float* dparams),                                                                  \
    (n, hw, c, x, params, dy, dx, dparams),                                                       \
    IN(x, n * hw * c) IN(params, n * 2 * c) IN(dy, n * hw * c) OUT(dx, n * hw * c)                \
    OUT(dparams, n * 2 * c))                                                                      \
  X(PLAIN, void, nchw_to_nhwc, nullptr,                                                           \
    (int64_t n, int64_t c, int64_t h, int64_t w, const float* x, float* y), (n, c, h, w, x, y),   \
    IN(x, n * c * h * w) OUT(y, n * c * h * w))                                                   \
  X(PLAIN, void, nhwc_to_nchw, nullptr,                                                           \
    (int64_t n, int64_t c, int64_t h, int64_t w, const float* x, float* y), (n, c, h, w, x, y),   \
    IN(x, n * c * h * w) OUT(y, n * c * h * w))                                                   \
  X(PLAIN, void, positional_embedding, nullptr,                                                   \
    (int64_t n, int64_t channels, double max_positions, bool endpoint, const float* x, float* y), \
    (n, channels, max_positions, endpoint, x, y),                                                 \
    IN(x, n) OUT(y, n * channels))                                                                \
  X(PLAIN, void, fourier_embedding, nullptr,                                                      \
    (int64_t n, int64_t channels, const float* freqs, const float* x, float* y),                  \
    (n, channels, freqs, x, y),                                                                   \
    IN(freqs, channels / 2) IN(x, n) OUT(y, n * channels))                                        \
  /* map_label's input with EDM's label dropout; labels may be null (zeros). */                   \
  X(PLAIN, void, label_input, nullptr,                                                            \
    (const op::LabelInputSpec& s, const float* labels, float* out), (s, labels, out),             \
    OPT(labels, s.n * s.label_dim) OUT(out, s.n * s.label_dim) OPT(s.step_at, 1))                 \
  /* ops/rows.h: per-row coefficients and per-row / per-column reductions.                     */ \
  X(PLAIN, void, swap_halves, nullptr,                                                            \
    (int64_t rows, int64_t cols, const float* x, float* y), (rows, cols, x, y),                   \
    IN(x, rows * cols) OUT(y, rows * cols))                                                       \
  X(CUDA_CUSTOM, void, sum_columns, "gpu:sum_columns",                                            \
    (int64_t rows, int64_t cols, const float* x, float* out), (rows, cols, x, out),               \
    IN(x, rows * cols) OUT(out, cols))                                                            \
  X(CUDA_CUSTOM, void, scale_rows, nullptr,                                                       \
    (int64_t rows, int64_t cols, const float* a, const float* x, float* y), (rows, cols, a, x, y),\
    HOST(a, rows, "a (per-row coefficients)") IN(x, rows * cols) OUT(y, rows * cols))             \
  X(CUDA_CUSTOM, void, axpby_rows, nullptr,                                                       \
    (int64_t rows, int64_t cols, const float* a, const float* x, const float* b, const float* z,  \
     float* y),                                                                                   \
    (rows, cols, a, x, b, z, y),                                                                  \
    HOST(a, rows, "a (per-row coefficients)") HOST(b, rows, "b (per-row coefficients)")           \
    IN(x, rows * cols) IN(z, rows * cols) OUT(y, rows * cols))                                    \
  X(CUDA_CUSTOM, void, sumsq_rows, nullptr,                                                       \
    (int64_t rows, int64_t cols, const float* x, double* out), (rows, cols, x, out),              \
    IN(x, rows * cols) HOST(out, rows, "out (per-row sums)"))                                     \
  /* The adaptive scale on the device (precond_math.h): coefficients from each row's norm and  */ \
  /* the host's sigma, then per-row ops that read them where they were written, so a CUDA      */ \
  /* graph can record an evaluation that uses them (nothing returns to the host).              */ \
  X(CUDA_CUSTOM, void, adaptive_coefs, nullptr,                                                   \
    (int64_t rows, int64_t cols, const float* x, const float* sigma, double sigma_data,           \
     double d_aware_D, float* c_in, float* c_skip, float* c_out),                                 \
    (rows, cols, x, sigma, sigma_data, d_aware_D, c_in, c_skip, c_out),                           \
    IN(x, rows * cols) HOST(sigma, rows, "sigma (per-sample noise levels)") OUT(c_in, rows)       \
    OPT(c_skip, rows) OPT(c_out, rows))                                                           \
  X(PLAIN, void, scale_rows_dev, nullptr,                                                         \
    (int64_t rows, int64_t cols, const float* a, const float* x, float* y), (rows, cols, a, x, y),\
    IN(a, rows) IN(x, rows * cols) OUT(y, rows * cols))                                           \
  X(PLAIN, void, axpby_rows_dev, nullptr,                                                         \
    (int64_t rows, int64_t cols, const float* a, const float* x, const float* b, const float* z,  \
     float* y),                                                                                   \
    (rows, cols, a, x, b, z, y),                                                                  \
    IN(a, rows) IN(b, rows) IN(x, rows * cols) IN(z, rows * cols) OUT(y, rows * cols))            \
                                                                                                  \
  /* --- loss, optimizer, physics ----------------------------------------------------------- */ \
  X(CUSTOM, double, weighted_mse_forward, "gpu:loss.forward",                                     \
    (int64_t samples, int64_t per_sample, const float* pred, const float* target,                 \
     const float* weight),                                                                        \
    (samples, per_sample, pred, target, weight),                                                  \
    IN(pred, samples * per_sample) IN(target, samples * per_sample)                               \
    HOST(weight, samples, "weight (per-sample loss weights)"))                                    \
  X(CUDA_CUSTOM, void, weighted_mse_backward, "gpu:loss.backward",                                \
    (int64_t samples, int64_t per_sample, const float* pred, const float* target,                 \
     const float* weight, float* dpred),                                                          \
    (samples, per_sample, pred, target, weight, dpred),                                           \
    IN(pred, samples * per_sample) IN(target, samples * per_sample)                               \
    HOST(weight, samples, "weight (per-sample loss weights)")                                     \
    OUT(dpred, samples * per_sample))                                                             \
  X(PLAIN, optim::GradStats, grad_stats, "gpu:grad_stats",                                        \
    (int64_t count, const float* g), (count, g),                                                  \
    IN(g, count))                                                                                 \
  X(PLAIN, void, adam_step, "gpu:adam_ema",                                                       \
    (int64_t count, float* param, const float* grad, float* m, float* v, double lr, double beta1, \
     double beta2, double eps, int64_t t, float grad_scale, float* ema, double ema_beta),         \
    (count, param, grad, m, v, lr, beta1, beta2, eps, t, grad_scale, ema, ema_beta),              \
    OUT(param, count) IN(grad, count) OUT(m, count) OUT(v, count) OPT(ema, count))                \
  /* A training step whose loss and gradient statistics stay in backend memory until it ends,  */ \
  /* so that it can be replayed from a CUDA graph (docs/cuda.md): `total` and `stats` are      */ \
  /* doubles there (optim/adam_math.h's StepStat), counted below in floats.                    */ \
  X(CUDA_CUSTOM, void, weighted_mse_accumulate, "gpu:loss.forward",                               \
    (int64_t samples, int64_t per_sample, const float* pred, const float* target,                 \
     const float* weight, double share, double* total),                                           \
    (samples, per_sample, pred, target, weight, share, total),                                    \
    IN(pred, samples * per_sample) IN(target, samples * per_sample)                               \
    HOST(weight, samples, "weight (per-sample loss weights)") OUT(total, 2))                      \
  X(PLAIN, void, grad_stats_into, "gpu:grad_stats",                                               \
    (int64_t count, const float* g, double* stats), (count, g, stats),                            \
    IN(g, count) OUT(stats, 4))                                                                   \
  X(CUDA_CUSTOM, void, adam_step_checked, "gpu:adam_ema",                                         \
    (int64_t count, float* param, const float* grad, float* m, float* v,                          \
     const optim::AdamStep* step, const double* stats, float* ema),                               \
    (count, param, grad, m, v, step, stats, ema),                                                 \
    OUT(param, count) IN(grad, count) OUT(m, count) OUT(v, count)                                 \
    HOST(step, 1, "step (the update's constants)") IN(stats, 2 * optim::kStatCount)               \
    OPT(ema, count))                                                                              \
  X(PLAIN, void, axpy, "gpu:axpy",                                                                \
    (int64_t count, float alpha, const float* x, float* y), (count, alpha, x, y),                 \
    IN(x, count) OUT(y, count))                                                                   \
  /* Student-t noise (physics/noise.h) into `out`, no data added; spec.sigma is on the host. */   \
  X(CUSTOM, void, student_t_noise_f32, "gpu:student_t_noise",                                     \
    (float* out, const NoiseSpec& spec), (out, spec),                                             \
    OUT(out, spec.count * spec.n) HOST(spec.sigma, spec.count, "spec.sigma")                      \
    OPT(spec.streams.step_at, 1))
// clang-format on

// The CPU references' declarations (every kind but CUSTOM, whose CPU op has its own signature).
// Where an ops/*.h declares one too, the two must match exactly (default arguments only there):
// backend_cpu.cc asserts that each name is one function of the backend's signature.
#define PFGM_CPU_DECLARE_PLAIN(ret, name, params) ret name params;
#define PFGM_CPU_DECLARE_MATH PFGM_CPU_DECLARE_PLAIN
#define PFGM_CPU_DECLARE_ATTENTION PFGM_CPU_DECLARE_PLAIN
#define PFGM_CPU_DECLARE_CUDA_CUSTOM PFGM_CPU_DECLARE_PLAIN
#define PFGM_CPU_DECLARE_CUSTOM(ret, name, params)
#define PFGM_CPU_DECLARE(kind, ret, name, label, params, args, checks) \
  PFGM_CPU_DECLARE_##kind(ret, name, params)
namespace pfgm::cpu {
PFGM_BACKEND_OPS(PFGM_CPU_DECLARE)
}  // namespace pfgm::cpu
#undef PFGM_CPU_DECLARE
#undef PFGM_CPU_DECLARE_CUSTOM
#undef PFGM_CPU_DECLARE_CUDA_CUSTOM
#undef PFGM_CPU_DECLARE_ATTENTION
#undef PFGM_CPU_DECLARE_MATH
#undef PFGM_CPU_DECLARE_PLAIN
