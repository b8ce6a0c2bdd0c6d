#include "tcp_store.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "../errors.h"

namespace pfgm::dist {
namespace {

// Requests: [op u8][key length u32][key][value length u32][value]; replies:
// [status u8][value length u32][value]. Lengths in network order.
constexpr uint8_t kSet = 1, kClaim = 2, kGet = 3;
constexpr uint8_t kOk = 0, kPresent = 1, kAbsent = 2;
constexpr uint32_t kMaxLength = 1u << 24;  // far above any rendezvous value

[[noreturn]] void fail_dist(const std::string& message) { fail(code::kDistributed, message); }

bool write_all(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    p += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

bool read_all(int fd, void* data, size_t n) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    const ssize_t k = ::recv(fd, p, n, 0);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    p += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

bool write_u32(int fd, uint32_t v) {
  const uint32_t be = htonl(v);
  return write_all(fd, &be, 4);
}

bool read_u32(int fd, uint32_t& v) {
  uint32_t be = 0;
  if (!read_all(fd, &be, 4)) return false;
  v = ntohl(be);
  return v <= kMaxLength;
}

bool write_bytes(int fd, const char* data, size_t n) {
  return write_u32(fd, static_cast<uint32_t>(n)) && (n == 0 || write_all(fd, data, n));
}

bool read_bytes(int fd, Bytes& out) {
  uint32_t n = 0;
  if (!read_u32(fd, n)) return false;
  out.resize(n);
  return n == 0 || read_all(fd, out.data(), n);
}

std::string endpoint(const std::string& addr, int port) {
  return (addr.find(':') != std::string::npos ? "[" + addr + "]" : addr) + ":" +
         std::to_string(port);
}

// getaddrinfo for addr:port; the caller frees.
addrinfo* resolve(const std::string& addr, int port, bool passive) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  if (passive) hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  const int rc = ::getaddrinfo(addr.c_str(), std::to_string(port).c_str(), &hints, &found);
  if (rc != 0) {
    fail_dist("the master address '" + addr + "' does not resolve (" + ::gai_strerror(rc) +
              "): check --master-addr (MASTER_ADDR)");
  }
  return found;
}

}  // namespace

StoreServer::StoreServer(const std::string& addr, int port) {
  if (port < 1 || port > 65535)
    fail_dist("the master port must be in 1..65535, got " + std::to_string(port));
  addrinfo* found = resolve(addr, port, true);
  int err = 0;
  for (addrinfo* a = found; a != nullptr && listen_fd_ < 0; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, 1024) == 0) {
      listen_fd_ = fd;
    } else {
      err = errno;
      ::close(fd);
    }
  }
  ::freeaddrinfo(found);
  if (listen_fd_ < 0) {
    const std::string where = endpoint(addr, port);
    if (err == EADDRINUSE) {
      fail_dist("rank 0 cannot host the rendezvous at " + where +
                ": the port is in use (another run, or a process still holding it); pick another "
                "--master-port (MASTER_PORT)");
    }
    fail_dist("rank 0 cannot host the rendezvous at " + where + " (" + std::strerror(err) +
              "): --master-addr must be an address of rank 0's machine");
  }
  acceptor_ = std::thread([this] { accept_loop(); });
}

StoreServer::~StoreServer() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  acceptor_.join();
  ::close(listen_fd_);
  std::vector<std::thread> workers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int fd : clients_) ::shutdown(fd, SHUT_RDWR);
    workers.swap(workers_);
  }
  for (std::thread& t : workers) t.join();
}

void StoreServer::accept_loop() {
  while (!stopping_) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // shut down
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      ::close(fd);
      return;
    }
    clients_.push_back(fd);
    workers_.emplace_back([this, fd] { serve(fd); });
  }
}

void StoreServer::serve(int fd) {
  for (;;) {
    uint8_t op = 0;
    uint32_t klen = 0;
    Bytes key, value;
    if (!read_all(fd, &op, 1) || !read_u32(fd, klen)) break;
    key.resize(klen);
    if ((klen > 0 && !read_all(fd, key.data(), klen)) || !read_bytes(fd, value)) break;
    const std::string k(key.begin(), key.end());
    uint8_t status = kOk;
    Bytes reply;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = table_.find(k);
      if (op == kSet) {
        table_[k] = value;
      } else if (op == kClaim) {
        if (it == table_.end()) {
          table_.emplace(k, value);
        } else {
          status = kPresent;
          reply = it->second;
        }
      } else if (op == kGet) {
        if (it == table_.end()) {
          status = kAbsent;
        } else {
          status = kPresent;
          reply = it->second;
        }
      } else {
        break;  // not our protocol: drop the connection
      }
    }
    if (!write_all(fd, &status, 1) || !write_bytes(fd, reply.data(), reply.size())) break;
  }
  // The descriptor is closed here; the destructor only shuts it down, so it is never reused
  // under it.
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = clients_.begin(); it != clients_.end(); ++it) {
    if (*it == fd) {
      clients_.erase(it);
      break;
    }
  }
  ::close(fd);
}

StoreClient::StoreClient(const std::string& addr, int port, std::chrono::milliseconds timeout)
    : where_(endpoint(addr, port)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last = "no answer";
  while (fd_ < 0) {
    addrinfo* found = resolve(addr, port, false);
    for (addrinfo* a = found; a != nullptr && fd_ < 0; a = a->ai_next) {
      const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
      if (fd < 0) continue;
      if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
        fd_ = fd;
      } else {
        last = std::strerror(errno);
        ::close(fd);
      }
    }
    ::freeaddrinfo(found);
    if (fd_ >= 0) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      fail_dist("could not reach the rendezvous of rank 0 at " + where_ + " within " +
                std::to_string(timeout.count() / 1000) + " s (" + last +
                "): start rank 0, check --master-addr and --master-port (MASTER_ADDR, "
                "MASTER_PORT) and that no firewall blocks the port");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // A server that stops answering must not hang a rank: every reply has the whole timeout.
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(std::max<int64_t>(1, timeout.count() / 1000));
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

StoreClient::~StoreClient() {
  if (fd_ >= 0) ::close(fd_);
}

StoreClient::Reply StoreClient::request(uint8_t op, const std::string& key, const Bytes& value) {
  std::lock_guard<std::mutex> lock(mu_);
  Reply r{};
  const bool sent = write_all(fd_, &op, 1) && write_bytes(fd_, key.data(), key.size()) &&
                    write_bytes(fd_, value.data(), value.size());
  if (!sent || !read_all(fd_, &r.status, 1) || !read_bytes(fd_, r.value)) {
    fail_dist("lost the connection to the rendezvous at " + where_ +
              " (rank 0 stopped or is unreachable)");
  }
  return r;
}

void StoreClient::set(const std::string& key, const Bytes& value) { request(kSet, key, value); }

std::optional<Bytes> StoreClient::claim(const std::string& key, const Bytes& value) {
  Reply r = request(kClaim, key, value);
  if (r.status == kOk) return std::nullopt;
  return std::move(r.value);
}

std::optional<Bytes> StoreClient::try_get(const std::string& key) {
  Reply r = request(kGet, key, {});
  if (r.status != kPresent) return std::nullopt;
  return std::move(r.value);
}

Bytes StoreClient::get(const std::string& key, std::chrono::milliseconds timeout,
                       const std::string& waiting_for) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    if (std::optional<Bytes> v = try_get(key)) return std::move(*v);
    if (std::chrono::steady_clock::now() >= deadline) {
      fail_dist("timed out after " + std::to_string(timeout.count() / 1000) + " s waiting for " +
                waiting_for + " at the rendezvous " + where_);
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
}

std::string StoreClient::local_address() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "127.0.0.1";
  char host[NI_MAXHOST] = {0};
  if (::getnameinfo(reinterpret_cast<sockaddr*>(&ss), len, host, sizeof host, nullptr, 0,
                    NI_NUMERICHOST) != 0)
    return "127.0.0.1";
  return host;
}

}  // namespace pfgm::dist
