// new Inception() from JS, then load(weights, device) and features(images). Inputs are copied on
// the JS thread (so JS may reuse its arrays at once) and the work runs on a worker thread; the
// network's own mutex serialises feature calls on one network.
#include "inception_binding.h"

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "napi_util.h"

namespace pfgm::binding {
namespace {

// A whole number field in [lo, hi].
int64_t whole_field(const Napi::Object& o, const char* key, int64_t lo, int64_t hi) {
  const double v = number_field(o, key);
  if (!(v >= static_cast<double>(lo) && v <= static_cast<double>(hi)) || v != std::floor(v)) {
    fail(code::kArgument, std::string("'") + key + "' must be an integer in [" +
                              std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
                              std::to_string(v));
  }
  return static_cast<int64_t>(v);
}

Napi::Float32Array float32_field(const Napi::Object& o, const std::string& key) {
  Napi::Value v = o.Get(key);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    fail(code::kDtype, "'" + key + "' must be a Float32Array");
  }
  return v.As<Napi::Float32Array>();
}

Napi::Float32Array to_js(Napi::Env env, const std::vector<float>& v) {
  Napi::Float32Array a = Napi::Float32Array::New(env, v.size());
  std::copy(v.begin(), v.end(), a.Data());
  return a;
}

}  // namespace

void InceptionHandle::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "Inception",
                                    {InstanceMethod("load", &InceptionHandle::Load),
                                     InstanceMethod("features", &InceptionHandle::Features),
                                     InstanceMethod("dispose", &InceptionHandle::Dispose),
                                     InstanceMethod("isLoaded", &InceptionHandle::IsLoaded),
                                     InstanceMethod("device", &InceptionHandle::Device),
                                     StaticMethod("tensors", &InceptionHandle::Tensors),
                                     StaticMethod("stages", &InceptionHandle::Stages)});
  exports.Set("Inception", ctor);
}

InceptionHandle::InceptionHandle(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<InceptionHandle>(info) {}

Napi::Value InceptionHandle::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    if (disposed_) fail(code::kDisposed, "load: the Inception network was disposed");
    Napi::Object o = object_arg(info, 0);
    // The device, as a Network's config names it: 'cpu' (default), 'cuda' (fp32: docs/cuda.md says
    // why FID does not use TF32) or a device this build registered (the test build's guarded one).
    std::string device = "cpu";
    if (info.Length() > 1 && !info[1].IsUndefined()) {
      if (!info[1].IsString()) fail(code::kArgument, "load: the device must be a string");
      device = info[1].As<Napi::String>().Utf8Value();
    }
    nn::Backend* backend = nullptr;
    if (device == "cpu") {
      backend = &nn::cpu_backend();
    } else if (device == "cuda") {
      backend = &nn::cuda_backend(nn::Precision::kFp32);
    } else if (const nn::BackendFactory factory = nn::find_backend(device)) {
      backend = &factory(nn::Precision::kFp32);
    } else {
      fail(code::kArgument, "load: unknown device '" + device + "' (use 'cpu' or 'cuda')");
    }
    // Copy exactly the tensors the network reads; the native side checks each one's size again.
    auto weights = std::make_shared<std::map<std::string, std::vector<float>>>();
    for (const nn::InceptionTensor& t : nn::inception_tensors()) {
      if (!has_field(o, t.name.c_str()))
        fail(code::kArgument, "load: tensor '" + t.name + "' is missing");
      Napi::Float32Array a = float32_field(o, t.name);
      (*weights)[t.name].assign(a.Data(), a.Data() + a.ElementLength());
    }
    auto built = std::make_shared<std::shared_ptr<nn::InceptionV3Fid>>();
    Napi::ObjectReference self = Napi::Persistent(Value());
    auto keep = std::make_shared<Napi::ObjectReference>(std::move(self));
    return PromiseWorker::start(
        env,
        [weights, built, backend]() {
          *built = std::make_shared<nn::InceptionV3Fid>(*weights, *backend);
        },
        [this, built, keep, device](Napi::Env e) -> Napi::Value {
          // On the JS thread: `keep` holds this object alive until here.
          if (!disposed_) {
            net_ = *built;
            device_ = device;
          }
          return e.Undefined();
        });
  });
}

Napi::Value InceptionHandle::Features(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    if (disposed_) fail(code::kDisposed, "features: the Inception network was disposed");
    if (!net_)
      fail(code::kArgument, "features: no weights were loaded (await load(weights) first)");
    std::shared_ptr<nn::InceptionV3Fid> net = net_;
    Napi::Object o = object_arg(info, 0);
    const int64_t count = whole_field(o, "count", 0, int64_t{1} << 31);
    const int64_t channels = whole_field(o, "channels", 1, 3);
    if (channels == 2) fail(code::kShape, "'channels' must be 1 (grayscale) or 3 (RGB), got 2");
    const int64_t height = whole_field(o, "height", 1, 1 << 16);
    const int64_t width = whole_field(o, "width", 1, 1 << 16);
    const int64_t batch = whole_field(o, "batch", 1, 1 << 16);
    Napi::Float32Array images = float32_field(o, "images");
    // The product in double: exact for any array that fits in memory, no int64 overflow.
    const double wanted = static_cast<double>(count) * channels * height * width;
    if (static_cast<double>(images.ElementLength()) != wanted) {
      fail(code::kShape,
           "'images' has " + std::to_string(images.ElementLength()) + " values, expected count * " +
               "channels * height * width = " + std::to_string(static_cast<int64_t>(wanted)));
    }
    auto input =
        std::make_shared<std::vector<float>>(images.Data(), images.Data() + images.ElementLength());
    std::shared_ptr<nn::InceptionTaps> taps;
    if (has_field(o, "taps")) {
      Napi::Value v = o.Get("taps");
      if (!v.IsArray()) fail(code::kArgument, "'taps' must be an array of stage names");
      taps = std::make_shared<nn::InceptionTaps>();
      Napi::Array names = v.As<Napi::Array>();
      for (uint32_t i = 0; i < names.Length(); ++i) {
        Napi::Value name = names.Get(i);
        if (!name.IsString()) fail(code::kArgument, "'taps' must hold stage names");
        (*taps)[name.As<Napi::String>().Utf8Value()];
      }
    }
    auto out = std::make_shared<std::vector<float>>(
        static_cast<size_t>(count * nn::InceptionV3Fid::kFeatures));
    return PromiseWorker::start(
        env,
        [=]() {
          net->features(count, channels, height, width, input->data(), batch, out->data(),
                        taps.get());
        },
        [=](Napi::Env e) -> Napi::Value {
          Napi::Object r = Napi::Object::New(e);
          r.Set("features", to_js(e, *out));
          if (taps) {
            Napi::Object t = Napi::Object::New(e);
            for (const auto& [name, values] : *taps) t.Set(name, to_js(e, values));
            r.Set("taps", t);
          }
          return r;
        });
  });
}

Napi::Value InceptionHandle::Dispose(const Napi::CallbackInfo& info) {
  disposed_ = true;
  net_.reset();  // in-flight work holds its own reference and finishes safely
  return info.Env().Undefined();
}

Napi::Value InceptionHandle::Device(const Napi::CallbackInfo& info) {
  if (!net_) return info.Env().Undefined();
  return Napi::String::New(info.Env(), device_);
}

Napi::Value InceptionHandle::IsLoaded(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), static_cast<bool>(net_));
}

Napi::Value InceptionHandle::Tensors(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const std::vector<nn::InceptionTensor>& list = nn::inception_tensors();
    Napi::Array a = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); ++i) {
      Napi::Object e = Napi::Object::New(env);
      e.Set("name", list[i].name);
      e.Set("shape", shape_array(env, list[i].shape));
      a.Set(static_cast<uint32_t>(i), e);
    }
    return a;
  });
}

Napi::Value InceptionHandle::Stages(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::vector<std::string>& names = nn::InceptionV3Fid::stage_names();
  Napi::Array a = Napi::Array::New(env, names.size());
  for (size_t i = 0; i < names.size(); ++i) a.Set(static_cast<uint32_t>(i), names[i]);
  return a;
}

}  // namespace pfgm::binding
