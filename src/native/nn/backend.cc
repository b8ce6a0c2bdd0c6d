// What backend.h declares besides the backends themselves: the precision's names, and the host
// access to backend memory that works on any backend (the pointer itself on the CPU, a staged copy
// elsewhere).
#include "backend.h"
#include "../errors.h"

namespace pfgm::nn {

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::kFp32: return "fp32";
    case Precision::kTf32: return "tf32";
    case Precision::kBf16: return "bf16";
  }
  return "fp32";
}

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::kFp32;
  if (name == "tf32") return Precision::kTf32;
  if (name == "bf16") return Precision::kBf16;
  fail(code::kArgument, "unknown precision '" + name + "' (use 'fp32', 'tf32' or 'bf16')");
}

const float* host_view(Backend& be, const float* p, int64_t count, std::vector<float>& tmp) {
  if (be.device() == Device::cpu) return p;
  tmp.resize(static_cast<size_t>(count));
  be.download(count, p, tmp.data());
  return tmp.data();
}

float* host_target(Backend& be, float* p, int64_t count, std::vector<float>& tmp) {
  if (be.device() == Device::cpu) return p;
  tmp.resize(static_cast<size_t>(count));
  return tmp.data();
}

void commit_host(Backend& be, float* p, int64_t count, const std::vector<float>& tmp) {
  if (be.device() == Device::cpu) return;
  be.upload(count, tmp.data(), p);
}

float* host_edit(Backend& be, float* p, int64_t count, std::vector<float>& tmp) {
  float* h = host_target(be, p, count, tmp);
  if (h != p) be.download(count, p, h);
  return h;
}

}  // namespace pfgm::nn
