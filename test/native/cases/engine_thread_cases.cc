// Where Promise-returning work runs (src/native/binding/engine_thread.h): `engine.where` reports
// the number of the thread that ran it (a small integer given to each thread on first use) and the
// size of an OpenMP team started there, after holding the thread for `hold_ms`.
#include <omp.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "op_cases.h"

namespace pfgm::opcases {
namespace {

int thread_number() {
  static std::atomic<int> next{1};
  thread_local const int number = next.fetch_add(1);
  return number;
}

// The size of an OpenMP team started on the calling thread.
int team_size() {
  int team = 0;
#pragma omp parallel
  {
#pragma omp single
    team = omp_get_num_threads();
  }
  return team;
}

PFGM_OP_CASE("engine.where", [](const Attrs& a, const Tensors&, Tensors& out) {
  const double hold_ms = attr(a, "hold_ms", 0.0);
  if (hold_ms > 0) std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(hold_ms));
  output(out, "thread", {1})[0] = static_cast<float>(thread_number());
  output(out, "omp_threads", {1})[0] = static_cast<float>(team_size());
});

}  // namespace
}  // namespace pfgm::opcases
