// The rendezvous store (docs/distributed.md, "Rendezvous"): a key-value table that rank 0 serves
// over TCP and every rank reads, through which ranks find each other before Gloo or NCCL connect.
// It carries a few hundred bytes per rank, once. Gloo ships file, hash and Redis stores but no
// TCP one, and a cluster without a shared filesystem or Redis still needs one; PyTorch's
// TCPStore plays the same part for torchrun. The collectives themselves never pass through it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace pfgm::dist {

using Bytes = std::vector<char>;

// Rank 0's side: listens on addr:port and answers set, claim and get requests until destroyed.
class StoreServer {
 public:
  // ERR_PFGM_DISTRIBUTED when the address cannot be bound (a busy port, an address that is not
  // this machine's).
  StoreServer(const std::string& addr, int port);
  ~StoreServer();
  StoreServer(const StoreServer&) = delete;
  StoreServer& operator=(const StoreServer&) = delete;

 private:
  void accept_loop();
  void serve(int fd);

  int listen_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mu_;  // guards table_, clients_, workers_
  std::map<std::string, Bytes> table_;
  std::vector<int> clients_;
  std::vector<std::thread> workers_;
};

// Every rank's side (rank 0's too): one connection to the server.
class StoreClient {
 public:
  // Connects, retrying until `timeout` (the server may not be up yet); ERR_PFGM_DISTRIBUTED
  // naming the address when it never answers.
  StoreClient(const std::string& addr, int port, std::chrono::milliseconds timeout);
  ~StoreClient();
  StoreClient(const StoreClient&) = delete;
  StoreClient& operator=(const StoreClient&) = delete;

  void set(const std::string& key, const Bytes& value);
  // Sets key when absent and returns nullopt; otherwise leaves it and returns its value.
  std::optional<Bytes> claim(const std::string& key, const Bytes& value);
  std::optional<Bytes> try_get(const std::string& key);
  // Waits until key is set; ERR_PFGM_DISTRIBUTED after `timeout`, with `waiting_for` in the
  // message (what the missing key means to a user).
  Bytes get(const std::string& key, std::chrono::milliseconds timeout,
            const std::string& waiting_for);
  // The local address of this connection: the interface that reaches the master.
  std::string local_address() const;

 private:
  struct Reply {
    uint8_t status;
    Bytes value;
  };
  Reply request(uint8_t op, const std::string& key, const Bytes& value);

  int fd_ = -1;
  std::string where_;
  std::mutex mu_;  // one request at a time on the connection
};

}  // namespace pfgm::dist
