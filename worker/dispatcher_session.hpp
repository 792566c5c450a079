// The worker's session with the dispatcher: one DEALER socket to the dispatcher's ROUTER.
//
// connect() opens a fresh DEALER (a new ZeroMQ identity) and sends Register. The session counts
// as alive while anything arrives from the dispatcher; Welcome sets the heartbeat interval and the
// number of missed intervals after which the dispatcher is presumed dead (the same rule the
// dispatcher applies to workers). tick() sends Heartbeat when due and reports a dead dispatcher;
// the supervisor then hands back what it has not started and calls connect() again.
//
// Re-registration without losing work: the session keeps track of what the worker holds (each
// Job received until its Result or HandBack goes out; started once a Progress went out) and of
// its credit, and remembers the Results it sent recently. Register always carries the held jobs
// (the dispatcher keeps or takes over their leases while their epoch is current, and cancels the
// others), and the recent Results are sent again right after it (the dispatcher applies each
// once: fencing). A dispatcher that does not know this connection (it restarted) answers with
// Reregister; the session then registers again on the same socket by itself.
//
// Failover: the session knows one or more dispatcher endpoints (dispatchers of one fleet, sharing
// the database). connect() uses the current one; after a dispatcher was presumed dead the
// supervisor calls next_endpoint() (round robin) before connect(), so the held jobs are announced
// to a live dispatcher, which adopts their leases while their epoch is current.
//
// Not thread-safe: the supervisor's loop thread owns it.
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "common/protocol.hpp"

namespace ff::worker {

// CURVE keys of the link (Z85, 40 chars each; see dispatcher/curve_auth.hpp): the dispatcher's
// public key and this worker's key pair. The worker's public key must be in the dispatcher's
// authorized keys under the worker's worker_id.
struct CurveClientKeys {
  std::string server_public_key;
  std::string public_key;
  std::string secret_key;
};

class DispatcherSession {
 public:
  using Clock = std::chrono::steady_clock;

  // `heartbeat_interval_ms`: the worker's own send interval (Welcome may shorten it).
  // `endpoints`: at least one (std::invalid_argument otherwise); the first is current.
  DispatcherSession(zmq::context_t& ctx, std::vector<std::string> endpoints, int32_t heartbeat_interval_ms);
  DispatcherSession(zmq::context_t& ctx, std::string endpoint, int32_t heartbeat_interval_ms)
      : DispatcherSession(ctx, std::vector<std::string>{std::move(endpoint)}, heartbeat_interval_ms) {}

  // Encrypts and authenticates every later connect() with these keys (before connect()).
  void set_curve(const CurveClientKeys& keys) { curve_ = keys; }

  // Closes any previous socket (pending outgoing messages are dropped), opens a new DEALER,
  // connects and sends `reg` (its `held` replaced by the jobs this session tracks), then the
  // recent Results again. Loop thread.
  void connect(const proto::Register& reg);

  // Sends one message without blocking; false (and a log line) if it could not be queued.
  // Tracks held jobs, credit and recent Results from what it sends.
  bool send(const proto::Message& msg);

  static constexpr size_t kMaxRecentResults = 1000;

  // Reads every frame waiting on the socket; malformed frames are logged and dropped. Welcome,
  // Heartbeat and Reregister are consumed here and not returned. Loop thread.
  std::vector<proto::Message> receive();

  // Sends a Heartbeat when one is due. Returns true when the dispatcher is presumed dead: nothing
  // received for heartbeat_misses_dead intervals (or no Welcome within that time after connect).
  bool tick();

  // Sends Goodbye and closes the socket, waiting up to `linger_ms` for queued messages to leave.
  void close(const std::string& reason, int linger_ms);

  // Makes the next endpoint (round robin) current for the next connect(). Loop thread.
  void next_endpoint() { current_ = (current_ + 1) % endpoints_.size(); }
  const std::string& endpoint() const { return endpoints_[current_]; }

  bool connected() const { return socket_ != nullptr; }
  bool welcomed() const { return welcomed_; }
  // The socket for zmq::poll; only valid while connected().
  zmq::socket_t& socket() { return *socket_; }
  int32_t heartbeat_interval_ms() const { return interval_ms_; }
  uint64_t registrations() const { return registrations_; }
  // Jobs tracked as held (received, no Result/HandBack sent yet), by job id.
  const std::map<int64_t, proto::HeldLease>& held() const { return held_; }
  // Credit the dispatcher still has from us: free_slots + Credits sent - Jobs received.
  int64_t credit() const { return credit_; }

 private:
  zmq::context_t& ctx_;
  std::vector<std::string> endpoints_;
  size_t current_ = 0;  // index into endpoints_ of the one connect() uses
  int32_t own_interval_ms_;
  int32_t interval_ms_;
  int32_t dispatcher_interval_ms_;
  int32_t misses_dead_ = 3;
  std::unique_ptr<zmq::socket_t> socket_;
  bool welcomed_ = false;
  Clock::time_point last_recv_{};
  Clock::time_point last_sent_hb_{};
  uint64_t registrations_ = 0;
  std::optional<CurveClientKeys> curve_;
  proto::Register reg_;                          // the last Register, re-sent on Reregister
  std::map<int64_t, proto::HeldLease> held_;
  int64_t credit_ = 0;
  std::deque<std::pair<Clock::time_point, proto::Result>> recent_results_;
  Clock::time_point last_reregister_{};

  void track_outgoing(const proto::Message& msg);
  bool raw_send(const proto::Message& msg);  // send without tracking
  void send_register();
  // Results sent within the last few silence windows (at most kMaxRecentResults).
  void prune_recent();
};

}  // namespace ff::worker
