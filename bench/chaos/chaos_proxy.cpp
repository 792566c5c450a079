#include "bench/chaos/chaos_proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <string>

namespace ff::chaos {

StallProxy::StallProxy(int upstream_port) : upstream_port_(upstream_port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (listen_fd_ < 0) throw std::runtime_error("StallProxy: socket() failed");
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listen_fd_, 128) != 0) {
    ::close(listen_fd_);
    throw std::runtime_error("StallProxy: bind/listen failed");
  }
  socklen_t len = sizeof a;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  accept_thread_ = std::thread([this] { accept_loop(); });
}

StallProxy::~StallProxy() {
  stop_ = true;
  cv_.notify_all();
  accept_thread_.join();
  {
    std::lock_guard<std::mutex> l(mu_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
  }
  for (auto& t : threads_) t.join();  // threads_ only grows on the accept thread, now joined
  for (int fd : fds_) ::close(fd);
  ::close(listen_fd_);
}

void StallProxy::stall() { stalled_ = true; }

void StallProxy::resume() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stalled_ = false;
  }
  cv_.notify_all();
}

bool StallProxy::wait_flowing() {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait(l, [&] { return stop_ || !stalled_; });
  return !stop_;
}

void StallProxy::accept_loop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const int client = ::accept(listen_fd_, nullptr, nullptr);
    if (client < 0) continue;
    // A stalled network also holds new connections: connect upstream only once flowing.
    if (!wait_flowing()) {
      ::close(client);
      break;
    }
    const int up = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(upstream_port_));
    if (up < 0 || ::connect(up, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      if (up >= 0) ::close(up);
      ::close(client);  // upstream down (PostgreSQL restarting): refuse as it would
      continue;
    }
    int one = 1;
    ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ::setsockopt(up, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    {
      std::lock_guard<std::mutex> l(mu_);
      fds_.push_back(client);
      fds_.push_back(up);
    }
    ++connections_;
    threads_.emplace_back([this, client, up] { pump(client, up); });
    threads_.emplace_back([this, client, up] { pump(up, client); });
  }
}

void StallProxy::pump(int from, int to) {
  char buf[16384];
  while (!stop_) {
    if (!wait_flowing()) break;
    pollfd p{from, POLLIN, 0};
    const int r = ::poll(&p, 1, 100);
    if (r < 0 && errno != EINTR) break;
    if (r <= 0) continue;
    if (!wait_flowing()) break;  // a stall that began while waiting: leave the bytes unread
    const ssize_t n = ::read(from, buf, sizeof buf);
    if (n <= 0) break;
    ssize_t off = 0;
    while (off < n) {
      const ssize_t w = ::send(to, buf + off, static_cast<size_t>(n - off), MSG_NOSIGNAL);
      if (w <= 0) {
        off = -1;
        break;
      }
      off += w;
    }
    if (off < 0) break;
  }
  // Either side closed: close the pair for both directions (fds are closed by the destructor).
  ::shutdown(from, SHUT_RDWR);
  ::shutdown(to, SHUT_RDWR);
}

}  // namespace ff::chaos
