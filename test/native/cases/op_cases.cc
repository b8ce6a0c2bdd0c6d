#include "op_cases.h"

#include "errors.h"

namespace pfgm::opcases {
namespace {

// A function-local registry: safe to use from static initializers in any translation unit.
std::map<std::string, CaseFn>& registry() {
  static std::map<std::string, CaseFn> cases;
  return cases;
}

std::map<std::string, CaseFn>& gpu_registry() {
  static std::map<std::string, CaseFn> cases;
  return cases;
}

std::map<std::string, BackendCaseFn>& backend_registry() {
  static std::map<std::string, BackendCaseFn> cases;
  return cases;
}

}  // namespace

void register_case(const std::string& name, CaseFn fn) { registry()[name] = std::move(fn); }

const CaseFn* find_case(const std::string& name) {
  auto it = registry().find(name);
  return it == registry().end() ? nullptr : &it->second;
}

std::vector<std::string> case_names() {
  std::vector<std::string> names;
  for (const auto& [name, fn] : registry()) names.push_back(name);
  return names;
}

const HostTensor& input(const Tensors& in, const std::string& name) {
  auto it = in.find(name);
  if (it == in.end()) fail(code::kArgument, "op case input '" + name + "' is missing");
  return it->second;
}

const HostTensor* optional_input(const Tensors& in, const std::string& name) {
  auto it = in.find(name);
  return it == in.end() ? nullptr : &it->second;
}

double attr(const Attrs& attrs, const std::string& name) {
  auto it = attrs.find(name);
  if (it == attrs.end() || it->second.size() != 1) {
    fail(code::kArgument, "op case attribute '" + name + "' is missing or not a number");
  }
  return it->second[0];
}

double attr(const Attrs& attrs, const std::string& name, double fallback) {
  auto it = attrs.find(name);
  return it == attrs.end() || it->second.empty() ? fallback : it->second[0];
}

std::vector<double> attr_list(const Attrs& attrs, const std::string& name) {
  auto it = attrs.find(name);
  if (it == attrs.end()) fail(code::kArgument, "op case attribute '" + name + "' is missing");
  return it->second;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

float* output(Tensors& out, const std::string& name, std::vector<int64_t> shape) {
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  HostTensor& t = out[name];
  t.shape = std::move(shape);
  t.data.assign(static_cast<size_t>(count), 0.0f);
  return t.data.data();
}

void register_gpu_case(const std::string& name, CaseFn fn) { gpu_registry()[name] = std::move(fn); }

const CaseFn* find_gpu_case(const std::string& name) {
  auto it = gpu_registry().find(name);
  return it == gpu_registry().end() ? nullptr : &it->second;
}

std::vector<std::string> gpu_case_names() {
  std::vector<std::string> names;
  for (const auto& [name, fn] : gpu_registry()) names.push_back(name);
  return names;
}

void register_backend_case(const std::string& name, BackendCaseFn fn) {
  backend_registry()[name] = std::move(fn);
}

const BackendCaseFn* find_backend_case(const std::string& name) {
  auto it = backend_registry().find(name);
  return it == backend_registry().end() ? nullptr : &it->second;
}

std::vector<std::string> backend_case_names() {
  std::vector<std::string> names;
  for (const auto& [name, fn] : backend_registry()) names.push_back(name);
  return names;
}

int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

void require_shape(const std::string& op, const std::string& name, const HostTensor& t,
                   const std::vector<int64_t>& want) {
  if (t.shape != want) {
    fail(code::kShape, op + ": '" + name + "' must have shape " + shape_text(want) + ", got " +
                           shape_text(t.shape));
  }
}

void require_batch(const std::string& op, const std::string& name, const HostTensor& t) {
  if (t.shape.empty() || numel(t.shape) <= 0) {
    fail(code::kShape,
         op + ": '" + name + "' must be a non-empty batch [n, ...], got " + shape_text(t.shape));
  }
}

void write_double(Tensors& out, const std::string& name, double v) {
  float* o = output(out, name, {2});
  o[0] = static_cast<float>(v);
  o[1] = static_cast<float>(v - static_cast<double>(o[0]));
}

}  // namespace pfgm::opcases
