// Host stand-ins for CUDA's built-in index variables, so that headers with device helpers
// (cuda/runtime/launch.cuh) compile as plain C++ in the fake-CUDA test addon. Never read: no kernel
// runs.
#pragma once
#include <vector_types.h>

static const uint3 threadIdx{}, blockIdx{};
static const dim3 blockDim, gridDim;
