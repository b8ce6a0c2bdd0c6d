// The JS object over a sampling run whose state stays on the network's device (sample/run.h).
#pragma once

#include <napi.h>

#include <memory>

#include "../sample/run.h"

namespace pfgm::binding {

class SampleRunHandle : public Napi::ObjectWrap<SampleRunHandle> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit SampleRunHandle(const Napi::CallbackInfo& info);
  // network.sampleRun(config): a run on that network, made by the addon that made the network
  // (a test may hold networks of two addons).
  static Napi::Value Create(Napi::Value network, Napi::Value config);

 private:
  std::shared_ptr<sample::Run> live(const char* what) const;
  Napi::Value Upload(const Napi::CallbackInfo& info);
  Napi::Value Download(const Napi::CallbackInfo& info);
  Napi::Value Release(const Napi::CallbackInfo& info);
  Napi::Value Prior(const Napi::CallbackInfo& info);
  Napi::Value Denoise(const Napi::CallbackInfo& info);
  Napi::Value Drift(const Napi::CallbackInfo& info);
  Napi::Value SlopeUpdate(const Napi::CallbackInfo& info);
  Napi::Value Combine(const Napi::CallbackInfo& info);
  Napi::Value Churn(const Napi::CallbackInfo& info);
  Napi::Value Check(const Napi::CallbackInfo& info);
  Napi::Value ScaledSumsq(const Napi::CallbackInfo& info);
  Napi::Value Transfers(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  static Napi::FunctionReference* constructor_;
  std::shared_ptr<sample::Run> run_;
};

}  // namespace pfgm::binding
