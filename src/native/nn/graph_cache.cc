#include "graph_cache.h"

#include <mutex>

namespace pfgm::nn {
namespace {

class EagerGraphCache final : public GraphCache {
 public:
  void run(uint64_t, const std::function<void()>& ops) override { ops(); }
};

std::mutex& refusal_mutex() {
  static auto* mu = new std::mutex;  // never destroyed: a GPU thread may still report at exit
  return *mu;
}
std::string& refusal() {
  static auto* text = new std::string;
  return *text;
}

}  // namespace

std::unique_ptr<GraphCache> eager_graph_cache() { return std::make_unique<EagerGraphCache>(); }

GraphStats& graph_stats() {
  static auto* stats = new GraphStats;
  return *stats;
}

std::string graph_refusal() {
  std::lock_guard<std::mutex> lock(refusal_mutex());
  return refusal();
}

void set_graph_refusal(const std::string& why) {
  std::lock_guard<std::mutex> lock(refusal_mutex());
  refusal() = why;
}

}  // namespace pfgm::nn
