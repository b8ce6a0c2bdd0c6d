#include "profile.h"

#include <cstdlib>
#include <cstring>

namespace pfgm::nn::profile {

bool enabled() {
  static const bool on = [] {
    const char* v = std::getenv("PFGM_PROFILE");
    return v != nullptr && std::strcmp(v, "0") != 0 && v[0] != '\0';
  }();
  return on;
}

std::map<std::string, double>& totals_ms() {
  static std::map<std::string, double> totals;
  return totals;
}

}  // namespace pfgm::nn::profile
