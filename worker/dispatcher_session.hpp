// The worker's session with the dispatcher: one DEALER socket to the dispatcher's ROUTER.
//
// connect() opens a fresh DEALER (a new ZeroMQ identity) and sends Register. The session counts
// as alive while anything arrives from the dispatcher; Welcome sets the heartbeat interval and the
// number of missed intervals after which the dispatcher is presumed dead (the same rule the
// dispatcher applies to workers). tick() sends Heartbeat when due and reports a dead dispatcher;
// the supervisor then hands back what it has not started and calls connect() again.
//
// Not thread-safe: the supervisor's loop thread owns it.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "common/protocol.hpp"

namespace ff::worker {

class DispatcherSession {
 public:
  using Clock = std::chrono::steady_clock;

  // `heartbeat_interval_ms`: the worker's own send interval (Welcome may shorten it).
  DispatcherSession(zmq::context_t& ctx, std::string endpoint, int32_t heartbeat_interval_ms);

  // Closes any previous socket (pending outgoing messages are dropped), opens a new DEALER,
  // connects and sends `reg`. Loop thread.
  void connect(const proto::Register& reg);

  // Sends one message without blocking; false (and a log line) if it could not be queued.
  bool send(const proto::Message& msg);

  // Reads every frame waiting on the socket; malformed frames are logged and dropped. Welcome and
  // Heartbeat are consumed here (liveness) and not returned. Loop thread.
  std::vector<proto::Message> receive();

  // Sends a Heartbeat when one is due. Returns true when the dispatcher is presumed dead: nothing
  // received for heartbeat_misses_dead intervals (or no Welcome within that time after connect).
  bool tick();

  // Sends Goodbye and closes the socket, waiting up to `linger_ms` for queued messages to leave.
  void close(const std::string& reason, int linger_ms);

  bool connected() const { return socket_ != nullptr; }
  bool welcomed() const { return welcomed_; }
  // The socket for zmq::poll; only valid while connected().
  zmq::socket_t& socket() { return *socket_; }
  int32_t heartbeat_interval_ms() const { return interval_ms_; }
  uint64_t registrations() const { return registrations_; }

 private:
  zmq::context_t& ctx_;
  std::string endpoint_;
  int32_t own_interval_ms_;
  int32_t interval_ms_;
  int32_t dispatcher_interval_ms_;
  int32_t misses_dead_ = 3;
  std::unique_ptr<zmq::socket_t> socket_;
  bool welcomed_ = false;
  Clock::time_point last_recv_{};
  Clock::time_point last_sent_hb_{};
  uint64_t registrations_ = 0;
};

}  // namespace ff::worker
