// Exports that a build links in beside the addon's own (the test build adds some), so addon.cc
// names none of them: each registers a function that adds its exports when the addon loads.
#pragma once

#include <napi.h>

namespace pfgm::binding {

using ExportsFn = void (*)(Napi::Env env, Napi::Object exports);
// Registers `fn`; meant for static initialisers (any translation unit).
void register_exports(ExportsFn fn);
// Runs every registered function on the module's exports (addon.cc's Init, last).
void add_registered_exports(Napi::Env env, Napi::Object exports);

}  // namespace pfgm::binding
