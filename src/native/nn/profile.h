// Wall-clock totals per engine stage, for finding where a training step spends its time
// (bench/train-step.mjs --profile). Off unless PFGM_PROFILE=1; then each scope costs two clock
// reads. Stages run on the one thread that drives a network, so a plain map suffices.
#pragma once

#include <chrono>
#include <map>
#include <string>

namespace pfgm::nn::profile {

bool enabled();
// PFGM_PROFILE=shapes: stages that take many shapes (the convolutions) are also timed per shape,
// each under a name that holds its geometry (see stage_name), to find which layers cost most.
bool by_shape();
std::map<std::string, double>& totals_ms();

// `stage`, or with by_shape() `stage` + "[" + detail + "]", as a name that lives as long as the
// process (interned per thread: a Scope keeps only the pointer).
const char* stage_name(const char* stage, const std::string& detail);

class Scope {
 public:
  explicit Scope(const char* name) : name_(enabled() ? name : nullptr) {
    if (name_ != nullptr) start_ = std::chrono::steady_clock::now();
  }
  ~Scope() {
    if (name_ == nullptr) return;
    const auto d = std::chrono::steady_clock::now() - start_;
    totals_ms()[name_] += std::chrono::duration<double, std::milli>(d).count();
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  const char* name_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace pfgm::nn::profile

#define PFGM_PROFILE_CAT2(a, b) a##b
#define PFGM_PROFILE_CAT(a, b) PFGM_PROFILE_CAT2(a, b)
#define PFGM_PROFILE(name) \
  ::pfgm::nn::profile::Scope PFGM_PROFILE_CAT(pfgm_profile_, __LINE__)(name)
