// Where the addon's Promise-returning work runs (docs/dev/architecture.md, "The addon boundary").
//
// libgomp keeps a pool of OpenMP worker threads for each thread that starts parallel regions, and
// counts the workers of every pool: once they outnumber the CPUs it all but stops spinning between
// regions (100 spins instead of about 3 ms), so every one of the thousands of parallel regions of a
// training step wakes its workers through the kernel. libuv hands work to any of its four pool
// threads, so after a few calls a 2-core machine held four pools and paid those wake-ups in every
// step. Work therefore runs on one engine thread, whose pool is the only one, whenever that thread
// is free. Work that arrives while it is busy (concurrent calls: a server's requests, the ranks of
// one process meeting in a collective) runs where it is, with OpenMP limited to that one thread:
// it adds no pool, and it never waits for the engine thread, so no call can wait on another.
#pragma once

#include <functional>

namespace pfgm::binding {

// Runs `work` on the engine thread if it is idle, else on the calling thread with one OpenMP
// thread; returns when it is done, rethrowing what it threw. The GPU is bound on whichever thread
// runs it (device.h).
void run_work(const std::function<void()>& work);

}  // namespace pfgm::binding
