// A registry of op "cases": small functions that run one op's forward and backward on host
// tensors given by name. They exist so the tests can check every op against PyTorch golden tensors
// (test/fixtures/) through one binding, `runOp(name, attrs, inputs)`, without a binding per op.
// Each op family registers its cases in its own *_cases.cc file with PFGM_OP_CASE.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace pfgm::nn {
class Backend;
}  // namespace pfgm::nn

namespace pfgm::opcases {

struct HostTensor {
  std::vector<int64_t> shape;
  std::vector<float> data;
};
using Tensors = std::map<std::string, HostTensor>;
using Attrs = std::map<std::string, std::vector<double>>;
using CaseFn = std::function<void(const Attrs& attrs, const Tensors& in, Tensors& out)>;

void register_case(const std::string& name, CaseFn fn);
const CaseFn* find_case(const std::string& name);
std::vector<std::string> case_names();

// Argument access with errors that name the case's missing piece (ERR_PFGM_ARGUMENT).
const HostTensor& input(const Tensors& in, const std::string& name);
const HostTensor* optional_input(const Tensors& in, const std::string& name);
double attr(const Attrs& attrs, const std::string& name);
double attr(const Attrs& attrs, const std::string& name, double fallback);
std::vector<double> attr_list(const Attrs& attrs, const std::string& name);
// "[2, 3]": shapes in error messages.
std::string shape_text(const std::vector<int64_t>& shape);
// Creates output `name` with `shape`, zero-filled, and returns its data.
float* output(Tensors& out, const std::string& name, std::vector<int64_t> shape);

struct Registrar {
  Registrar(const char* name, CaseFn fn) { register_case(name, std::move(fn)); }
};

// Product of a shape's dimensions.
int64_t numel(const std::vector<int64_t>& shape);
// ERR_PFGM_SHAPE naming op and input unless t has shape `want`.
void require_shape(const std::string& op, const std::string& name, const HostTensor& t,
                   const std::vector<int64_t>& want);
// ERR_PFGM_SHAPE unless t is a non-empty batch [n, ...].
void require_batch(const std::string& op, const std::string& name, const HostTensor& t);
// A double as output `name` of shape [2]: float hi and the float of the remainder (lo), so a
// test reads hi + lo to double precision.
void write_double(Tensors& out, const std::string& name, double v);

// CUDA twins of the cases: same names, inputs and outputs, run on the GPU (cases/cuda/op_cases.cu
// registers them; the CPU build has none). runOp(name, attrs, inputs, 'cuda') finds them here.
void register_gpu_case(const std::string& name, CaseFn fn);
const CaseFn* find_gpu_case(const std::string& name);
std::vector<std::string> gpu_case_names();

struct GpuRegistrar {
  GpuRegistrar(const char* name, CaseFn fn) { register_gpu_case(name, std::move(fn)); }
};

// Cases that run on any backend (backend_cases.cc: `backend.<op>` for every op of
// nn/backend_ops.h): runOp(name, attrs, inputs, device) calls them with the backend of `device`,
// 'cpu', 'cuda' or a test device registered by name (nn::register_backend: 'cpu-guarded').
using BackendCaseFn =
    std::function<void(nn::Backend& be, const Attrs& attrs, const Tensors& in, Tensors& out)>;
void register_backend_case(const std::string& name, BackendCaseFn fn);
const BackendCaseFn* find_backend_case(const std::string& name);
std::vector<std::string> backend_case_names();

struct BackendCaseRegistrar {
  BackendCaseRegistrar(const char* name, BackendCaseFn fn) {
    register_backend_case(name, std::move(fn));
  }
};

}  // namespace pfgm::opcases

#define PFGM_OP_CASE_CAT2(a, b) a##b
#define PFGM_OP_CASE_CAT(a, b) PFGM_OP_CASE_CAT2(a, b)
// PFGM_OP_CASE("conv2d", [](const Attrs& a, const Tensors& in, Tensors& out) { ... });
#define PFGM_OP_CASE(name, ...)                                                           \
  static const ::pfgm::opcases::Registrar PFGM_OP_CASE_CAT(pfgm_op_case_, __LINE__)(name, \
                                                                                    __VA_ARGS__)

// PFGM_GPU_OP_CASE("axpby", [](const Attrs& a, const Tensors& in, Tensors& out) { ... });
#define PFGM_GPU_OP_CASE(name, ...)                                                         \
  static const ::pfgm::opcases::GpuRegistrar PFGM_OP_CASE_CAT(pfgm_gpu_op_case_, __LINE__)( \
      name, __VA_ARGS__)
