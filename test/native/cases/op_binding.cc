// The test-facing door to single ops: inputs arrive as { name: { shape, data: Float32Array } },
// attributes as { name: number | number[] }; the op runs on a worker thread.
#include "op_binding.h"

#include <memory>
#include <mutex>

#include "binding/exports_hook.h"
#include "binding/napi_util.h"
#include "device.h"
#include "nn/backend.h"
#include "op_cases.h"

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

// The optional device argument of runOp / opCases: 'cpu' (default), 'cuda', or a test device
// registered by name (nn::register_backend: 'cpu-guarded'), which only the generic backend cases
// (`backend.<op>`) run on.
std::string device_arg(const Napi::CallbackInfo& info, size_t index) {
  if (info.Length() <= index || info[index].IsUndefined()) return "cpu";
  const std::string d = info[index].IsString() ? info[index].As<Napi::String>().Utf8Value() : "";
  if (d == "cpu" || d == "cuda" || (!d.empty() && nn::find_backend(d) != nullptr)) return d;
  fail(code::kArgument, "device must be 'cpu', 'cuda' or a test device ('cpu-guarded')");
}

// What this build and machine offer for CUDA (queried once: it is fixed for the process).
const gpu::Info& gpu_info() {
  static std::once_flag once;
  static gpu::Info info;
  std::call_once(once, [] { info = gpu::query(); });
  return info;
}

// Refuses CUDA cases where no GPU can run them, with the reason.
void require_gpu() {
  const gpu::Info& info = gpu_info();
  if (!info.compiled) {
    fail(code::kDevice,
         "no CUDA in this build: this is the CPU-only addon (pfgm_cpu.node), so ops cannot run on "
         "device 'cuda'; use device 'cpu', or load the CUDA build (PFGM_DEVICE=cuda)");
  }
  if (!info.available) {
    fail(code::kDevice,
         "the CUDA build is loaded but cannot run ops on device 'cuda': " + info.reason);
  }
}

// A generic case on `device`: the op through nn::Backend on that device's backend (fp32), found
// on the worker thread as the CUDA cases find their device there.
opcases::CaseFn on_device(const opcases::BackendCaseFn& fn, const std::string& device) {
  const bool on_gpu = device == "cuda";
  const nn::BackendFactory factory = on_gpu || device == "cpu" ? nullptr : nn::find_backend(device);
  return [fn, on_gpu, factory](const opcases::Attrs& a, const opcases::Tensors& in,
                               opcases::Tensors& out) {
    nn::Backend& be = on_gpu               ? nn::cuda_backend(nn::Precision::kFp32)
                      : factory != nullptr ? factory(nn::Precision::kFp32)
                                           : nn::cpu_backend();
    fn(be, a, in, out);
  };
}

}  // namespace

Napi::Value RunOp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    if (info.Length() < 3 || !info[0].IsString())
      fail(code::kArgument, "runOp(name, attrs, inputs, device?)");
    const std::string name = info[0].As<Napi::String>().Utf8Value();
    const std::string device = device_arg(info, 3);
    const bool on_gpu = device == "cuda";
    if (on_gpu) require_gpu();
    opcases::CaseFn case_fn;
    if (const opcases::BackendCaseFn* generic = opcases::find_backend_case(name)) {
      case_fn = on_device(*generic, device);
    } else {
      if (!on_gpu && device != "cpu") {
        fail(code::kArgument, "op case '" + name + "' runs on 'cpu' or 'cuda'; only the " +
                                  "generic cases (backend.<op>) run on device '" + device + "'");
      }
      const opcases::CaseFn* fn = on_gpu ? opcases::find_gpu_case(name) : opcases::find_case(name);
      if (fn == nullptr) {
        fail(code::kArgument,
             "no " + std::string(on_gpu ? "CUDA " : "") + "op case named '" + name + "'");
      }
      case_fn = *fn;
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
    // opCases('cuda') lists the CUDA twins this build has (none in the CPU build); the generic
    // cases are listed for every device that can run them.
    const std::string device = device_arg(info, 0);
    std::vector<std::string> names;
    if (device == "cuda") {
      names = opcases::gpu_case_names();
      if (gpu_info().compiled) {
        for (std::string& n : opcases::backend_case_names()) names.push_back(std::move(n));
      }
    } else {
      if (device == "cpu") names = opcases::case_names();
      for (std::string& n : opcases::backend_case_names()) names.push_back(std::move(n));
    }
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
