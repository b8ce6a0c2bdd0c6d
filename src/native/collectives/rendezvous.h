// What a backend gets when its rank has checked in at the rendezvous (connect() in
// rendezvous.cc): the store connection, and rank 0's server, kept alive as long as the group.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "collectives.h"
#include "tcp_store.h"

namespace pfgm::dist {

struct Rendezvous {
  std::unique_ptr<StoreServer> server;  // rank 0 only
  std::unique_ptr<StoreClient> client;
  std::string host;  // the address this rank's transport listens on
  std::chrono::milliseconds timeout;
};

using BackendConnect = std::shared_ptr<Collectives> (*)(const ConnectOptions&,
                                                        std::shared_ptr<Rendezvous>);
using BackendProbe = BackendAvailability (*)();

// Gloo is compiled into every build that found it (gloo_collectives.cc).
std::shared_ptr<Collectives> connect_gloo(const ConnectOptions& options,
                                          std::shared_ptr<Rendezvous> rendezvous);

// NCCL lives in the CUDA build (cuda/libs/nccl.cu), which registers it from a static
// initialiser; the CPU build has none and says so.
void register_nccl(BackendConnect connect, BackendProbe probe);

// "pfgm/<what>" keys of the store that must never clash with a backend's own keys.
std::string store_key(const std::string& what);

}  // namespace pfgm::dist
