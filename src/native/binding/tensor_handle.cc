#include "tensor_handle.h"

#include <cstring>

#include "napi_util.h"

namespace pfgm::binding {
namespace {
Napi::FunctionReference* constructor = nullptr;

napi_typedarray_type typed_array_type(DType dtype) {
  switch (dtype) {
    case DType::f32: return napi_float32_array;
    case DType::f64: return napi_float64_array;
    case DType::i32: return napi_int32_array;
    case DType::u8: return napi_uint8_array;
  }
  return napi_uint8_array;
}
}  // namespace

void TensorHandle::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "TensorHandle",
                                    {InstanceMethod("dispose", &TensorHandle::Dispose),
                                     InstanceMethod("isDisposed", &TensorHandle::IsDisposed),
                                     InstanceMethod("shape", &TensorHandle::Shape),
                                     InstanceMethod("dtype", &TensorHandle::DTypeName),
                                     InstanceMethod("device", &TensorHandle::DeviceName),
                                     InstanceMethod("read", &TensorHandle::Read)});
  constructor = new Napi::FunctionReference(Napi::Persistent(ctor));
  env.SetInstanceData(constructor);
  exports.Set("TensorHandle", ctor);
}

TensorHandle::TensorHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorHandle>(info) {}

Napi::Object TensorHandle::Make(Napi::Env, std::shared_ptr<Tensor> tensor) {
  Napi::Object obj = constructor->New({});
  Napi::ObjectWrap<TensorHandle>::Unwrap(obj)->tensor_ = std::move(tensor);
  return obj;
}

std::shared_ptr<Tensor> TensorHandle::FromValue(Napi::Value value, const char* what) {
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(constructor->Value()))
    fail(code::kArgument, std::string(what) + " must be a Tensor");
  TensorHandle* h = Napi::ObjectWrap<TensorHandle>::Unwrap(value.As<Napi::Object>());
  if (!h->tensor_)
    fail(code::kDisposed, std::string(what) + " was disposed: it can no longer be used");
  return h->tensor_;
}

Napi::Value TensorHandle::Dispose(const Napi::CallbackInfo& info) {
  // Work in flight holds its own reference, so the memory goes only when that work is done.
  tensor_.reset();
  return info.Env().Undefined();
}

Napi::Value TensorHandle::IsDisposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !tensor_);
}

Napi::Value TensorHandle::Shape(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    auto t = FromValue(Value(), "tensor");
    Napi::Array a = Napi::Array::New(info.Env(), t->shape.size());
    for (size_t i = 0; i < t->shape.size(); ++i)
      a.Set(static_cast<uint32_t>(i),
            Napi::Number::New(info.Env(), static_cast<double>(t->shape[i])));
    return a;
  });
}

Napi::Value TensorHandle::DTypeName(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    return Napi::String::New(info.Env(), dtype_name(FromValue(Value(), "tensor")->dtype));
  });
}

Napi::Value TensorHandle::DeviceName(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    return Napi::String::New(info.Env(), device_name(FromValue(Value(), "tensor")->device));
  });
}

// read() -> Promise<TypedArray>: the copy (device to host for CUDA) runs off the JS thread into
// an ArrayBuffer that JS cannot see until the Promise resolves.
Napi::Value TensorHandle::Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto t = FromValue(Value(), "tensor");
    Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, t->nbytes());
    auto ref = std::make_shared<Napi::Reference<Napi::ArrayBuffer>>(Napi::Persistent(buffer));
    void* dst = buffer.Data();
    return PromiseWorker::start(
        env, [t, dst]() { copy_to_host(*t, dst); },
        [t, ref](Napi::Env env) -> Napi::Value {
          Napi::ArrayBuffer b = ref->Value();
          size_t length = static_cast<size_t>(t->numel());
          napi_value array;
          NAPI_THROW_IF_FAILED(
              env, napi_create_typedarray(env, typed_array_type(t->dtype), length, b, 0, &array),
              Napi::Value());
          return Napi::Value(env, array);
        });
  });
}

Napi::Value CreateTensor(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    if (info.Length() < 4 || !info[0].IsTypedArray() || !info[1].IsArray() || !info[2].IsString() ||
        !info[3].IsString())
      fail(code::kArgument, "createTensor(typedArray, shape, dtype, device)");
    Napi::TypedArray src = info[0].As<Napi::TypedArray>();
    DType dtype = parse_dtype(info[2].As<Napi::String>().Utf8Value());
    Device device = parse_device(info[3].As<Napi::String>().Utf8Value());
    if (src.TypedArrayType() != typed_array_type(dtype))
      fail(code::kDtype, std::string("the typed array does not hold ") + dtype_name(dtype));
    Napi::Array shape_arr = info[1].As<Napi::Array>();
    std::vector<int64_t> shape;
    int64_t numel = 1;
    for (uint32_t i = 0; i < shape_arr.Length(); ++i) {
      Napi::Value v = shape_arr.Get(i);
      double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
      if (!(d >= 0) || d != static_cast<double>(static_cast<int64_t>(d)))
        fail(code::kShape, "shape entries must be non-negative integers");
      shape.push_back(static_cast<int64_t>(d));
      numel *= shape.back();
    }
    if (static_cast<size_t>(numel) != src.ElementLength())
      fail(code::kShape, "shape " + shape_string(shape) + " holds " + std::to_string(numel) +
                             " elements but the array has " + std::to_string(src.ElementLength()));
    const uint8_t* bytes = static_cast<const uint8_t*>(src.ArrayBuffer().Data()) + src.ByteOffset();
    return TensorHandle::Make(env, tensor_from_host(bytes, dtype, device, std::move(shape)));
  });
}

}  // namespace pfgm::binding
