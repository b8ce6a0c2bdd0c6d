// The kernel lab's harness (bench/kernels/README.md): device buffers, the comparison against the
// CPU reference, the timer and the registry of families. One executable per device is built from
// lab.cu and every bench/kernels/<family>/<family>.cu: pfgm_kernellab_cuda by nvcc, and
// pfgm_kernellab_emu, the same sources compiled as C++ over the CUDA emulator
// (test/native/emucuda/), where PFGM_LAB_EMU is defined.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace lab {

// What the command line asked for (lab.cu parses it).
struct Options {
  std::string size;     // "small" (the emulator's default) or "full" (the GPU's default)
  std::string variant;  // a variant's name or index; empty: every variant
  int warmup = 1;
  int iters = 3;
};

// Throws pfgm::Error (ERR_PFGM_CUDA) naming `what` when a CUDA call failed.
void check(cudaError_t status, const char* what);

// A device array of exact extent (on the emulator, a read past it faults).
template <typename T>
class Buffer {
 public:
  explicit Buffer(int64_t count) : count_(count) {
    check(cudaMalloc(reinterpret_cast<void**>(&ptr_), bytes()), "cudaMalloc (lab buffer)");
  }
  explicit Buffer(const std::vector<T>& host) : Buffer(static_cast<int64_t>(host.size())) {
    upload(host);
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { cudaFree(ptr_); }

  T* get() const { return ptr_; }
  void upload(const std::vector<T>& host) {
    check(cudaMemcpy(ptr_, host.data(), bytes(), cudaMemcpyHostToDevice), "cudaMemcpy (upload)");
  }
  std::vector<T> download() const {
    std::vector<T> host(static_cast<size_t>(count_));
    check(cudaMemcpy(host.data(), ptr_, bytes(), cudaMemcpyDeviceToHost), "cudaMemcpy (download)");
    return host;
  }

 private:
  size_t bytes() const { return static_cast<size_t>(count_ > 0 ? count_ : 1) * sizeof(T); }
  int64_t count_;
  T* ptr_ = nullptr;
};

// Uniform draws in [lo, hi) from a fixed seed (the same inputs on every run and device).
std::vector<float> uniform(int64_t count, float lo, float hi, uint64_t seed);

// One output of a variant against the reference: error = max_i |got_i - want_i| / scale_i, where
// scale_i is what the tolerance is stated in (the largest |want|, |want_i| itself, a group's
// standard deviation...); pass when error <= tol (tol 0: bit for bit).
struct Check {
  std::string output;
  std::string scale;  // in words, for the report
  double max_abs = 0;
  double max_rel = 0;
  double tol = 0;
  bool pass = true;
};
// Relative to the largest magnitude of the reference.
Check of_largest(const std::string& output, const std::vector<float>& got,
                 const std::vector<float>& want, double tol);
// Relative to each element of the reference.
Check per_element(const std::string& output, const std::vector<float>& got,
                  const std::vector<float>& want, double tol);
// Relative to a scale per element, described by `scale`.
Check scaled(const std::string& output, const std::vector<float>& got,
             const std::vector<float>& want, const std::vector<double>& scales, double tol,
             const std::string& scale);
// Bit for bit (NaNs equal when both are NaN).
Check exact(const std::string& output, const std::vector<float>& got,
            const std::vector<float>& want);

// One variant of a kernel: `run` queues it once on the prepared device buffers.
struct Variant {
  std::string name;
  std::string about;
  std::function<void()> run;
};

// The report of a family: one row per (case, variant).
struct Row {
  std::string case_name, variant, about;
  std::vector<Check> checks;
  double ms = 0;  // per call: CUDA events on a GPU, wall time on the emulator
  int iters = 0;
};
struct Report {
  std::vector<Row> rows;
};

// Runs the selected variants of one case: for each, prepare() (upload fresh inputs), run once,
// verify() (download and compare), then time warmup + iters further runs, which work on whatever
// the previous run left in place (in-place kernels keep being timed on valid data).
void run_case(const Options& opt, Report& report, const std::string& case_name,
              const std::vector<Variant>& variants, const std::function<void()>& prepare,
              const std::function<std::vector<Check>()>& verify);

// A family: `run` fills the report for the size in `opt`. Registered by LAB_FAMILY at startup.
using FamilyFn = void (*)(const Options&, Report&);
struct Registration {
  Registration(const char* name, const char* about, FamilyFn fn);
};

}  // namespace lab

#define LAB_FAMILY(ident, about, fn) \
  static const ::lab::Registration lab_family_##ident(#ident, about, fn)
