#include "profile.h"

#include <cstdlib>
#include <cstring>
#include <set>

namespace pfgm::nn::profile {

bool enabled() {
  static const bool on = [] {
    const char* v = std::getenv("PFGM_PROFILE");
    return v != nullptr && std::strcmp(v, "0") != 0 && v[0] != '\0';
  }();
  return on;
}

bool by_shape() {
  static const bool on = [] {
    const char* v = std::getenv("PFGM_PROFILE");
    return v != nullptr && std::strcmp(v, "shapes") == 0;
  }();
  return on;
}

const char* stage_name(const char* stage, const std::string& detail) {
  if (!by_shape()) return stage;
  thread_local std::set<std::string> names;
  return names.insert(std::string(stage) + "[" + detail + "]").first->c_str();
}

std::map<std::string, double>& totals_ms() {
  static std::map<std::string, double> totals;
  return totals;
}

}  // namespace pfgm::nn::profile
