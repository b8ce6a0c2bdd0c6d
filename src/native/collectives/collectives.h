// Collectives behind one interface (docs/distributed.md): the training step averages its flat
// gradient buffer with all_reduce, the start of a run copies rank 0's weights and optimizer state
// to every rank with broadcast, and the trainer compares small values (config fingerprints,
// counters) with all_gather. Gloo implements it between CPU processes, NCCL between GPUs; both
// are the libraries PyTorch's DDP uses, and neither is reimplemented here.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace pfgm::dist {

enum class ReduceOp { kSum, kMean };

// A gradient all-reduce that backward feeds as it goes (docs/distributed.md, "GPUs"): a backend
// that can overlap starts reducing the parts of the buffer that are final while the rest of the
// backward pass still computes. Every rank must make the same calls in the same order.
class PendingAllReduce {
 public:
  virtual ~PendingAllReduce() = default;
  // data[from, count) is final: its reduction may start.
  virtual void ready_from(int64_t from) = 0;
  // The whole buffer is final: completes the reduction (as all_reduce does).
  virtual void finish() = 0;
};

class Collectives {
 public:
  virtual ~Collectives() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // "gloo" or "nccl".
  virtual const char* backend() const = 0;
  // In place over `count` floats in the memory of the backend the collectives serve (host memory
  // for Gloo, the GPU's for NCCL). Every rank ends with bit-identical values.
  virtual void all_reduce(float* data, int64_t count, ReduceOp op) = 0;
  virtual void broadcast(float* data, int64_t count, int root) = 0;
  // Small host values (losses, counters, votes, fingerprints).
  virtual void all_reduce_host(double* data, int64_t count, ReduceOp op) = 0;
  virtual void broadcast_host(double* data, int64_t count, int root) = 0;
  // out[r * count + k] = rank r's in[k].
  virtual void all_gather_host(const double* in, int64_t count, double* out) = 0;
  virtual void barrier() = 0;
  // An all_reduce of `data` started before its values are all final. The default starts nothing
  // early: finish() runs all_reduce (Gloo reduces host memory on the calling thread, which is
  // busy with backward anyway).
  virtual std::unique_ptr<PendingAllReduce> start_all_reduce(float* data, int64_t count,
                                                             ReduceOp op);
};

// How a rank joins the group (docs/distributed.md, "Rendezvous").
struct ConnectOptions {
  int rank = 0;
  int world_size = 1;
  std::string master_addr = "127.0.0.1";  // where rank 0 hosts the rendezvous store
  int master_port = 29500;
  // The address this rank's transport listens on; empty: the local address that reaches the
  // master (loopback when the master is on this machine).
  std::string host;
  double timeout_s = 300;  // rendezvous and every collective
  std::string backend = "gloo";
  int cuda_device = -1;  // NCCL: the GPU of this rank
};

// Joins the group: rank 0 hosts the rendezvous store, every rank checks in (a rank started twice,
// a rank >= world size and disagreeing world sizes are refused), then the backend connects.
// Throws pfgm::Error (ERR_PFGM_DISTRIBUTED) with the cause and the fix.
std::shared_ptr<Collectives> connect(const ConnectOptions& options);

// Whether this build can make a group with `backend`, and why not.
struct BackendAvailability {
  bool available = false;
  std::string detail;  // the library found, or what is missing and the fix
};
BackendAvailability gloo_availability();
BackendAvailability nccl_availability();

}  // namespace pfgm::dist
