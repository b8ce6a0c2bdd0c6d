#include "grads_ready.h"

#include <algorithm>

#include "context.h"

namespace pfgm::nn {

int ReadyTracker::add_module(int64_t begin, int64_t end) {
  ranges_.push_back(Range{begin, end});
  return static_cast<int>(ranges_.size() - 1);
}

void ReadyTracker::seal(int64_t param_count) {
  by_begin_.resize(ranges_.size());
  for (size_t k = 0; k < ranges_.size(); ++k) by_begin_[k] = static_cast<int>(k);
  std::sort(by_begin_.begin(), by_begin_.end(),
            [&](int a, int b) { return ranges_[a].begin < ranges_[b].begin; });
  valid_ = !ranges_.empty();
  for (size_t k = 0; valid_ && k < by_begin_.size(); ++k) {
    const Range& r = ranges_[by_begin_[k]];
    const int64_t next = k + 1 < by_begin_.size() ? ranges_[by_begin_[k + 1]].begin : param_count;
    valid_ = r.begin < r.end && r.end == next;
  }
  uses_.assign(ranges_.size(), 0);
  left_.assign(ranges_.size(), 0);
}

void ReadyTracker::start_pass() {
  std::fill(uses_.begin(), uses_.end(), 0);
  frontier_ = by_begin_.size();
  armed_ = false;
}

void ReadyTracker::used(int module) { ++uses_[module]; }

void ReadyTracker::finished(const Context& ctx, int module) {
  if (!valid_ || ctx.grads_ready == nullptr) return;
  // The first backward call of a pass arms the per-module counts (forward also runs without a
  // backward, when sampling, so forward does not arm them).
  if (!armed_) {
    left_ = uses_;
    armed_ = true;
  }
  if (left_[module] > 0) --left_[module];
  const size_t before = frontier_;
  while (frontier_ > 0 && uses_[by_begin_[frontier_ - 1]] > 0 &&
         left_[by_begin_[frontier_ - 1]] == 0) {
    --frontier_;
  }
  if (frontier_ < before) ctx.grads_ready->ready_from(ranges_[by_begin_[frontier_]].begin);
}

}  // namespace pfgm::nn
