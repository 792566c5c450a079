// The serve loop (contract and threads: server.hpp; the state and which file does what:
// serve_state.hpp). This file holds the turn order and the lifecycle: each turn connects if
// needed, runs the timers (serve_leases.cpp), waits in zmq::poll on the link's events and the
// PostgreSQL socket, reads every worker message (serve_protocol.cpp), flushes their effects
// (serve_db.cpp), claims and sends (serve_claims.cpp), and flushes again.
#include "dispatcher/server.hpp"

#include <algorithm>
#include <cerrno>
#include <sys/resource.h>
#include <thread>

#include "common/sd_notify.hpp"
#include "dispatcher/serve_state.hpp"

namespace ff::dispatcher {

using namespace serve_detail;

Dispatcher::Impl::Impl(ServeConfig c, zmq::context_t& cx)
    : cfg(std::move(c)), ctx(cx), link(cx, link_config(cfg)), liveness(with_pg_timeouts(cfg.database_url, cfg.pg)) {}

LinkConfig Dispatcher::Impl::link_config(const ServeConfig& c) {
  LinkConfig l;
  l.heartbeat_interval_ms = c.heartbeat_interval_ms;
  l.max_frame_bytes = kMaxDispatcherFrameBytes;
  l.curve_secret_key = c.curve_secret_key;
  l.authorized_keys_file = c.authorized_keys_file;
  l.handshake_timeout_ms = c.handshake_timeout_ms;
  l.max_msgs_per_s = c.max_worker_msgs_per_s;
  return l;
}

// Returns the time spent waiting in zmq::poll (not loop work).
Clock::duration Dispatcher::Impl::loop_once(int timeout_ms) {
  zmq::pollitem_t items[2] = {{static_cast<void*>(link.events_socket()), 0, ZMQ_POLLIN, 0},
                              {nullptr, db ? db->socket() : -1, ZMQ_POLLIN, 0}};
  int n = db ? 2 : 1;
  const auto wait_start = Clock::now();
  try {
    zmq::poll(items, n, std::chrono::milliseconds(timeout_ms));
  } catch (const zmq::error_t& e) {
    if (e.num() != EINTR) throw;
    return Clock::now() - wait_start;  // a signal (SIGTERM): the caller checks the stop flag
  }
  const auto waited = Clock::now() - wait_start;
  receive_all();
  if (db) with_db([](JobStore& d) { d.poll_notifications(); });
  flush();
  claim_and_send();
  flush();
  return waited;
}

void Dispatcher::Impl::record_turn(Clock::duration busy) {
  const int64_t us = std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::microseconds>(busy).count());
  stats.loop_turns_total++;
  stats.loop_busy_us_total += us;
  int64_t seen = stats.loop_busy_us_max.load();
  while (us > seen && !stats.loop_busy_us_max.compare_exchange_weak(seen, us)) {
  }
}

int Dispatcher::Impl::next_timeout_ms(Clock::time_point now) const {
  auto t = std::min({next_heartbeat, next_poll, next_reap, next_renew, next_cancel_scan});
  if (!db) t = std::min(t, next_reconnect);
  int64_t ms = ms_between(now, t);
  return static_cast<int>(std::clamp<int64_t>(ms, 0, 1000));
}

void Dispatcher::Impl::run(const std::atomic<bool>& stop) {
  if (cfg.dispatcher_id.empty()) cfg.dispatcher_id = default_dispatcher_id("");
  log::info(kLog, "dispatcher ", cfg.dispatcher_id, " serving");
  link.start();
  auto now = Clock::now();
  next_heartbeat = next_poll = next_reap = next_renew = next_cancel_scan = now;
  sd::Notifier notify;  // systemd Type=notify: a no-op without $NOTIFY_SOCKET
  while (!stop.load()) {
    try {
      const auto turn_start = Clock::now();
      try_connect();
      if (db && !notify.is_ready()) notify.ready("serving: database connected, workers' socket bound");
      notify.watchdog_tick();
      now = Clock::now();
      on_timers(now);
      const auto waited = loop_once(next_timeout_ms(Clock::now()));
      record_turn(Clock::now() - turn_start - waited);
    } catch (const std::exception& e) {
      // Never let one bad turn end the server: log, back off briefly, continue.
      log::error(kLog, "unexpected error in the dispatcher loop: ", e.what());
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  notify.stopping("stopping: handing back jobs not yet started");
  shutdown();
}

void Dispatcher::Impl::shutdown() {
  draining = true;
  log::info(kLog, "stopping: no more claims; handing back jobs not yet started");
  for (auto& [id, s] : registry.sessions()) {
    std::vector<int64_t> unstarted;
    for (auto& [job, l] : s.leases)
      if (!l.started) unstarted.push_back(job);
    for (int64_t job : unstarted) {
      auto l = *registry.drop_lease(id, job);
      send(id, proto::Cancel{job, l.epoch});  // the worker must not start it
      pending_progress.erase(job);
      pending_handbacks.push_back(mine(job, l.epoch));
    }
  }
  auto deadline = Clock::now() + std::chrono::milliseconds(cfg.shutdown_grace_ms);
  auto running = [&] {
    size_t n = 0;
    for (auto& [id, s] : registry.sessions()) n += s.leases.size();
    return n;
  };
  while (running() > 0 && Clock::now() < deadline) {
    try {
      try_connect();
      on_timers(Clock::now());
      loop_once(50);
    } catch (const std::exception& e) {
      log::error(kLog, "unexpected error while draining: ", e.what());
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  for (auto& [id, s] : registry.sessions()) {
    if (!s.leases.empty()) {
      log::warn(kLog, "requeueing ", s.leases.size(), " running job(s) of worker ", s.caps.worker_id,
                " at shutdown");
      requeue_failed(s, "dispatcher " + cfg.dispatcher_id + " shut down while the job ran");
    }
    pending_worker_marks.push_back({s.caps.worker_id, "gone"});
  }
  // Best effort: a few attempts to write everything before exiting.
  for (int i = 0; i < 20 && (!pending_completions.empty() || !pending_handbacks.empty() ||
                             !pending_worker_marks.empty() || !pending_progress.empty());
       ++i) {
    try {
      try_connect();
      flush();
    } catch (const std::exception& e) {
      log::error(kLog, "final flush failed: ", e.what());
    }
    if (!db) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  link.stop();  // after sending what was queued (cancels of unstarted jobs)
  log::info(kLog, "dispatcher ", cfg.dispatcher_id, " stopped");
}

Dispatcher::Dispatcher(ServeConfig cfg, zmq::context_t& ctx)
    : impl_(std::make_unique<Impl>(std::move(cfg), ctx)) {}
Dispatcher::~Dispatcher() = default;

namespace {
// Raises the soft open-files limit to the hard one (at most 2^20). Every worker connection, and
// every peer still in its handshake, is a file descriptor: at the usual soft default of 1,024,
// about a thousand idle or hostile connections would leave no descriptor to accept a real worker
// until the handshake timeout dropped them. systemd units set LimitNOFILE as well
// (ops/systemd); this covers a dispatcher started any other way.
void raise_open_files_limit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0) return;
  const rlim_t want = r.rlim_max == RLIM_INFINITY ? rlim_t{1} << 20 : std::min<rlim_t>(r.rlim_max, rlim_t{1} << 20);
  if (r.rlim_cur >= want) return;
  const rlim_t before = r.rlim_cur;
  r.rlim_cur = want;
  if (::setrlimit(RLIMIT_NOFILE, &r) == 0)
    log::info(kLog, "open files limit raised from ", static_cast<uint64_t>(before), " to ", static_cast<uint64_t>(want));
  else
    log::warn(kLog, "open files limit stays at ", static_cast<uint64_t>(before), " (setrlimit failed)");
}
}  // namespace

std::string Dispatcher::bind() {
  raise_open_files_limit();
  std::string note;
  const std::string ep = secure_bind_endpoint(impl_->cfg, note);  // may throw UsageError
  if (!note.empty()) log::warn(kLog, note);
  if (impl_->link.curve()) log::info(kLog, "CURVE on: workers must present an authorized key");
  std::string bound = impl_->link.bind(ep);
  if (impl_->cfg.dispatcher_id.empty()) impl_->cfg.dispatcher_id = default_dispatcher_id(bound);
  return bound;
}

void Dispatcher::run(const std::atomic<bool>& stop) { impl_->run(stop); }
const DispatcherStats& Dispatcher::stats() const { return impl_->stats; }
const ServeConfig& Dispatcher::config() const { return impl_->cfg; }

}  // namespace ff::dispatcher
