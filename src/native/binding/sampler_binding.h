// JS entry points of the sampler stack (src/sample/*.ts): the fused per-step update, EDM's churn
// noise, the likelihood's Rademacher probes, and the ideal denoiser (docs/method.md §2.4) as a
// model.
#pragma once

#include <napi.h>

namespace pfgm::binding {
// Registers linearCombination, linearCombinationAsync, churnNoise, rademacher and the
// IdealDenoiser class on the addon's exports.
void InitSampler(Napi::Env env, Napi::Object exports);
}  // namespace pfgm::binding
