// Op case "caching_pool": replays a script of allocations and frees against the caching pool's
// policy (caching_pool.h) on a fake device with a fixed capacity, so the policy that the CUDA
// allocator runs is tested on any machine (test/native/caching-pool.test.ts).
#include <cstdint>
#include <string>
#include <vector>

#include "errors.h"
#include "memory/caching_pool.h"
#include "op_cases.h"

namespace {

using pfgm::opcases::Attrs;
using pfgm::opcases::Tensors;

// A device with `capacity` bytes that hands out distinct fake addresses and counts its calls.
struct FakeDevice {
  size_t capacity = 0;
  size_t used = 0;
  uintptr_t next = 0x1000;
  std::vector<std::pair<uintptr_t, size_t>> blocks;
  int64_t syncs = 0;

  void* malloc(size_t bytes) {
    if (used + bytes > capacity) return nullptr;
    used += bytes;
    const uintptr_t p = next;
    next += bytes + 256;
    blocks.emplace_back(p, bytes);
    return reinterpret_cast<void*>(p);
  }
  void free(void* ptr) {
    for (size_t i = 0; i < blocks.size(); ++i) {
      if (blocks[i].first == reinterpret_cast<uintptr_t>(ptr)) {
        used -= blocks[i].second;
        blocks.erase(blocks.begin() + static_cast<std::ptrdiff_t>(i));
        return;
      }
    }
    pfgm::fail(pfgm::code::kInternal, "fake device: free of an unknown block");
  }
  void synchronize() { ++syncs; }
  void mem_info(size_t* free_bytes, size_t* total) {
    *free_bytes = capacity - used;
    *total = capacity;
  }
};

// A pointer to the fake device, so the test can read its counters after the pool used it.
struct FakeRef {
  FakeDevice* d;
  void* malloc(size_t b) { return d->malloc(b); }
  void free(void* p) { d->free(p); }
  void synchronize() { d->synchronize(); }
  void mem_info(size_t* f, size_t* t) { d->mem_info(f, t); }
};

// attrs: capacity (bytes); caching (optional, default 1; 0 is PFGM_CUDA_NO_CACHING's exact
// mode); script = flat triples [op, a, b]:
//   [1, bytes, stream]  allocate -> the next handle (0, 1, 2, ...)
//   [2, handle, 0]      release that handle
//   [3, 0, 0]           release_cached
// outputs: classes [allocations] (size classes handed out), addresses [allocations] (fake
// addresses, to see reuse), stats [in_use, cached, device_allocs, device_frees, hits,
// device_used, syncs].
PFGM_OP_CASE("caching_pool", [](const Attrs& a, const Tensors&, Tensors& out) {
  FakeDevice dev;
  dev.capacity = static_cast<size_t>(pfgm::opcases::attr(a, "capacity"));
  pfgm::memory::CachingPool<FakeRef, int64_t> pool(FakeRef{&dev},
                                                   pfgm::opcases::attr(a, "caching", 1) != 0);
  const std::vector<double> script = pfgm::opcases::attr_list(a, "script");
  if (script.size() % 3 != 0)
    pfgm::fail(pfgm::code::kArgument, "caching_pool: script holds triples");
  std::vector<void*> handles;
  std::vector<float> classes, addresses;
  for (size_t k = 0; k < script.size(); k += 3) {
    const int op = static_cast<int>(script[k]);
    if (op == 1) {
      const size_t bytes = static_cast<size_t>(script[k + 1]);
      void* p = pool.allocate(bytes, static_cast<int64_t>(script[k + 2]));
      handles.push_back(p);
      classes.push_back(static_cast<float>(pfgm::memory::size_class(bytes)));
      addresses.push_back(static_cast<float>(reinterpret_cast<uintptr_t>(p)));
    } else if (op == 2) {
      const auto h = static_cast<size_t>(script[k + 1]);
      if (h >= handles.size()) pfgm::fail(pfgm::code::kArgument, "caching_pool: no such handle");
      pool.release(handles[h]);
    } else if (op == 3) {
      pool.release_cached();
    } else {
      pfgm::fail(pfgm::code::kArgument, "caching_pool: op must be 1, 2 or 3");
    }
  }
  const int64_t n = static_cast<int64_t>(classes.size());
  float* c = pfgm::opcases::output(out, "classes", {n});
  float* ad = pfgm::opcases::output(out, "addresses", {n});
  for (int64_t i = 0; i < n; ++i) {
    c[i] = classes[static_cast<size_t>(i)];
    ad[i] = addresses[static_cast<size_t>(i)];
  }
  const pfgm::memory::PoolStats s = pool.stats();
  float* st = pfgm::opcases::output(out, "stats", {7});
  st[0] = static_cast<float>(s.in_use_bytes);
  st[1] = static_cast<float>(s.cached_bytes);
  st[2] = static_cast<float>(s.device_allocs);
  st[3] = static_cast<float>(s.device_frees);
  st[4] = static_cast<float>(s.hits);
  st[5] = static_cast<float>(dev.used);
  st[6] = static_cast<float>(dev.syncs);
});

}  // namespace
