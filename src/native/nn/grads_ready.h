// How far a backward pass has finished the gradient buffer (docs/distributed.md, "GPUs"): a
// data-parallel GPU step starts reducing a bucket of the gradient buffer as soon as backward has
// written its last value, so NCCL's transfers run while the rest of the backward pass computes.
//
// A network announces readiness through the Context's GradientsReady; ReadyTracker works it out
// from the order in which backward finishes its modules. A module's gradients are final when the
// last of its uses in the pass has run backward; every parameter at or above the lowest offset of
// a run of finished modules that reaches the end of the buffer is then final.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace pfgm::nn {

struct Context;

class GradientsReady {
 public:
  virtual ~GradientsReady() = default;
  // Every gradient at an offset in [from, end of the buffer) is final for this pass. Calls come
  // with decreasing `from`, on the thread running backward, after the work that wrote them was
  // issued to the backend.
  virtual void ready_from(int64_t from) = 0;
};

class ReadyTracker {
 public:
  // Declares a module owning parameters [begin, end); returns its id. Declared modules must tile
  // [first begin, param_count) without gaps or overlaps (parameters below the first module, e.g.
  // a shared embedding, are finished by the network itself); otherwise the tracker reports
  // nothing and the reduction simply waits for the whole pass.
  int add_module(int64_t begin, int64_t end);
  // After the last module: the size of the parameter buffer.
  void seal(int64_t param_count);

  // Forward: a pass starts; each use of a module is counted.
  void start_pass();
  void used(int module);
  // Backward: one use of `module` has run; reports a lower bound through ctx.grads_ready when one
  // becomes final.
  void finished(const Context& ctx, int module);

 private:
  struct Range {
    int64_t begin, end;
  };
  std::vector<Range> ranges_;
  std::vector<int> by_begin_;     // module ids sorted by begin (after seal)
  std::vector<int> uses_, left_;  // per module: uses this pass, uses not yet run backward
  size_t frontier_ = 0;           // by_begin_[frontier_, end) are final
  bool valid_ = false, armed_ = false;
};

}  // namespace pfgm::nn
