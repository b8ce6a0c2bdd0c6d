#pragma once

#include <napi.h>

namespace pfgm::binding {
Napi::Value StudentTNoise(const Napi::CallbackInfo& info);
Napi::Value PfgmPerturb(const Napi::CallbackInfo& info);
Napi::Value TrainingSigma(const Napi::CallbackInfo& info);
Napi::Value Philox(const Napi::CallbackInfo& info);
}  // namespace pfgm::binding
