#include "collectives.h"

namespace pfgm::dist {
namespace {

// Waits for the whole buffer, then reduces it in one call.
class WholeAllReduce : public PendingAllReduce {
 public:
  WholeAllReduce(Collectives& group, float* data, int64_t count, ReduceOp op)
      : group_(group), data_(data), count_(count), op_(op) {}
  void ready_from(int64_t) override {}
  void finish() override { group_.all_reduce(data_, count_, op_); }

 private:
  Collectives& group_;
  float* data_;
  int64_t count_;
  ReduceOp op_;
};

}  // namespace

std::unique_ptr<PendingAllReduce> Collectives::start_all_reduce(float* data, int64_t count,
                                                                ReduceOp op) {
  return std::make_unique<WholeAllReduce>(*this, data, count, op);
}

}  // namespace pfgm::dist
