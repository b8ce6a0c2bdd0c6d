#include "rendezvous.h"

#include "../errors.h"

namespace pfgm::dist {
namespace {

struct NcclEntry {
  BackendConnect connect = nullptr;
  BackendProbe probe = nullptr;
};

NcclEntry& nccl_entry() {
  static NcclEntry entry;
  return entry;
}

Bytes text(const std::string& s) { return Bytes(s.begin(), s.end()); }
std::string text(const Bytes& b) { return std::string(b.begin(), b.end()); }

}  // namespace

std::string store_key(const std::string& what) { return "pfgm/" + what; }

void register_nccl(BackendConnect connect, BackendProbe probe) {
  nccl_entry() = NcclEntry{connect, probe};
}

BackendAvailability nccl_availability() {
  if (nccl_entry().probe == nullptr) {
    return {false,
            "this is the CPU build: NCCL (GPU ranks) comes with pfgm's CUDA build, on a machine "
            "with NVIDIA GPUs"};
  }
  return nccl_entry().probe();
}

std::shared_ptr<Collectives> connect(const ConnectOptions& o) {
  if (o.world_size < 1) {
    fail(code::kDistributed, "the world size must be at least 1, got " +
                                 std::to_string(o.world_size) +
                                 " (WORLD_SIZE or --nproc-per-node)");
  }
  if (o.rank < 0 || o.rank >= o.world_size) {
    fail(code::kDistributed,
         "rank " + std::to_string(o.rank) + " is outside a world of " +
             std::to_string(o.world_size) + " ranks (0.." + std::to_string(o.world_size - 1) +
             "): check RANK and WORLD_SIZE (or --node-rank, --nnodes and --nproc-per-node)");
  }
  if (o.backend != "gloo" && o.backend != "nccl")
    fail(code::kDistributed, "unknown collective backend '" + o.backend + "' (use gloo or nccl)");
  if (!(o.timeout_s > 0)) fail(code::kDistributed, "the timeout must be positive");
  if (o.backend == "nccl" && nccl_entry().connect == nullptr)
    fail(code::kDistributed, "NCCL was asked for, but " + nccl_availability().detail);
  auto r = std::make_shared<Rendezvous>();
  r->timeout = std::chrono::milliseconds(static_cast<int64_t>(o.timeout_s * 1000));
  if (o.rank == 0) r->server = std::make_unique<StoreServer>(o.master_addr, o.master_port);
  r->client = std::make_unique<StoreClient>(o.master_addr, o.master_port, r->timeout);
  const std::string me = std::to_string(o.rank);
  const std::string mine = std::to_string(o.world_size) + " " + o.backend;
  if (r->client->claim(store_key("rank/" + me), text(mine))) {
    fail(code::kDistributed, "rank " + me +
                                 " joined twice: every process of a run needs its own RANK "
                                 "(or another run uses the same --master-port)");
  }
  // Rank 0's world size and backend are the run's; a rank started with others is refused.
  if (o.rank == 0) {
    r->client->set(store_key("world"), text(mine));
  } else {
    const std::string world =
        text(r->client->get(store_key("world"), r->timeout, "rank 0 to check in"));
    if (world != mine) {
      fail(code::kDistributed, "rank " + me + " was started with world size and backend '" + mine +
                                   "', rank 0 with '" + world +
                                   "': start every rank with the same WORLD_SIZE and backend");
    }
  }
  r->host = !o.host.empty() ? o.host : r->client->local_address();
  if (o.backend == "nccl") return nccl_entry().connect(o, r);
  return connect_gloo(o, r);
}

}  // namespace pfgm::dist
