#include "exports_hook.h"

#include <vector>

namespace pfgm::binding {
namespace {

// Function-local, so it exists before any static initialiser registers into it.
std::vector<ExportsFn>& registry() {
  static std::vector<ExportsFn> fns;
  return fns;
}

}  // namespace

void register_exports(ExportsFn fn) { registry().push_back(fn); }

void add_registered_exports(Napi::Env env, Napi::Object exports) {
  for (ExportsFn fn : registry()) fn(env, exports);
}

}  // namespace pfgm::binding
