// Gloo between CPU processes (docs/distributed.md): its TCP transport and its ring all-reduce,
// the same PyTorch's CPU process groups use. Compiled when the build found libgloo
// (PFGM_HAVE_GLOO); otherwise every request names the package to install.
#include <mutex>

#include "../errors.h"
#include "rendezvous.h"

#ifdef PFGM_HAVE_GLOO
#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/config.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/store.h>
#include <gloo/transport/tcp/device.h>
#endif

namespace pfgm::dist {

#ifdef PFGM_HAVE_GLOO
namespace {

// Gloo's view of the rendezvous store, under a prefix of its own.
class GlooStore : public gloo::rendezvous::Store {
 public:
  GlooStore(StoreClient& client, std::chrono::milliseconds timeout)
      : client_(client), timeout_(timeout) {}
  void set(const std::string& key, const std::vector<char>& data) override {
    client_.set(store_key("gloo/" + key), data);
  }
  std::vector<char> get(const std::string& key) override {
    return client_.get(store_key("gloo/" + key), timeout_, "the other ranks to connect");
  }
  void wait(const std::vector<std::string>& keys) override { wait(keys, timeout_); }
  void wait(const std::vector<std::string>& keys,
            const std::chrono::milliseconds& timeout) override {
    for (const std::string& k : keys)
      client_.get(store_key("gloo/" + k), timeout, "the other ranks to connect");
  }

 private:
  StoreClient& client_;
  std::chrono::milliseconds timeout_;
};

class GlooCollectives : public Collectives {
 public:
  GlooCollectives(const ConnectOptions& o, std::shared_ptr<Rendezvous> r)
      : rank_(o.rank), size_(o.world_size), rendezvous_(std::move(r)) {
    timeout_ = rendezvous_->timeout;
    guard("connect", [&] {
      gloo::transport::tcp::attr attr;
      attr.hostname = rendezvous_->host;
      auto device = gloo::transport::tcp::CreateDevice(attr);
      auto context = std::make_shared<gloo::rendezvous::Context>(rank_, size_);
      context->setTimeout(timeout_);
      GlooStore store(*rendezvous_->client, timeout_);
      context->connectFullMesh(store, device);
      context_ = context;
    });
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* backend() const override { return "gloo"; }

  void all_reduce(float* data, int64_t count, ReduceOp op) override { reduce(data, count, op); }
  void all_reduce_host(double* data, int64_t count, ReduceOp op) override {
    reduce(data, count, op);
  }
  void broadcast(float* data, int64_t count, int root) override { cast(data, count, root); }
  void broadcast_host(double* data, int64_t count, int root) override { cast(data, count, root); }

  void all_gather_host(const double* in, int64_t count, double* out) override {
    guard("all-gather", [&] {
      gloo::AllgatherOptions opts(context_);
      opts.setInput(const_cast<double*>(in), static_cast<size_t>(count));
      opts.setOutput(out, static_cast<size_t>(count * size_));
      opts.setTag(next_tag());
      opts.setTimeout(timeout_);
      gloo::allgather(opts);
    });
  }

  void barrier() override {
    guard("barrier", [&] {
      gloo::BarrierOptions opts(context_);
      opts.setTag(next_tag());
      opts.setTimeout(timeout_);
      gloo::barrier(opts);
    });
  }

 private:
  template <class T>
  void reduce(T* data, int64_t count, ReduceOp op) {
    if (count == 0 || size_ == 1) return;
    guard("all-reduce", [&] {
      gloo::AllreduceOptions opts(context_);
      opts.setOutput(data, static_cast<size_t>(count));
      opts.setReduceFunction(
          static_cast<void (*)(void*, const void*, const void*, size_t)>(&gloo::sum<T>));
      opts.setTag(next_tag());
      opts.setTimeout(timeout_);
      gloo::allreduce(opts);
    });
    if (op == ReduceOp::kMean) {
      // The same scaling a one-process micro-batch applies to each chunk's gradient (a power of
      // two is exact, so 2 ranks equal a batch of 2 chunks bit for bit).
      const T inv = static_cast<T>(1.0 / size_);
      for (int64_t i = 0; i < count; ++i) data[i] *= inv;
    }
  }

  template <class T>
  void cast(T* data, int64_t count, int root) {
    if (count == 0 || size_ == 1) return;
    guard("broadcast", [&] {
      gloo::BroadcastOptions opts(context_);
      opts.setOutput(data, static_cast<size_t>(count));
      opts.setRoot(root);
      opts.setTag(next_tag());
      opts.setTimeout(timeout_);
      gloo::broadcast(opts);
    });
  }

  uint32_t next_tag() { return tag_++; }

  // Gloo reports a lost or silent peer with an exception; it becomes ERR_PFGM_DISTRIBUTED with
  // what a user can do about it.
  template <class F>
  void guard(const char* what, F&& body) {
    // One collective at a time: the training step and the handle's calls run on worker threads.
    std::lock_guard<std::mutex> lock(mu_);
    try {
      body();
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      fail(code::kDistributed, std::string("the ") + what + " of rank " + std::to_string(rank_) +
                                   " of " + std::to_string(size_) + " failed: " + e.what() +
                                   " (another rank stopped, failed or did not answer within " +
                                   std::to_string(timeout_.count() / 1000) +
                                   " s; its own error says why, and the launcher names it)");
    }
  }

  int rank_, size_;
  std::shared_ptr<Rendezvous> rendezvous_;
  std::chrono::milliseconds timeout_;
  std::shared_ptr<gloo::Context> context_;
  uint32_t tag_ = 1;
  std::mutex mu_;
};

}  // namespace

std::shared_ptr<Collectives> connect_gloo(const ConnectOptions& options,
                                          std::shared_ptr<Rendezvous> rendezvous) {
  return std::make_shared<GlooCollectives>(options, std::move(rendezvous));
}

BackendAvailability gloo_availability() {
  return {true, "Gloo " + std::to_string(GLOO_VERSION_MAJOR) + "." +
                    std::to_string(GLOO_VERSION_MINOR) + "." + std::to_string(GLOO_VERSION_PATCH) +
                    " (TCP transport)"};
}

#else

std::shared_ptr<Collectives> connect_gloo(const ConnectOptions&, std::shared_ptr<Rendezvous>) {
  fail(code::kDistributed, gloo_availability().detail);
}

BackendAvailability gloo_availability() {
  return {false,
          "this build has no Gloo (CPU collectives): install it (apt-get install libgloo-dev) "
          "and rebuild (npm rebuild pfgm)"};
}

#endif

}  // namespace pfgm::dist
