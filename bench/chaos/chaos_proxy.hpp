// A TCP proxy in front of PostgreSQL that can stall: while stalled it stops forwarding bytes in
// both directions and stops connecting new clients upstream, but closes nothing, as a network
// partition that drops packets silently would (the peers' kernels still ACK what reaches the
// proxy's socket buffers, so only application-level timeouts notice).
//
// Threads: one accept thread plus two forwarding threads per connection, all owned and joined
// by the proxy. stall()/resume() may be called from any thread. Destruction closes every socket.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace ff::chaos {

class StallProxy {
 public:
  // Listens on 127.0.0.1 (a free port) and forwards to 127.0.0.1:`upstream_port`.
  explicit StallProxy(int upstream_port);
  ~StallProxy();
  StallProxy(const StallProxy&) = delete;
  StallProxy& operator=(const StallProxy&) = delete;

  int port() const { return port_; }
  void stall();
  void resume();
  bool stalled() const { return stalled_; }
  // Connections forwarded so far (diagnostics).
  int64_t connections() const { return connections_; }

 private:
  void accept_loop();
  void pump(int from, int to);
  // Blocks while stalled (or returns false once the proxy stops).
  bool wait_flowing();

  int upstream_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> stalled_{false};
  std::atomic<int64_t> connections_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int> fds_;             // every open socket, closed by the destructor
  std::vector<std::thread> threads_; // forwarding threads
  std::thread accept_thread_;
};

}  // namespace ff::chaos
