#pragma once

#include <napi.h>

namespace pfgm::binding {
// Test build only (op_binding.cc registers them as exports through binding/exports_hook.h).
// runOp(name, attrs, inputs, device = 'cpu') -> Promise<outputs>: runs one registered op case
// (op_cases.h), or with 'cuda' its CUDA twin (ERR_PFGM_DEVICE where no GPU can run it).
Napi::Value RunOp(const Napi::CallbackInfo& info);
// opCases(device = 'cpu') -> the names of the registered op cases (or of their CUDA twins).
Napi::Value OpCases(const Napi::CallbackInfo& info);
}  // namespace pfgm::binding
