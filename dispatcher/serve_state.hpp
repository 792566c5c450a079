// The serve loop's state (Dispatcher::Impl), shared by the files that implement it by concern:
//   server.cpp         the loop itself: turn order, poll wait, run/shutdown, the public API
//   serve_db.cpp       the database link: connect/reconnect, buffered effects and their flush,
//                      lease adoption, orphan release
//   serve_protocol.cpp worker messages in and out: register, progress, result, hand-back,
//                      goodbye, cancel, failed sends and gone connections
//   serve_claims.cpp   claiming ready jobs for the credit of live workers and sending them
//   serve_leases.cpp   timers: worker silence, deadlines, lease renewal and reaping, retention,
//                      cancel scans; outcomes of lost leases (requeue_failed, fail_or_retry)
//
// Threads and ownership: every member below belongs to the loop thread (the one that calls
// run()); nothing here is locked. The only cross-thread pieces are `link` (its own thread owns
// the ROUTER socket: worker_link.hpp says which calls are safe from here) and `stats` (atomics,
// read by the metrics thread). The database is touched only through `db` on this thread, and a
// lost connection never loses a worker's report: effects wait in the pending_* buffers until a
// flush applies them (each fenced by the lease epoch in SQL).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "common/log.hpp"
#include "common/protocol.hpp"
#include "dispatcher/config.hpp"
#include "dispatcher/job_store.hpp"
#include "dispatcher/liveness_link.hpp"
#include "dispatcher/log_component.hpp"
#include "dispatcher/registry.hpp"
#include "dispatcher/server.hpp"
#include "dispatcher/worker_link.hpp"

namespace ff::dispatcher {

namespace serve_detail {

inline constexpr size_t kMaxDispatcherFrameBytes = 1 << 20;  // dispatcher-link messages are small

inline int64_t ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

// Printable form of a ROUTER identity for logs.
inline std::string show_identity(const std::string& id) {
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (unsigned char c : id) {
    s += hex[c >> 4];
    s += hex[c & 15];
  }
  return s;
}

// Logs at most `per_second` lines per second, then one summary of what was suppressed.
class RateLimitedWarn {
 public:
  explicit RateLimitedWarn(int per_second) : per_second_(per_second) {}
  template <typename... A>
  void operator()(const A&... a) {
    auto now = Clock::now();
    if (now - window_ > std::chrono::seconds(1)) {
      if (suppressed_ > 0) log::warn(kLog, suppressed_, " more similar warnings suppressed");
      window_ = now;
      count_ = 0;
      suppressed_ = 0;
    }
    if (count_++ < per_second_) log::warn(kLog, a...);
    else ++suppressed_;
  }

 private:
  int per_second_;
  int count_ = 0;
  int64_t suppressed_ = 0;
  Clock::time_point window_{};
};

}  // namespace serve_detail

struct Dispatcher::Impl {
  ServeConfig cfg;
  zmq::context_t& ctx;
  WorkerLink link;  // ROUTER socket, heartbeats and liveness stamps on the link thread
  DispatcherStats stats;
  WorkerRegistry registry;
  std::unique_ptr<JobStore> db;  // null while the database is away
  LivenessLink liveness;         // this dispatcher's heartbeat + session lock, own connection
  std::mt19937_64 rng{std::random_device{}()};

  // Database effects waiting for the next flush (kept across a database outage).
  std::map<int64_t, ProgressRow> pending_progress;  // job_id -> latest progress
  std::vector<CompletionRow> pending_completions;
  std::vector<LeaseRef> pending_handbacks;
  std::map<std::string, WorkerInfo> pending_worker_upserts;  // worker_id -> row
  // Jobs re-registering workers say they hold, to take over from the database (identity, job).
  std::vector<std::pair<std::string, proto::HeldLease>> pending_adoptions;
  // When each unregistered connection was last asked to register again (bounded).
  std::map<std::string, Clock::time_point> reregister_sent;
  std::vector<std::pair<std::string, std::string>> pending_worker_marks;  // id, status

  bool queue_maybe_ready = true;  // a NOTIFY/poll tick since the last short claim
  Clock::time_point claims_paused_until{};  // after unassignable claims: wait for a poll tick
  bool ever_connected = false;
  std::optional<Clock::time_point> orphan_release_at;  // first connect: a previous process's leases
  bool draining = false;
  int64_t next_group = 0;
  int reconnect_attempt = 0;
  Clock::time_point next_reconnect{};
  Clock::time_point next_heartbeat{}, next_poll{}, next_reap{}, next_renew{}, next_cancel_scan{};
  Clock::time_point next_retention{};
  // This dispatcher's own database heartbeats (serve_leases.cpp): the last that went through, and
  // when it may judge other dispatchers again (pushed back by a (re)connect or a late beat).
  std::optional<Clock::time_point> db_beat_ok_at, judge_after;
  bool liveness_off = false;  // the schema has no framefarm.dispatchers (older than 009)
  serve_detail::RateLimitedWarn warn_frames{20};
  serve_detail::RateLimitedWarn warn_late{20};

  Impl(ServeConfig c, zmq::context_t& cx);
  static LinkConfig link_config(const ServeConfig& c);

  // A hand-back the dispatcher decided itself: applies only while it still owns the lease.
  LeaseRef mine(int64_t job_id, int64_t epoch) const { return {job_id, epoch, cfg.dispatcher_id}; }
  double uniform() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng); }

  // ---- the loop (server.cpp)
  Clock::duration loop_once(int timeout_ms);  // returns the time spent waiting in zmq::poll
  void record_turn(Clock::duration busy);
  int next_timeout_ms(Clock::time_point now) const;
  void run(const std::atomic<bool>& stop);
  void shutdown();

  // ---- database link (serve_db.cpp)
  bool db_up() const { return db != nullptr; }
  void db_lost(const std::exception& e);
  // Runs `f` against the database; on connection loss drops it and returns false. Other SQL
  // errors propagate.
  template <typename F>
  bool with_db(F&& f) {
    if (!db) return false;
    try {
      f(*db);
      return true;
    } catch (const std::exception& e) {
      if (is_connection_error(e)) {
        db_lost(e);
        return false;
      }
      throw;
    }
  }
  void release_orphans(const char* why);
  // dispatcher_beat on `d`; false (and liveness off, logged) if the schema predates 009.
  bool beat_or_disable();
  void try_connect();
  bool adopt_pending();
  void flush();
  template <typename Row, typename F>
  bool apply_rows(const std::vector<Row>& rows, std::vector<int64_t>& applied, F&& f);

  // ---- worker protocol (serve_protocol.cpp)
  // Queues `m` for the link thread. Delivery failures come back as link events
  // (on_send_failed / on_gone).
  void send(const std::string& identity, const proto::Message& m) { link.send(identity, proto::encode(m)); }
  static WorkerInfo worker_info(const WorkerSession& s);
  void receive_all();
  void on_gone(const std::string& identity);
  void on_send_failed(const std::string& identity, const std::string& frame);
  void handle(const std::string& identity, const std::string& user_id, const proto::Message& m);
  void on_register(const std::string& identity, const std::string& user_id, const proto::Register& r,
                   Clock::time_point now);
  void on_progress(WorkerSession& s, const proto::Progress& p);
  void on_result(WorkerSession& s, const proto::Result& r);
  void ask_to_register(const std::string& identity, Clock::time_point now);
  void on_hand_back(WorkerSession& s, const proto::HandBack& h);
  void on_cancel_notify(int64_t job_id);

  // ---- claims (serve_claims.cpp)
  void claim_and_send();

  // ---- timers and lease outcomes (serve_leases.cpp)
  void on_timers(Clock::time_point now);
  void expire_deadlines(Clock::time_point now);
  void fail_or_retry(const Lease& lease, CompletionRow& c);
  void requeue_failed(const WorkerSession& s, const std::string& reason);
  void release_session(const WorkerSession& s, const std::string& reason, const std::string& status);
  // Dispatcher liveness in the database (schema/009_dispatchers.sql).
  int64_t dead_after_ms() const;  // heartbeat interval x (misses + 2), what others wait for
  void beat_dispatcher(Clock::time_point now);
  void take_over_dead_dispatchers(Clock::time_point now);
  void drop_lost_leases(const std::vector<LeaseRef>& held, const std::vector<int64_t>& renewed);
};

}  // namespace ff::dispatcher
