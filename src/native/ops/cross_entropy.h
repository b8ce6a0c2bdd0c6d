// Softmax cross-entropy of a classifier's logits against integer class labels, averaged over the
// batch (torch.nn.functional.cross_entropy with reduction 'mean').
#pragma once

#include <cstdint>

namespace pfgm::cpu {

struct CrossEntropyResult {
  double loss;      // mean over the batch of -log softmax(logits)[label]
  int64_t correct;  // samples whose largest logit is their label's (ties: the first index)
};

// logits [n, classes]; labels [n] in [0, classes) (checked by the caller). prob [n, classes]
// (nullable) receives the softmax, which backward needs; computed with the max subtracted, in
// double per sample.
CrossEntropyResult cross_entropy_forward(int64_t n, int64_t classes, const float* logits,
                                         const int32_t* labels, float* prob);
// dlogits = (softmax - onehot(label)) / n: the gradient of the batch mean.
void cross_entropy_backward(int64_t n, int64_t classes, const float* prob, const int32_t* labels,
                            float* dlogits);

}  // namespace pfgm::cpu
