// Shared by the memory-bound CPU ops: how work is split over OpenMP threads, and the compiler
// attribute that builds a hot loop twice (AVX2+FMA and baseline x86-64) and picks one at load
// time, since the addon is built without -march.
#pragma once

#include <algorithm>
#include <cstdint>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define PFGM_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define PFGM_VECTOR_CLONES
#endif

namespace pfgm::cpu {

// Elements per parallel chunk: below this, a loop runs on the calling thread (a parallel region
// costs more than the work), and chunk boundaries do not depend on the thread count.
inline constexpr int64_t kParallelGrain = int64_t{1} << 15;

// Runs body(begin, end) over [0, count) in chunks of kParallelGrain, in parallel when there are
// several chunks.
template <typename F>
void parallel_ranges(int64_t count, F&& body) {
  const int64_t chunks = (count + kParallelGrain - 1) / kParallelGrain;
  if (chunks <= 1) {
    body(0, count);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < chunks; ++k) {
    const int64_t begin = k * kParallelGrain;
    body(begin, std::min(count, begin + kParallelGrain));
  }
}

}  // namespace pfgm::cpu
