// The parameters of a network as one flat fp32 buffer (docs/dev/architecture.md, "Modules over flat
// buffers"): modules declare named tensors here while they are built, get an offset each, and read
// their values as `params + offset` at run time. Adam, EMA, clipping and checkpoints are then
// single passes over one array, and the names are EDM's PyTorch state-dict names.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pfgm::nn {

// EDM's weight_init modes (training/networks.py), times `gain`; kConstant fills with `gain`.
enum class InitMode { kXavierUniform, kXavierNormal, kKaimingUniform, kKaimingNormal, kConstant };

struct InitSpec {
  InitMode mode = InitMode::kXavierUniform;
  double fan_in = 1, fan_out = 1;
  double gain = 1;
};

struct ParamInfo {
  std::string name;
  std::vector<int64_t> shape;
  int64_t offset;  // into the parameter (or buffer) array, in floats
  int64_t numel;
  InitSpec init;
};

class ParamSet {
 public:
  // Declares a trainable tensor; returns its offset.
  int64_t add(const std::string& name, std::vector<int64_t> shape, InitSpec init);
  // Declares a non-trainable tensor (EDM's registered buffers, e.g. Fourier frequencies).
  int64_t add_buffer(const std::string& name, std::vector<int64_t> shape, InitSpec init);

  const std::vector<ParamInfo>& params() const { return params_; }
  const std::vector<ParamInfo>& buffers() const { return buffers_; }
  int64_t param_count() const { return param_count_; }
  int64_t buffer_count() const { return buffer_count_; }

  // Fills `params` and `buffers` by each tensor's InitSpec from the Philox stream of `seed`
  // (purpose kPurposeInit; tensor i of the declaration order is stream sample i).
  void initialize(uint64_t seed, float* params, float* buffers) const;

 private:
  std::vector<ParamInfo> params_, buffers_;
  int64_t param_count_ = 0, buffer_count_ = 0;
};

// Scopes names the way PyTorch's module tree does: Scope(s, "enc").sub("28x28_conv").name("weight")
// -> "enc.28x28_conv.weight".
struct Scope {
  std::string prefix;
  Scope sub(const std::string& child) const {
    return Scope{prefix.empty() ? child : prefix + "." + child};
  }
  std::string name(const std::string& leaf) const {
    return prefix.empty() ? leaf : prefix + "." + leaf;
  }
};

}  // namespace pfgm::nn
