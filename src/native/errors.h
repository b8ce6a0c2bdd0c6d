// Errors that cross into JS carry a stable `code` (docs/dev/architecture.md, "The addon boundary");
// the TypeScript layer turns them into PfgmError. Nothing thrown here may escape as a crash.
#pragma once

#include <stdexcept>
#include <string>

namespace pfgm {

namespace code {
inline constexpr const char* kArgument = "ERR_PFGM_ARGUMENT";  // a value out of its domain
inline constexpr const char* kShape = "ERR_PFGM_SHAPE";
inline constexpr const char* kDtype = "ERR_PFGM_DTYPE";
inline constexpr const char* kDevice = "ERR_PFGM_DEVICE";  // device not present / not built
inline constexpr const char* kCuda = "ERR_PFGM_CUDA";      // a CUDA runtime failure
inline constexpr const char* kMemory = "ERR_PFGM_OUT_OF_MEMORY";
inline constexpr const char* kDisposed = "ERR_PFGM_DISPOSED";
// A process group that cannot form or has lost a rank (docs/distributed.md).
inline constexpr const char* kDistributed = "ERR_PFGM_DISTRIBUTED";
inline constexpr const char* kInternal = "ERR_PFGM_INTERNAL";
}  // namespace code

class Error : public std::runtime_error {
 public:
  Error(const char* code, const std::string& message) : std::runtime_error(message), code_(code) {}
  const char* code() const { return code_; }

 private:
  const char* code_;
};

[[noreturn]] inline void fail(const char* code, const std::string& message) {
  throw Error(code, message);
}

}  // namespace pfgm
