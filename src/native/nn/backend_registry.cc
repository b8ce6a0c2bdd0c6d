// The devices a build registers beside 'cpu' and 'cuda' (backend.h): a name -> factory map that
// static initialisers in any translation unit may fill before the addon's first call.
#include <map>
#include <string>

#include "backend.h"

namespace pfgm::nn {
namespace {

// Function-local, so it exists before any static initialiser registers into it.
std::map<std::string, BackendFactory>& registry() {
  static std::map<std::string, BackendFactory> factories;
  return factories;
}

}  // namespace

void register_backend(const char* name, BackendFactory factory) { registry()[name] = factory; }

BackendFactory find_backend(const std::string& name) {
  auto it = registry().find(name);
  return it == registry().end() ? nullptr : it->second;
}

}  // namespace pfgm::nn
