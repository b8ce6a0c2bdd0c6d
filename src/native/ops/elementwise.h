// Memory-bound helpers the network composes between the heavy ops.
#pragma once

#include <cstdint>

namespace pfgm::cpu {

// y = alpha * a + beta * b (y may alias a or b).
void axpby(int64_t count, float alpha, const float* a, float beta, const float* b, float* y);
// y = alpha * a (y may alias a).
void scale(int64_t count, float alpha, const float* a, float* y);
// y[p, :] = [a[p, 0:ca], b[p, 0:cb]] for p in [0, pixels): torch.cat(dim=1) in NHWC.
void concat_channels(int64_t pixels, int64_t ca, const float* a, int64_t cb, const float* b,
                     float* y);
// y[p, offset:offset + c] = x[p, 0:c] for p in [0, pixels): one part of a concatenation of any
// number of parts, the other channels of y untouched.
void place_channels(int64_t pixels, int64_t c, const float* x, int64_t cy, int64_t offset,
                    float* y);
// ERR_PFGM_SHAPE unless c >= 1, offset >= 0 and offset + c <= cy (both backends check with it).
void check_place_channels(int64_t pixels, int64_t c, int64_t cy, int64_t offset);
// The gradient of concat_channels: da (nullable) and db (nullable) from dy.
void split_channels(int64_t pixels, int64_t ca, float* da, int64_t cb, float* db, const float* dy);
// y[n, p, c] = x[n, p, c] + bias[n, c] over `hw` positions per sample.
void add_channel_bias(int64_t n, int64_t hw, int64_t c, const float* x, const float* bias,
                      float* y);
// NCHW <-> NHWC at the network's boundary.
void nchw_to_nhwc(int64_t n, int64_t c, int64_t h, int64_t w, const float* x, float* y);
void nhwc_to_nchw(int64_t n, int64_t c, int64_t h, int64_t w, const float* x, float* y);

}  // namespace pfgm::cpu
