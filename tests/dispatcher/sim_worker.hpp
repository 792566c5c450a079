// Test-only simulated workers speaking the dispatcher link of common/protocol.hpp over real
// ZeroMQ DEALER sockets. SimWorker: one DEALER driven by the test thread (send/recv by hand).
// SimFleet: N DEALERs served by one background thread that registers, heartbeats, and answers
// every Job with an optional Progress, a Result and a Credit (the bench uses it too).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "common/protocol.hpp"

namespace ff::test {

using SimClock = std::chrono::steady_clock;

// CURVE keys for a simulated worker (Z85): the dispatcher's public key and the worker's pair.
struct SimCurve {
  std::string server_public_key, public_key, secret_key;
};

class SimWorker {
 public:
  // Connects a DEALER to `endpoint` (does not register); with `curve`, over CURVE.
  SimWorker(zmq::context_t& ctx, const std::string& endpoint, const SimCurve* curve = nullptr);
  // Sends one message.
  void send(const proto::Message& m);
  // Sends raw bytes as one frame (garbage tests).
  void send_raw(const std::string& frame);
  // Receives the next message within timeout (heartbeats skipped unless keep_heartbeats).
  std::optional<proto::Message> recv(std::chrono::milliseconds timeout, bool keep_heartbeats = false);
  // Receives until a message of type T arrives (others dropped) or timeout.
  template <typename T>
  std::optional<T> recv_until(std::chrono::milliseconds timeout) {
    auto deadline = SimClock::now() + timeout;
    while (SimClock::now() < deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SimClock::now());
      auto m = recv(std::max(left, std::chrono::milliseconds(1)));
      if (m && std::holds_alternative<T>(*m)) return std::get<T>(*m);
    }
    return std::nullopt;
  }
  // Receives until a message of type T arrives, heartbeating meanwhile (a live worker that is
  // busy: the dispatcher must not find it silent), or timeout.
  template <typename T>
  std::optional<T> recv_alive(std::chrono::milliseconds timeout) {
    auto deadline = SimClock::now() + timeout;
    while (SimClock::now() < deadline) {
      auto m = recv(std::chrono::milliseconds(50));
      send(proto::Heartbeat{0});
      if (m && std::holds_alternative<T>(*m)) return std::get<T>(*m);
    }
    return std::nullopt;
  }
  // Register + wait for Welcome; returns whether it arrived.
  bool register_as(const std::string& worker_id, int32_t slots, const std::string& model = "",
                   const std::string& fingerprint = "", int32_t max_encode_batch = 1);
  zmq::socket_t& socket() { return sock_; }

 private:
  zmq::socket_t sock_;
};

struct SimOptions {
  int workers = 1;
  int32_t slots = 4;                 // initial credit per worker
  std::string id_prefix = "sim";
  std::string model;
  std::string fingerprint;
  int32_t max_encode_batch = 1;
  bool send_progress = false;
  int64_t work_ms = 0;               // delay before the Result
  int64_t heartbeat_interval_ms = 1000;
};

struct SimReceived {
  int64_t job_id = 0;
  int64_t epoch = 0;
  int32_t attempt = 0;
  int worker = 0;                    // index in the fleet
  int64_t encode_group = 0;
  bool embedding_cached = false;
  SimClock::time_point at;
};

class SimFleet {
 public:
  SimFleet(zmq::context_t& ctx, const std::string& endpoint, SimOptions opt);
  ~SimFleet();
  // Starts the serving thread; returns once every worker got its Welcome (or throws after 10 s).
  void start();
  void stop();
  // Makes worker `i` silent (no heartbeats, no answers) as if it hung or was killed.
  void silence(int i);
  std::vector<SimReceived> received() const;
  size_t received_count() const { return received_count_.load(); }
  size_t results_sent() const { return results_sent_.load(); }
  std::vector<int64_t> cancels() const;
  // Longest time any (not silenced) worker went without receiving anything from the dispatcher
  // after its Welcome: a real worker presumes the dispatcher dead after misses x interval.
  int64_t max_dispatcher_gap_ms() const { return max_gap_ms_.load(); }

 private:
  void serve();
  zmq::context_t& ctx_;
  std::string endpoint_;
  SimOptions opt_;
  std::vector<zmq::socket_t> socks_;
  std::vector<bool> silent_;
  std::atomic<bool> stop_{false};
  std::atomic<int> welcomed_{0};
  std::atomic<size_t> received_count_{0};
  std::atomic<size_t> results_sent_{0};
  std::atomic<int64_t> max_gap_ms_{0};
  std::mutex silence_mu_;
  std::set<int> to_silence_;
  mutable std::mutex mu_;
  std::vector<SimReceived> received_;
  std::vector<int64_t> cancels_;
  std::thread thread_;
};

}  // namespace ff::test
