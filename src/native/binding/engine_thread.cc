#include "engine_thread.h"

#include <omp.h>

#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

#include "../device.h"

namespace pfgm::binding {
namespace {

// One job at a time: a caller claims the thread (busy_), hands it the job and waits for it.
class EngineThread {
 public:
  // Never destroyed: at exit a static destructor would have to wait for a running job.
  static EngineThread& get() {
    static EngineThread* const engine = new EngineThread();
    return *engine;
  }

  // Runs `work` here and returns true, or returns false at once when another job holds the thread.
  bool try_run(const std::function<void()>& work) {
    bool expected = false;
    if (!busy_.compare_exchange_strong(expected, true, std::memory_order_acquire)) return false;
    std::exception_ptr error;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      job_ = &work;
      done_ = false;
      ready_.notify_all();
      ready_.wait(lock, [&] { return done_; });
      job_ = nullptr;
      error = error_;
      error_ = nullptr;
    }
    busy_.store(false, std::memory_order_release);
    if (error) std::rethrow_exception(error);
    return true;
  }

 private:
  EngineThread() {
    std::thread([this] { loop(); }).detach();
  }

  void loop() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      ready_.wait(lock, [&] { return job_ != nullptr && !done_; });
      const std::function<void()>* job = job_;
      lock.unlock();
      std::exception_ptr error;
      try {
        gpu::bind_thread();
        (*job)();
      } catch (...) {
        error = std::current_exception();
      }
      lock.lock();
      error_ = error;
      done_ = true;
      ready_.notify_all();
    }
  }

  std::atomic<bool> busy_{false};
  std::mutex mutex_;
  std::condition_variable ready_;
  const std::function<void()>* job_ = nullptr;
  bool done_ = false;
  std::exception_ptr error_;
};

// Restores the calling thread's OpenMP thread count (an ICV of that thread only).
class OneOpenMpThread {
 public:
  OneOpenMpThread() : before_(omp_get_max_threads()) { omp_set_num_threads(1); }
  ~OneOpenMpThread() { omp_set_num_threads(before_); }
  OneOpenMpThread(const OneOpenMpThread&) = delete;
  OneOpenMpThread& operator=(const OneOpenMpThread&) = delete;

 private:
  int before_;
};

}  // namespace

void run_work(const std::function<void()>& work) {
  if (EngineThread::get().try_run(work)) return;
  const OneOpenMpThread one;
  gpu::bind_thread();
  work();
}

}  // namespace pfgm::binding
