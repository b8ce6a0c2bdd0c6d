// The emulator's test export: emuCopies() -> { toDevice: number[], toHost: number[] }, the byte
// count of every host<->device copy since the last call (emu_runtime.cc records them), so a test
// can show which batches cross to the host (test/gpu/sample-resident-parity.test.ts).
#include <napi.h>

#include "binding/exports_hook.h"
#include "emu_state.h"

namespace {

Napi::Array sizes(Napi::Env env, const std::vector<size_t>& v) {
  Napi::Array a = Napi::Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); ++i) a.Set(static_cast<uint32_t>(i), static_cast<double>(v[i]));
  return a;
}

Napi::Value EmuCopies(const Napi::CallbackInfo& info) {
  const pfgm_emu::Copies c = pfgm_emu::take_copies();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("toDevice", sizes(info.Env(), c.to_device));
  o.Set("toHost", sizes(info.Env(), c.to_host));
  return o;
}

void add_exports(Napi::Env env, Napi::Object exports) {
  exports.Set("emuCopies", Napi::Function::New(env, EmuCopies));
}

const bool kRegistered = (pfgm::binding::register_exports(add_exports), true);

}  // namespace
