// The two paths of group_norm.cu's backward, by name, for the kernel lab
// (bench/kernels/group_norm/), which times one against the other; the engine calls
// group_norm_backward (ops.h), which picks one per shape as group_norm_backward_path says.
#pragma once

#include <cstdint>

#include "ops/group_norm.h"

namespace pfgm::cuda {

enum class GroupNormBackward {
  kOneRead,  // one block per (sample, column of whole groups) holds its x and dy in registers
  kTwoPass,  // channel sums, then coefficients, then a second read of x and dy for dx
};

// The path group_norm_backward takes for s: kOneRead where a column of whole groups over all of
// a sample's pixels fits the registers budgeted (group_norm.cu, one_read_plan), else kTwoPass.
GroupNormBackward group_norm_backward_path(const op::GroupNormShape& s);

// group_norm_backward on the given path; kOneRead where it does not fit is ERR_PFGM_SHAPE.
void group_norm_backward_on(GroupNormBackward path, const op::GroupNormShape& s, const float* x,
                            const float* shift, const float* gamma, const float* beta,
                            const float* mean, const float* rstd, const float* dy, float* dx,
                            float* dgamma, float* dbeta, float* dshift);

}  // namespace pfgm::cuda
