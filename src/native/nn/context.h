// What a forward or backward pass needs besides activations: where the weights live (the raw or
// the EMA copy), where gradients go, the random streams of dropout, and the backend whose memory
// all of these live in and whose ops the modules call.
#pragma once

#include <cstdint>

#include "backend.h"
#include "buffer.h"
#include "grads_ready.h"

namespace pfgm::nn {

struct Context {
  Backend* backend = &cpu_backend();
  const float* params = nullptr;   // the flat parameter buffer (raw or EMA weights)
  const float* buffers = nullptr;  // non-trainable tensors (Fourier frequencies)
  float* grads = nullptr;          // the flat gradient buffer, written by backward
  int64_t batch = 0;
  bool training = false;  // dropout and label dropout only when training
  uint64_t seed = 0;      // dropout streams: (seed, sample_offset + i, step, site)
  uint64_t sample_offset = 0;
  uint32_t step = 0;
  // Where set, the step is read there (backend memory) instead: a training step replayed from a
  // CUDA graph finds each step's value in the same place (docs/cuda.md, "CUDA graphs").
  const uint32_t* step_at = nullptr;
  // Where set, a loss adds loss_share times its value to *loss_total (a double in backend memory)
  // instead of returning it, so that nothing returns to the host before the step's update.
  double* loss_total = nullptr;
  double loss_share = 1.0;
  // Told while backward runs how far the gradient buffer is final (grads_ready.h); null unless a
  // data-parallel step overlaps its reduction with backward.
  GradientsReady* grads_ready = nullptr;

  const float* p(int64_t offset) const { return params + offset; }
  float* g(int64_t offset) const { return grads + offset; }
  Backend& be() const { return *backend; }
  // `buf` holding n floats in this context's backend (see Buffer::ensure).
  float* ensure(Buffer& buf, int64_t n) const { return buf.ensure(*backend, n); }
  // `buf` holding n 32-bit words (a dropout mask): backend memory is allocated as floats, and the
  // words are only ever read back as words.
  uint32_t* ensure_words(Buffer& buf, int64_t n) const {
    return reinterpret_cast<uint32_t*>(buf.ensure(*backend, n));
  }
};

}  // namespace pfgm::nn
