// The Winograd path of the 3x3 convolutions (conv_winograd.h): per batch chunk, the input tiles
// are transformed (conv_winograd_tiles.cc), multiplied by the transformed weights in
// (m + 2)^2 independent GEMMs [tiles x cin] x [cin x cout] through oneDNN's sgemm, and transformed
// back with the bias added. The GEMMs run in parallel with one another, each on one thread
// (oneDNN's sgemm runs single-threaded inside a parallel region), since there are 16 or 36 of
// them and two to a few dozen cores. Chunks keep the transformed tiles of a chunk (both sides)
// near kChunkBytes, so they stay in the last-level cache between the three stages and memory use
// does not grow with the batch.
#include "conv_winograd.h"

#include <omp.h>
#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <cstdlib>
#include <new>
#include <string>

#include "../errors.h"
#include "conv_winograd_tiles.h"
#include "rows.h"

namespace pfgm::cpu::winograd {
namespace {

constexpr int64_t kChunkBytes = int64_t{4} << 20;

// A grow-only, 64-byte aligned buffer per calling thread: a training step calls the same few
// shapes again and again, and page faults on fresh multi-megabyte buffers would cost more than the
// transforms.
struct Buffer {
  float* data = nullptr;
  size_t size = 0;
  ~Buffer() { std::free(data); }
  float* get(int64_t count) {
    const size_t bytes = static_cast<size_t>(count) * sizeof(float);
    if (bytes > size) {
      const size_t rounded = (bytes + 4095) / 4096 * 4096;
      std::free(data);
      data = static_cast<float*>(std::aligned_alloc(4096, rounded));
      size = data != nullptr ? rounded : 0;
      if (data == nullptr) throw std::bad_alloc();
    }
    return data;
  }
};

struct Buffers {
  Buffer u, v, mm;
};

// Images per chunk: the chunk's transformed tiles, both sides, near kChunkBytes.
int64_t chunk_images(const op::Conv2dShape& s, int64_t a2, int64_t per_image, int64_t cinp,
                     int64_t coutp) {
  const int64_t image_bytes = a2 * per_image * (cinp + coutp) * 4;
  return std::clamp<int64_t>(kChunkBytes / image_bytes, 1, s.n);
}

Buffers& buffers() {
  thread_local Buffers b;
  return b;
}

int64_t round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }

// Runs body(begin, end) over an even split of [0, count) on the OpenMP threads.
template <typename F>
void split(int64_t count, F&& body) {
#pragma omp parallel
  {
    const int64_t nt = omp_get_num_threads(), id = omp_get_thread_num();
    const int64_t begin = count * id / nt, end = count * (id + 1) / nt;
    if (begin < end) body(begin, end);
  }
}

void check_tile(int64_t m) {
  if (m != 2 && m != 4) fail(code::kInternal, "winograd: the tile size must be 2 or 4");
}

// dst = conv3x3(src) with the (optionally flipped) weights, src [n, h, w, cin], dst [n, h, w,
// cout], through F(m x m, 3x3).
void run(const op::Conv2dShape& s, int64_t m, const float* src, int64_t cin, int64_t cout,
         const float* weight, bool flipped, const float* bias, float* dst) {
  check_tile(m);
  check_isa_setting();
  const int64_t a2 = (m + 2) * (m + 2);
  const int64_t cinp = round_up(cin, kBlock), coutp = round_up(cout, kBlock);
  Tiles g{m, s.h, s.w, (s.h + m - 1) / m, (s.w + m - 1) / m, 0, 0};
  const int64_t per_image = g.per_image();
  const int64_t images = chunk_images(s, a2, per_image, cinp, coutp);

  Buffers& b = buffers();
  float* u = b.u.get(a2 * cinp * coutp);
  float* v = b.v.get(a2 * plane_stride(images * per_image, cinp));
  float* mm = b.mm.get(a2 * plane_stride(images * per_image, coutp));
  split(cinp, [&](int64_t c0, int64_t c1) {
    weight_transform(m, weight, cin, cout, cinp, coutp, flipped, u, c0, c1);
  });
  for (int64_t n0 = 0; n0 < s.n; n0 += images) {
    g.n_first = n0;
    g.count = std::min(images, s.n - n0) * per_image;
    split(g.count, [&](int64_t t0, int64_t t1) { input_transform(g, src, cin, cinp, v, t0, t1); });
    int failed = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(| : failed)
    for (int64_t k = 0; k < a2; ++k) {
      const dnnl_status_t st = dnnl_sgemm(
          'N', 'N', g.count, coutp, cinp, 1.0f, v + k * plane_stride(g.count, cinp), cinp,
          u + k * cinp * coutp, coutp, 0.0f, mm + k * plane_stride(g.count, coutp), coutp);
      failed |= st != dnnl_success;
    }
    if (failed) fail(code::kInternal, "winograd: oneDNN's sgemm failed");
    split(g.count,
          [&](int64_t t0, int64_t t1) { output_transform(g, mm, cout, coutp, bias, dst, t0, t1); });
  }
}

}  // namespace

// The adjoint of run() with respect to the weights: dU[k] = V[k]^T dM[k] summed over the chunks
// (dM the adjoint output transform of dy), then dweight = G^T dU G.
void backward_weights(const op::Conv2dShape& s, int64_t m, const float* x, const float* dy,
                      float* dweight, float* dbias) {
  check_tile(m);
  check_isa_setting();
  if (dbias != nullptr) sum_columns(s.n * s.h * s.w, s.cout, dy, dbias);
  if (dweight == nullptr) return;
  const int64_t a2 = (m + 2) * (m + 2);
  const int64_t cinp = round_up(s.cin, kBlock), coutp = round_up(s.cout, kBlock);
  Tiles g{m, s.h, s.w, (s.h + m - 1) / m, (s.w + m - 1) / m, 0, 0};
  const int64_t per_image = g.per_image();
  const int64_t images = chunk_images(s, a2, per_image, cinp, coutp);
  Buffers& b = buffers();
  float* du = b.u.get(a2 * cinp * coutp);
  float* v = b.v.get(a2 * plane_stride(images * per_image, cinp));
  float* dm = b.mm.get(a2 * plane_stride(images * per_image, coutp));
  for (int64_t n0 = 0; n0 < s.n; n0 += images) {
    g.n_first = n0;
    g.count = std::min(images, s.n - n0) * per_image;
    split(g.count, [&](int64_t t0, int64_t t1) {
      input_transform(g, x, s.cin, cinp, v, t0, t1);
      output_adjoint(g, dy, s.cout, coutp, dm, t0, t1);
    });
    const float beta = n0 == 0 ? 0.0f : 1.0f;
    int failed = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(| : failed)
    for (int64_t k = 0; k < a2; ++k) {
      const dnnl_status_t st = dnnl_sgemm(
          'T', 'N', cinp, coutp, g.count, 1.0f, v + k * plane_stride(g.count, cinp), cinp,
          dm + k * plane_stride(g.count, coutp), coutp, beta, du + k * cinp * coutp, coutp);
      failed |= st != dnnl_success;
    }
    if (failed) fail(code::kInternal, "winograd: oneDNN's sgemm failed");
  }
  split(s.cin, [&](int64_t c0, int64_t c1) {
    weight_adjoint(m, du, s.cin, s.cout, cinp, coutp, dweight, c0, c1);
  });
}

void forward(const op::Conv2dShape& s, int64_t m, const float* x, const float* weight,
             const float* bias, float* y) {
  run(s, m, x, s.cin, s.cout, weight, false, bias, y);
}

void backward_data(const op::Conv2dShape& s, int64_t m, const float* weight, const float* dy,
                   float* dx) {
  run(s, m, dy, s.cout, s.cin, weight, true, nullptr, dx);
}

}  // namespace pfgm::cpu::winograd
