// JS entry points of the double-precision linear algebra behind the metrics (src/native/linalg):
// the symmetric eigensolver, feature statistics, the Fréchet distance and k-NN precision/recall.
#pragma once

#include <napi.h>

namespace pfgm::binding {
void InitLinalg(Napi::Env env, Napi::Object exports);
}  // namespace pfgm::binding
