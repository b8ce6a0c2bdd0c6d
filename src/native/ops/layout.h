// Conventions shared by every op of the engine (docs/dev/architecture.md, "The native engine").
//
// - Activations are fp32 and channels-last (NHWC): element (n, y, x, c) of an [N, H, W, C]
//   activation sits at ((n * H + y) * W + x) * C + c. Keeping one layout end to end lets oneDNN
//   run its direct convolutions without reordering activations, and makes group norm, bias,
//   attention and resampling contiguous over channels. PyTorch's NCHW appears only at the
//   network's boundary (the input image and the output), where the network transposes.
// - Parameters keep PyTorch's layouts (conv weight [O, I, kh, kw], linear weight [out, in]) so
//   the one parameter buffer is EDM's state dict, tensor for tensor.
// - Backward functions *write* (never accumulate) every gradient they are given a pointer for;
//   a null gradient pointer means "not needed". Every parameter is used once per forward, and
//   where an activation feeds two consumers the caller adds the two input gradients.
// - The CPU functions here are the readable reference; the CUDA backend (cuda/)
//   implements the same signatures over device pointers.
#pragma once

#include <cstdint>

namespace pfgm::op {

struct Nhwc {
  int64_t n, h, w, c;
  int64_t pixels() const { return n * h * w; }
  int64_t numel() const { return n * h * w * c; }
};

}  // namespace pfgm::op
