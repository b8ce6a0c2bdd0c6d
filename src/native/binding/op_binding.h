#pragma once

#include <napi.h>

namespace pfgm::binding {
// runOp(name, attrs, inputs) -> Promise<outputs>: runs one registered op case (ops/op_cases.h).
Napi::Value RunOp(const Napi::CallbackInfo& info);
// opCases() -> the names of the registered op cases.
Napi::Value OpCases(const Napi::CallbackInfo& info);
}  // namespace pfgm::binding
