// The JS object that owns an FID Inception-v3 (nn/inception.h): weights are loaded (and their
// batch norms folded) off the JS thread, features are computed off the JS thread.
#pragma once

#include <napi.h>

#include <memory>
#include <string>

#include "../nn/inception.h"

namespace pfgm::binding {

class InceptionHandle : public Napi::ObjectWrap<InceptionHandle> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit InceptionHandle(const Napi::CallbackInfo& info);

 private:
  // load({ name: Float32Array }, device = 'cpu') -> Promise<void>
  Napi::Value Load(const Napi::CallbackInfo& info);
  // features({ images, count, channels, height, width, batch, taps? }) -> Promise<{ features, taps?
  // }>
  Napi::Value Features(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value IsLoaded(const Napi::CallbackInfo& info);
  // device() -> the device load() was given ('cpu', 'cuda', ...), undefined before load.
  Napi::Value Device(const Napi::CallbackInfo& info);
  // Inception.tensors() -> [{ name, shape }]: every tensor load() needs, in state-dict order.
  static Napi::Value Tensors(const Napi::CallbackInfo& info);
  // Inception.stages() -> the stage names features() can tap.
  static Napi::Value Stages(const Napi::CallbackInfo& info);

  std::shared_ptr<nn::InceptionV3Fid> net_;
  std::string device_;
  bool disposed_ = false;
};

}  // namespace pfgm::binding
