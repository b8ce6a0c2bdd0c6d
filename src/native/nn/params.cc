#include "params.h"

#include <cmath>

#include "../rng/philox.h"

namespace pfgm::nn {
namespace {

int64_t numel_of(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// Values of one tensor: EDM's weight_init (xavier: sqrt(6 / (fan_in + fan_out)) * U(-1, 1), ...).
void fill(const ParamInfo& p, uint64_t seed, uint64_t index, float* dst) {
  const InitSpec& s = p.init;
  if (s.mode == InitMode::kConstant) {
    for (int64_t i = 0; i < p.numel; ++i) dst[i] = static_cast<float>(s.gain);
    return;
  }
  const bool uniform = s.mode == InitMode::kXavierUniform || s.mode == InitMode::kKaimingUniform;
  double scale = 0;
  switch (s.mode) {
    case InitMode::kXavierUniform: scale = std::sqrt(6.0 / (s.fan_in + s.fan_out)); break;
    case InitMode::kXavierNormal: scale = std::sqrt(2.0 / (s.fan_in + s.fan_out)); break;
    case InitMode::kKaimingUniform: scale = std::sqrt(3.0 / s.fan_in); break;
    case InitMode::kKaimingNormal: scale = std::sqrt(1.0 / s.fan_in); break;
    default: break;
  }
  scale *= s.gain;
  const StreamKey key{seed, index, 0, kPurposeInit};
  for (int64_t i = 0; i < p.numel; i += 4) {
    double v[4];
    if (uniform) {
      const Philox4 r = draw_block(key, static_cast<uint32_t>(i / 4));
      for (int j = 0; j < 4; ++j) v[j] = 2.0 * uniform_open(r.v[j]) - 1.0;
    } else {
      normals4(key, static_cast<uint32_t>(i / 4), v);
    }
    for (int j = 0; j < 4 && i + j < p.numel; ++j) dst[i + j] = static_cast<float>(scale * v[j]);
  }
}

}  // namespace

int64_t ParamSet::add(const std::string& name, std::vector<int64_t> shape, InitSpec init) {
  const int64_t n = numel_of(shape);
  params_.push_back(ParamInfo{name, std::move(shape), param_count_, n, init});
  param_count_ += n;
  return params_.back().offset;
}

int64_t ParamSet::add_buffer(const std::string& name, std::vector<int64_t> shape, InitSpec init) {
  const int64_t n = numel_of(shape);
  buffers_.push_back(ParamInfo{name, std::move(shape), buffer_count_, n, init});
  buffer_count_ += n;
  return buffers_.back().offset;
}

void ParamSet::initialize(uint64_t seed, float* params, float* buffers) const {
  uint64_t index = 0;
  for (const ParamInfo& p : params_) fill(p, seed, index++, params + p.offset);
  for (const ParamInfo& b : buffers_) fill(b, seed, index++, buffers + b.offset);
}

}  // namespace pfgm::nn
