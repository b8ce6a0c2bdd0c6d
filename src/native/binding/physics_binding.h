#pragma once

#include <napi.h>

#include <cstdint>
#include <vector>

namespace pfgm::binding {

// Seeds arrive as a BigUint64Array: one seed (stream offset + i) or one per sample, with the
// stream offset and step (src/physics/streams.ts nativeStreams).
struct SeedArgs {
  std::vector<uint64_t> per_sample;
  uint64_t seed = 0;
  uint64_t offset = 0;
  uint32_t step = 0;
};
// o.seeds, o.offset, o.step for `count` samples.
SeedArgs read_seeds(const Napi::Object& o, int64_t count);

Napi::Value StudentTNoise(const Napi::CallbackInfo& info);
Napi::Value PfgmPerturb(const Napi::CallbackInfo& info);
Napi::Value TrainingSigma(const Napi::CallbackInfo& info);
Napi::Value Philox(const Napi::CallbackInfo& info);
}  // namespace pfgm::binding
