// The JS side of a data-parallel group (collectives/collectives.h): initDistributed() joins one,
// the handle it resolves to runs small collectives, and networks attach to it for training.
#pragma once

#include <napi.h>

#include <memory>

#include "../collectives/collectives.h"

namespace pfgm::binding {

class DistributedHandle : public Napi::ObjectWrap<DistributedHandle> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit DistributedHandle(const Napi::CallbackInfo& info);
  // The group behind a handle; ERR_PFGM_ARGUMENT when `v` is not one, ERR_PFGM_DISPOSED after
  // close().
  static std::shared_ptr<dist::Collectives> group_of(const Napi::Value& v);

 private:
  std::shared_ptr<dist::Collectives> live(const char* what) const;
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value AllReduce(const Napi::CallbackInfo& info);
  Napi::Value AllGather(const Napi::CallbackInfo& info);
  Napi::Value Broadcast(const Napi::CallbackInfo& info);
  Napi::Value Barrier(const Napi::CallbackInfo& info);

  std::shared_ptr<dist::Collectives> group_;
  static Napi::FunctionReference* constructor_;
  friend Napi::Value InitDistributed(const Napi::CallbackInfo& info);
};

// Registers initDistributed and collectiveBackends on the addon's exports.
void InitDist(Napi::Env env, Napi::Object exports);

}  // namespace pfgm::binding
