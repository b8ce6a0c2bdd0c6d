// The JS object that owns a network and its training state (train/session.h).
#pragma once

#include <napi.h>

#include <memory>
#include <string>

#include "../train/session.h"

namespace pfgm::binding {

class NetworkHandle : public Napi::ObjectWrap<NetworkHandle> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit NetworkHandle(const Napi::CallbackInfo& info);
  // The session of a JS Network handle (ERR_PFGM_ARGUMENT for anything else, ERR_PFGM_DISPOSED
  // after dispose()).
  static std::shared_ptr<train::Session> session_of(const Napi::Value& v, const char* what);

 private:
  std::shared_ptr<train::Session> live(const char* what) const;
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value ParamInfo(const Napi::CallbackInfo& info);
  Napi::Value GetBuffer(const Napi::CallbackInfo& info);
  Napi::Value SetBuffer(const Napi::CallbackInfo& info);
  Napi::Value Denoise(const Napi::CallbackInfo& info);
  Napi::Value Field(const Napi::CallbackInfo& info);
  Napi::Value LossAndGrad(const Napi::CallbackInfo& info);
  Napi::Value InputVjp(const Napi::CallbackInfo& info);
  Napi::Value TrainStep(const Napi::CallbackInfo& info);
  Napi::Value Counters(const Napi::CallbackInfo& info);
  Napi::Value SetCounters(const Napi::CallbackInfo& info);
  Napi::Value AttachDistributed(const Napi::CallbackInfo& info);
  Napi::Value SyncFromRoot(const Napi::CallbackInfo& info);
  Napi::Value SampleRun(const Napi::CallbackInfo& info);
  static Napi::Value Profile(const Napi::CallbackInfo& info);

  static Napi::FunctionReference* constructor_;
  std::shared_ptr<train::Session> session_;
  std::string device_;  // as configured: 'cpu', 'cuda' or a registered device
};

}  // namespace pfgm::binding
