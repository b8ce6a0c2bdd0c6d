// The JS object that owns a classifier (nn/classifier.h) and its Adam state.
#pragma once

#include <napi.h>

#include <memory>

namespace pfgm::binding {

struct ClassifierSession;

class ClassifierHandle : public Napi::ObjectWrap<ClassifierHandle> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit ClassifierHandle(const Napi::CallbackInfo& info);

 private:
  std::shared_ptr<ClassifierSession> live(const char* what) const;
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value ParamInfo(const Napi::CallbackInfo& info);
  Napi::Value GetBuffer(const Napi::CallbackInfo& info);
  Napi::Value SetBuffer(const Napi::CallbackInfo& info);
  Napi::Value AdamSteps(const Napi::CallbackInfo& info);
  Napi::Value SetAdamSteps(const Napi::CallbackInfo& info);
  Napi::Value Forward(const Napi::CallbackInfo& info);
  Napi::Value LossAndGrad(const Napi::CallbackInfo& info);
  Napi::Value TrainStep(const Napi::CallbackInfo& info);

  std::shared_ptr<ClassifierSession> session_;
};

}  // namespace pfgm::binding
