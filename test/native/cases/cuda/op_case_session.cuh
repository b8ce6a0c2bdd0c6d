// The device side of a CUDA op case (cases/op_cases.h): uploads a case's host inputs to pooled
// device memory, creates its zero-filled outputs there, and after the op synchronizes (so an
// execution error is reported by the case that ran it) downloads the outputs. Shared by every
// op_cases*.cu.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "cases/op_cases.h"
#include "errors.h"
#include "runtime/allocator.cuh"
#include "runtime/check.cuh"
#include "runtime/launch.cuh"

namespace pfgm::cuda::opcase {

using opcases::HostTensor;
using opcases::numel;
using opcases::Tensors;

// Device copies of a case's inputs and outputs, downloaded at the end.
class Session {
 public:
  const float* in(const HostTensor& t) { return upload(t.data.data(), numel(t.shape)); }
  const float* in_opt(const HostTensor* t) { return t != nullptr ? in(*t) : nullptr; }

  // An output of `shape`, zero-filled like the CPU cases' outputs, or a copy of `init`.
  float* out(const std::string& name, const std::vector<int64_t>& shape,
             const HostTensor* init = nullptr) {
    const int64_t count = numel(shape);
    float* p = init != nullptr ? upload(init->data.data(), count) : alloc(count);
    if (init == nullptr && count > 0) {
      gpu::check(
          cudaMemsetAsync(p, 0, static_cast<size_t>(count) * sizeof(float), gpu::engine_stream()),
          "cudaMemsetAsync (op case output)");
    }
    outs_.push_back(Out{name, shape, p});
    return p;
  }

  template <typename T>
  T* scratch(int64_t count) {
    scratch_.emplace_back(count * static_cast<int64_t>(sizeof(T)), gpu::engine_stream());
    return reinterpret_cast<T*>(scratch_.back().get());
  }

  void finish(const char* op, Tensors& out) {
    gpu::check(cudaStreamSynchronize(gpu::engine_stream()), op);
    for (const Out& o : outs_) {
      float* host = opcases::output(out, o.name, o.shape);
      const int64_t count = numel(o.shape);
      if (count > 0) {
        gpu::check(cudaMemcpy(host, o.ptr, static_cast<size_t>(count) * sizeof(float),
                              cudaMemcpyDeviceToHost),
                   "cudaMemcpy (op case output to the host)");
      }
    }
  }

 private:
  struct Out {
    std::string name;
    std::vector<int64_t> shape;
    float* ptr;
  };
  float* alloc(int64_t count) {
    buffers_.emplace_back(count, gpu::engine_stream());
    return buffers_.back().get();
  }
  float* upload(const float* host, int64_t count) {
    float* p = alloc(count);
    if (count > 0) {
      gpu::check(
          cudaMemcpy(p, host, static_cast<size_t>(count) * sizeof(float), cudaMemcpyHostToDevice),
          "cudaMemcpy (op case input to the GPU)");
    }
    return p;
  }
  std::vector<gpu::DeviceArray<float>> buffers_;
  std::vector<gpu::DeviceArray<unsigned char>> scratch_;
  std::vector<Out> outs_;
};

// An integer attribute in [lo, hi], or ERR_PFGM_ARGUMENT naming it.
inline int64_t int_attr(const opcases::Attrs& a, const std::string& op, const std::string& name,
                        double fallback, double lo, double hi) {
  const double v = opcases::attr(a, name, fallback);
  if (!(v >= lo && v <= hi) || v != std::floor(v)) {
    fail(code::kArgument, op + ": attribute '" + name + "' must be an integer in [" +
                              std::to_string(static_cast<int64_t>(lo)) + ", " +
                              std::to_string(static_cast<int64_t>(hi)) + "]");
  }
  return static_cast<int64_t>(v);
}

}  // namespace pfgm::cuda::opcase
