// The dispatcher's side of the worker link on its OWN thread ("link thread"), so that worker
// liveness never depends on the database.
//
// Why: the dispatcher loop waits on SQL (a table lock, a slow or hung connection). If that same
// thread also heartbeat the workers and judged their silence, a stall of a few seconds would
// make it miss its own heartbeats (workers presume the dispatcher dead and re-register) and then
// find every worker "silent" (it declares them dead and requeues their jobs: run twice, attempts
// used). The link thread owns the ROUTER socket and never touches SQL:
//   - every frame received from a watched (registered) identity is stamped with the time it
//     arrived (last_heard), then forwarded to the loop thread;
//   - every heartbeat interval it sends Heartbeat to each watched identity;
//   - frames the loop wants sent are queued to it and sent from here; a frame the ROUTER cannot
//     route (EHOSTUNREACH: that connection is gone; identities are per connection) comes back
//     to the loop as a SendFailure, a failed heartbeat as a `gone` event.
// The loop judges silence from last_heard (see serve_leases.cpp), so time it spent blocked on SQL is
// not counted against workers that kept talking.
//
// Threads: send/drain/watch/unwatch/last_heard/events_socket are for the loop thread (the one
// that constructed the link); last_heard and watch are also safe from any thread. The loop
// thread waits on events_socket() (ZMQ_POLLIN) for new events.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "dispatcher/curve_auth.hpp"

namespace ff::dispatcher {

struct LinkConfig {
  int64_t heartbeat_interval_ms = 1000;
  size_t max_frame_bytes = 1 << 20;  // larger frames are dropped by ZeroMQ (maxmsgsize)
  // CURVE (curve_auth.hpp): the dispatcher's secret key and the authorized-keys file; both empty
  // = no encryption or authentication (then the caller binds to loopback only).
  std::string curve_secret_key;
  std::string authorized_keys_file;
  int64_t handshake_timeout_ms = 5000;  // a peer that does not complete its handshake is dropped
  int64_t max_msgs_per_s = 20000;       // per connection; frames beyond it are dropped (counted)
};

// One event for the loop thread.
struct LinkEvent {
  enum class Kind {
    kMessage,     // identity sent `frame` (one frame, not yet decoded)
    kSendFailed,  // the loop's `frame` to identity could not be delivered (connection gone)
    kGone,        // a heartbeat to identity could not be delivered (connection gone)
    kBadFrame,    // identity sent a message of `parts` frames (expected exactly one)
  };
  Kind kind = Kind::kMessage;
  std::string identity;
  std::string frame;
  size_t parts = 0;
  std::string user_id;  // kMessage under CURVE: the worker name its key is authorized as
};

class WorkerLink {
 public:
  using Clock = std::chrono::steady_clock;

  WorkerLink(zmq::context_t& ctx, LinkConfig cfg);
  ~WorkerLink();  // stop()

  // Binds the ROUTER (before start()); returns the resolved endpoint. Throws zmq::error_t.
  std::string bind(const std::string& endpoint);
  // Starts the link thread.
  void start();
  // Sends what the loop queued so far, then ends the link thread. Idempotent.
  void stop();

  // Queues one frame for `identity` (never blocks; delivery failures come back as events).
  void send(const std::string& identity, const std::string& frame);
  // Moves up to `max` waiting events into `out` without blocking; returns how many.
  size_t drain(std::vector<LinkEvent>& out, size_t max);
  // The loop's end of the event queue, for zmq::poll (ZMQ_POLLIN = events waiting).
  zmq::socket_t& events_socket() { return loop_end_; }

  // Heartbeat and stamp this identity from now on (last_heard starts at now); unwatch stops it.
  void watch(const std::string& identity);
  void unwatch(const std::string& identity);
  // When the link thread last received a frame from a watched identity (nullopt if unwatched).
  std::optional<Clock::time_point> last_heard(const std::string& identity) const;

  int64_t heartbeats_sent() const { return heartbeats_sent_.load(); }
  int64_t rate_dropped() const { return rate_dropped_.load(); }
  bool curve() const { return zap_ != nullptr; }

 private:
  void serve();
  void send_on_router(const std::string& identity, const std::string& frame, bool heartbeat);
  void emit(LinkEvent::Kind kind, const std::string& identity, const std::string& frame,
            size_t parts, const std::string& user_id = "");
  bool within_rate(const std::string& identity, Clock::time_point now);

  LinkConfig cfg_;
  zmq::socket_t router_;    // link thread (after start)
  zmq::socket_t link_end_;  // link thread: PAIR, receives sends, emits events
  zmq::socket_t loop_end_;  // loop thread: PAIR
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> heartbeats_sent_{0};
  std::atomic<int64_t> rate_dropped_{0};
  std::unique_ptr<ZapHandler> zap_;  // link thread (after start); null without CURVE
  struct Bucket {
    double tokens = 0;
    Clock::time_point at{};
  };
  std::map<std::string, Bucket> buckets_;  // link thread: per-connection message budget
  mutable std::mutex mu_;
  std::map<std::string, Clock::time_point> watched_;  // identity -> last heard
};

}  // namespace ff::dispatcher
