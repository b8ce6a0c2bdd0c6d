// A growable array of floats in one backend's memory: what std::vector<float> was for the CPU-only
// modules. ensure() keeps the array while its backend stays and the size asked for fits what it
// holds, so saved activations are reused from step to step and pointers into them stay valid,
// also when the batch size goes down and up again (a Sampler's merged batches): a CUDA graph
// recorded at one batch size then still finds its buffers where it recorded them (docs/cuda.md).
#pragma once

#include <cstdint>
#include <utility>

#include "backend.h"

namespace pfgm::nn {

class Buffer {
 public:
  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& o) noexcept { swap(o); }
  Buffer& operator=(Buffer&& o) noexcept {
    if (this != &o) {
      reset();
      swap(o);
    }
    return *this;
  }
  ~Buffer() { reset(); }

  float* data() const { return n_ > 0 ? p_ : nullptr; }
  // The array as 32-bit words, for one filled through Context::ensure_words (a dropout mask).
  uint32_t* words() const { return reinterpret_cast<uint32_t*>(data()); }
  int64_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  Backend* backend() const { return be_; }

  // The array of n floats on `be`: allocated zero-filled when it grows beyond what the buffer holds
  // or moves to another backend, else the same array (its contents as the last user left them).
  float* ensure(Backend& be, int64_t n) {
    if (n > capacity_ || &be != be_) {
      reset();
      if (n > 0) p_ = be.allocate(n);
      capacity_ = n;
      be_ = &be;
    }
    n_ = n;
    return data();
  }
  void reset() {
    if (p_ != nullptr) be_->release(p_);
    p_ = nullptr;
    n_ = 0;
    capacity_ = 0;
  }
  void swap(Buffer& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
    std::swap(capacity_, o.capacity_);
    std::swap(be_, o.be_);
  }

 private:
  float* p_ = nullptr;
  int64_t n_ = 0;         // the size asked for last
  int64_t capacity_ = 0;  // what p_ holds
  Backend* be_ = nullptr;
};

}  // namespace pfgm::nn
