// Op cases for the classifier's own ops, global average pooling and softmax cross-entropy: the
// door through which test/native/classifier.test.ts checks them against PyTorch golden tensors
// (test/fixtures/gen/classifier.py). Labels cross as float class indices (host tensors are float).
#include <cmath>
#include <string>
#include <vector>

#include "errors.h"
#include "op_cases.h"
#include "ops/cross_entropy.h"
#include "ops/pooling.h"

namespace {

using pfgm::code::kArgument;
using pfgm::code::kShape;
using pfgm::opcases::Attrs;
using pfgm::opcases::HostTensor;
using pfgm::opcases::input;
using pfgm::opcases::output;
using pfgm::opcases::shape_text;
using pfgm::opcases::Tensors;

PFGM_OP_CASE("global_avg_pool", [](const Attrs&, const Tensors& in, Tensors& out) {
  const HostTensor& x = input(in, "x");
  const HostTensor& dy = input(in, "dy");
  if (x.shape.size() != 4 || x.shape[0] < 1 || x.shape[1] < 1 || x.shape[2] < 1 || x.shape[3] < 1)
    pfgm::fail(kShape,
               "global_avg_pool: 'x' must be NHWC [n, h, w, c], got " + shape_text(x.shape));
  const pfgm::op::Nhwc s{x.shape[0], x.shape[1], x.shape[2], x.shape[3]};
  if (dy.shape != std::vector<int64_t>{s.n, s.c})
    pfgm::fail(kShape, "global_avg_pool: 'dy' must be [n, c], got " + shape_text(dy.shape));
  pfgm::cpu::global_avg_pool_forward(s, x.data.data(), output(out, "y", {s.n, s.c}));
  pfgm::cpu::global_avg_pool_backward(s, dy.data.data(), output(out, "dx", x.shape));
});

PFGM_OP_CASE("cross_entropy", [](const Attrs&, const Tensors& in, Tensors& out) {
  const HostTensor& logits = input(in, "logits");
  const HostTensor& labels = input(in, "labels");
  if (logits.shape.size() != 2 || logits.shape[0] < 1 || logits.shape[1] < 2)
    pfgm::fail(kShape, "cross_entropy: 'logits' must be [n, classes >= 2], got " +
                           shape_text(logits.shape));
  const int64_t n = logits.shape[0], k = logits.shape[1];
  if (labels.shape != std::vector<int64_t>{n})
    pfgm::fail(kShape, "cross_entropy: 'labels' must be [n], got " + shape_text(labels.shape));
  std::vector<int32_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const float v = labels.data[i];
    if (!(v >= 0 && v < static_cast<float>(k)) || v != std::floor(v))
      pfgm::fail(kArgument, "cross_entropy: label " + std::to_string(v) + " is not a class index");
    idx[i] = static_cast<int32_t>(v);
  }
  float* prob = output(out, "prob", logits.shape);
  const pfgm::cpu::CrossEntropyResult r =
      pfgm::cpu::cross_entropy_forward(n, k, logits.data.data(), idx.data(), prob);
  output(out, "loss", {1})[0] = static_cast<float>(r.loss);
  output(out, "correct", {1})[0] = static_cast<float>(r.correct);
  pfgm::cpu::cross_entropy_backward(n, k, prob, idx.data(), output(out, "dlogits", logits.shape));
});

}  // namespace
