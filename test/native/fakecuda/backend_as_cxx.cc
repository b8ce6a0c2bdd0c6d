// cuda/backend.cu, compiled as C++ for the fake-CUDA test addon: the real CUDA backend's
// forwarding, staging and synchronisation, run over fake_runtime.cc instead of the CUDA runtime
// and kernels (see fake_runtime.cc). Nothing here differs from what the CUDA addon compiles.
#include "../../../cuda/backend.cu"
#include "builtins.h"
