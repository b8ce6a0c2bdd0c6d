// The JS object that owns a native tensor. dispose() lets go of the storage at once; the
// garbage collector's finalizer is the safety net for handles nobody disposed.
#pragma once

#include <napi.h>

#include <memory>

#include "../tensor.h"

namespace pfgm::binding {

class TensorHandle : public Napi::ObjectWrap<TensorHandle> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  static Napi::Object Make(Napi::Env env, std::shared_ptr<Tensor> tensor);
  // The tensor behind a JS value, or a coded error if it is not a live handle.
  static std::shared_ptr<Tensor> FromValue(Napi::Value value, const char* what);

  explicit TensorHandle(const Napi::CallbackInfo& info);

 private:
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value IsDisposed(const Napi::CallbackInfo& info);
  Napi::Value Shape(const Napi::CallbackInfo& info);
  Napi::Value DTypeName(const Napi::CallbackInfo& info);
  Napi::Value DeviceName(const Napi::CallbackInfo& info);
  Napi::Value Read(const Napi::CallbackInfo& info);

  std::shared_ptr<Tensor> tensor_;
};

// createTensor(typedArray, shape, dtype, device) -> handle
Napi::Value CreateTensor(const Napi::CallbackInfo& info);

}  // namespace pfgm::binding
