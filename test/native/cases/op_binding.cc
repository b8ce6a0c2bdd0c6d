// The test-facing door to single ops: inputs arrive as { name: { shape, data: Float32Array } },
// attributes as { name: number | number[] }; the op runs on a worker thread.
#include "op_binding.h"

#include <memory>
#include <mutex>

#include "device.h"
#include "op_cases.h"
#include "binding/exports_hook.h"
#include "binding/napi_util.h"

namespace pfgm::binding {
namespace {

opcases::HostTensor read_host_tensor(const std::string& name, const Napi::Value& v) {
  if (!v.IsObject()) fail(code::kArgument, "input '" + name + "' must be { shape, data }");
  Napi::Object o = v.As<Napi::Object>();
  Napi::Value shape = o.Get("shape");
  Napi::Value data = o.Get("data");
  if (!shape.IsArray() || !data.IsTypedArray() ||
      data.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    fail(code::kArgument, "input '" + name + "' needs shape: number[] and data: Float32Array");
  }
  opcases::HostTensor t;
  Napi::Array dims = shape.As<Napi::Array>();
  int64_t count = 1;
  for (uint32_t i = 0; i < dims.Length(); ++i) {
    Napi::Value d = dims.Get(i);
    if (!d.IsNumber() || d.As<Napi::Number>().DoubleValue() < 0)
      fail(code::kShape, "input '" + name + "' has a bad dimension");
    t.shape.push_back(d.As<Napi::Number>().Int64Value());
    count *= t.shape.back();
  }
  Napi::Float32Array arr = data.As<Napi::Float32Array>();
  if (static_cast<int64_t>(arr.ElementLength()) != count) {
    fail(code::kShape, "input '" + name + "' has " + std::to_string(arr.ElementLength()) +
                           " values but its shape holds " + std::to_string(count));
  }
  t.data.assign(arr.Data(), arr.Data() + arr.ElementLength());
  return t;
}

// The optional device argument of runOp / opCases: 'cpu' (default) or 'cuda'.
bool wants_cuda(const Napi::CallbackInfo& info, size_t index) {
  if (info.Length() <= index || info[index].IsUndefined()) return false;
  const std::string d = info[index].IsString() ? info[index].As<Napi::String>().Utf8Value() : "";
  if (d == "cpu") return false;
  if (d == "cuda") return true;
  fail(code::kArgument, "device must be 'cpu' or 'cuda'");
}

// Refuses CUDA cases where no GPU can run them, with the reason (queried once: it is fixed for
// the process).
void require_gpu() {
  static std::once_flag once;
  static gpu::Info info;
  std::call_once(once, [] { info = gpu::query(); });
  if (!info.compiled) {
    fail(code::kDevice,
         "no CUDA in this build: this is the CPU-only addon (pfgm_cpu.node), so ops cannot run on "
         "device 'cuda'; use device 'cpu', or load the CUDA build (PFGM_DEVICE=cuda)");
  }
  if (!info.available) {
    fail(code::kDevice, "the CUDA build is loaded but cannot run ops on device 'cuda': " +
                            info.reason);
  }
}

}  // namespace

Napi::Value RunOp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    if (info.Length() < 3 || !info[0].IsString()) fail(code::kArgument, "runOp(name, attrs, inputs, device?)");
    const std::string name = info[0].As<Napi::String>().Utf8Value();
    const bool on_gpu = wants_cuda(info, 3);
    if (on_gpu) require_gpu();
    const opcases::CaseFn* fn = on_gpu ? opcases::find_gpu_case(name) : opcases::find_case(name);
    if (fn == nullptr) {
      fail(code::kArgument, "no " + std::string(on_gpu ? "CUDA " : "") + "op case named '" + name + "'");
    }
    auto attrs = std::make_shared<opcases::Attrs>();
    Napi::Object a = object_arg(info, 1);
    Napi::Array keys = a.GetPropertyNames();
    for (uint32_t i = 0; i < keys.Length(); ++i) {
      const std::string key = keys.Get(i).As<Napi::String>().Utf8Value();
      Napi::Value v = a.Get(key);
      std::vector<double>& dst = (*attrs)[key];
      if (v.IsNumber()) {
        dst.push_back(v.As<Napi::Number>().DoubleValue());
      } else if (v.IsBoolean()) {
        dst.push_back(v.As<Napi::Boolean>().Value() ? 1.0 : 0.0);
      } else if (v.IsArray()) {
        Napi::Array arr = v.As<Napi::Array>();
        for (uint32_t j = 0; j < arr.Length(); ++j) {
          Napi::Value e = arr.Get(j);
          if (!e.IsNumber()) fail(code::kArgument, "attribute '" + key + "' must hold numbers");
          dst.push_back(e.As<Napi::Number>().DoubleValue());
        }
      } else {
        fail(code::kArgument, "attribute '" + key + "' must be a number, boolean or number[]");
      }
    }
    auto inputs = std::make_shared<opcases::Tensors>();
    Napi::Object in = object_arg(info, 2);
    Napi::Array names = in.GetPropertyNames();
    for (uint32_t i = 0; i < names.Length(); ++i) {
      const std::string key = names.Get(i).As<Napi::String>().Utf8Value();
      (*inputs)[key] = read_host_tensor(key, in.Get(key));
    }
    auto outputs = std::make_shared<opcases::Tensors>();
    const opcases::CaseFn case_fn = *fn;
    return PromiseWorker::start(
        env, [=]() { case_fn(*attrs, *inputs, *outputs); },
        [outputs](Napi::Env e) -> Napi::Value {
          Napi::Object o = Napi::Object::New(e);
          for (const auto& [key, t] : *outputs) {
            Napi::Object entry = Napi::Object::New(e);
            Napi::Float32Array data = Napi::Float32Array::New(e, t.data.size());
            std::copy(t.data.begin(), t.data.end(), data.Data());
            entry.Set("shape", shape_array(e, t.shape));
            entry.Set("data", data);
            o.Set(key, entry);
          }
          return o;
        });
  });
}

Napi::Value OpCases(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    // opCases('cuda') lists the CUDA twins this build has (none in the CPU build).
    const std::vector<std::string> names =
        wants_cuda(info, 0) ? opcases::gpu_case_names() : opcases::case_names();
    Napi::Array arr = Napi::Array::New(env, names.size());
    for (size_t i = 0; i < names.size(); ++i) arr.Set(static_cast<uint32_t>(i), names[i]);
    return arr;
  });
}

namespace {

void add_op_exports(Napi::Env env, Napi::Object exports) {
  exports.Set("runOp", Napi::Function::New(env, RunOp));
  exports.Set("opCases", Napi::Function::New(env, OpCases));
}

// runOp / opCases exist only in the test build, which links this file into the addon.
const bool kRegistered = (register_exports(add_op_exports), true);

}  // namespace

}  // namespace pfgm::binding
