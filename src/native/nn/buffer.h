// A growable array of floats in one backend's memory: what std::vector<float> was for the CPU-only
// modules. ensure() keeps the array when neither its size nor its backend changes, so saved
// activations are reused from step to step and pointers into them stay valid.
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

  float* data() const { return p_; }
  // The array as 32-bit words, for one filled through Context::ensure_words (a dropout mask).
  uint32_t* words() const { return reinterpret_cast<uint32_t*>(p_); }
  int64_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  Backend* backend() const { return be_; }

  // The array, re-allocated zero-filled on `be` when its size or backend differs.
  float* ensure(Backend& be, int64_t n) {
    if (n != n_ || &be != be_) {
      reset();
      if (n > 0) p_ = be.allocate(n);
      n_ = n;
      be_ = &be;
    }
    return p_;
  }
  void reset() {
    if (p_ != nullptr) be_->release(p_);
    p_ = nullptr;
    n_ = 0;
  }
  void swap(Buffer& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
    std::swap(be_, o.be_);
  }

 private:
  float* p_ = nullptr;
  int64_t n_ = 0;
  Backend* be_ = nullptr;
};

}  // namespace pfgm::nn
