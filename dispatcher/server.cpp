// The serve loop (contract and threads: server.hpp). Over 400 lines because Impl is one struct
// holding the loop's state; splitting it by concern (database link, worker protocol, claims,
// timers) into files over a shared state struct is the next step, not done yet.
#include "dispatcher/server.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "common/json.hpp"
#include "common/log.hpp"
#include "common/protocol.hpp"
#include "common/sd_notify.hpp"
#include "dispatcher/backoff.hpp"
#include "dispatcher/job_log.hpp"
#include "dispatcher/job_store.hpp"
#include "dispatcher/registry.hpp"
#include "dispatcher/scheduler.hpp"
#include "dispatcher/text.hpp"
#include "dispatcher/worker_link.hpp"

namespace ff::dispatcher {

namespace {
constexpr const char* kLog = "dispatcher";
constexpr size_t kMaxDispatcherFrameBytes = 1 << 20;  // dispatcher-link messages are small

int64_t ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

std::string error_kind_name(proto::ErrorKind k) {
  switch (k) {
    case proto::ErrorKind::kNone: return "none";
    case proto::ErrorKind::kBadInput: return "bad_input";
    case proto::ErrorKind::kOutOfMemory: return "out_of_memory";
    case proto::ErrorKind::kVramBudget: return "vram_budget";
    case proto::ErrorKind::kEngineCrash: return "engine_crash";
    case proto::ErrorKind::kCancelled: return "cancelled";
    case proto::ErrorKind::kInternal: return "internal";
  }
  return "internal";
}

// Printable form of a ROUTER identity for logs.
std::string show_identity(const std::string& id) {
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

}  // namespace

struct Dispatcher::Impl {
  ServeConfig cfg;
  zmq::context_t& ctx;
  WorkerLink link;  // ROUTER socket, heartbeats and liveness stamps on the link thread
  DispatcherStats stats;
  WorkerRegistry registry;
  std::unique_ptr<JobStore> db;
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
  RateLimitedWarn warn_frames{20};
  RateLimitedWarn warn_late{20};

  Impl(ServeConfig c, zmq::context_t& cx)
      : cfg(std::move(c)), ctx(cx), link(cx, link_config(cfg)) {}

  static LinkConfig link_config(const ServeConfig& c) {
    LinkConfig l;
    l.heartbeat_interval_ms = c.heartbeat_interval_ms;
    l.max_frame_bytes = kMaxDispatcherFrameBytes;
    l.curve_secret_key = c.curve_secret_key;
    l.authorized_keys_file = c.authorized_keys_file;
    l.handshake_timeout_ms = c.handshake_timeout_ms;
    l.max_msgs_per_s = c.max_worker_msgs_per_s;
    return l;
  }

  // A hand-back the dispatcher decided itself: applies only while it still owns the lease.
  LeaseRef mine(int64_t job_id, int64_t epoch) const { return {job_id, epoch, cfg.dispatcher_id}; }

  double uniform() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng); }

  // ---------------------------------------------------------------- database connection

  bool db_up() const { return db != nullptr; }

  void db_lost(const std::exception& e) {
    if (db) log::warn(kLog, "database connection lost: ", e.what(), "; reconnecting with backoff");
    try {
      db.reset();
    } catch (...) {
    }
    db.reset();
    reconnect_attempt = std::max(reconnect_attempt, 1);
    next_reconnect = Clock::now() + std::chrono::milliseconds(
                                        backoff_delay_ms(reconnect_attempt, cfg.reconnect_backoff, uniform()));
  }

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

  // Leases of this dispatcher id that no session here holds -> queued (attempt given back).
  // Call right after a successful flush (nothing of ours pending).
  void release_orphans(const char* why) {
    std::vector<int64_t> held;
    for (auto& [id, s] : registry.sessions())
      for (auto& [job, l] : s.leases) held.push_back(l.epoch);
    with_db([&](JobStore& d) {
      auto released = d.release_orphans(cfg.dispatcher_id, held);
      if (!released.empty()) log::warn(kLog, "released ", released.size(), " lease(s) ", why);
    });
  }

  void try_connect() {
    if (db || Clock::now() < next_reconnect) return;
    try {
      db = std::make_unique<JobStore>(
          with_pg_timeouts(cfg.database_url, cfg.pg), [this] { queue_maybe_ready = true; },
          [this](int64_t id) { on_cancel_notify(id); });
      if (reconnect_attempt > 0) {
        stats.db_reconnects_total++;
        log::info(kLog, "database reconnected after ", reconnect_attempt, " attempt(s)");
      } else {
        log::info(kLog, "database connected");
      }
      reconnect_attempt = 0;
      queue_maybe_ready = true;
      const bool first = !ever_connected;
      ever_connected = true;
      // Apply what was buffered, then release leases whose claim reply was lost.
      flush();
      if (!db) return;
      for (auto& [id, s] : registry.sessions()) pending_worker_upserts[s.caps.worker_id] = worker_info(s);
      if (first) {
        // Leases a previous process under the same --dispatcher-id left (kill -9, restart): its
        // workers get one silence window to register again (the jobs they hold are kept), then
        // the rest go back at once instead of waiting for the lease timeout.
        orphan_release_at = Clock::now() + std::chrono::milliseconds(cfg.heartbeat_interval_ms *
                                                                     (cfg.heartbeat_misses_dead + 1));
      } else {
        release_orphans("whose claim reply was lost");
      }
      next_renew = Clock::now();
    } catch (const std::exception& e) {
      db.reset();
      ++reconnect_attempt;
      int64_t d = backoff_delay_ms(reconnect_attempt, cfg.reconnect_backoff, uniform());
      next_reconnect = Clock::now() + std::chrono::milliseconds(d);
      log::warn(kLog, "cannot connect to the database (attempt ", reconnect_attempt, "): ",
                e.what(), "; retrying in ", d, " ms");
    }
  }

  // ---------------------------------------------------------------- sending

  // Queues `m` for the link thread. Delivery failures come back as link events
  // (on_send_failed / on_gone).
  void send(const std::string& identity, const proto::Message& m) { link.send(identity, proto::encode(m)); }

  static WorkerInfo worker_info(const WorkerSession& s) {
    WorkerInfo w;
    w.worker_id = s.caps.worker_id;
    w.gpu_name = s.caps.gpu_name;
    w.model = s.caps.model;
    w.encoder_fingerprint = s.caps.encoder_fingerprint;
    w.vram_total_bytes = s.caps.vram_total_bytes;
    w.vram_budget_bytes = s.caps.vram_budget_bytes;
    w.credit = s.credit;
    w.max_encode_batch = s.caps.max_encode_batch;
    w.components_resident = s.caps.components_resident;
    return w;
  }

  // ---------------------------------------------------------------- worker messages

  void receive_all() {
    std::vector<LinkEvent> events;
    for (int round = 0; round < 100; ++round) {
      events.clear();
      if (link.drain(events, 1000) == 0) return;
      for (auto& e : events) {
        switch (e.kind) {
          case LinkEvent::Kind::kBadFrame:
            stats.frames_dropped_total++;
            warn_frames("dropped a ", e.parts, "-frame message from ", show_identity(e.identity),
                        " (expected exactly one frame)");
            break;
          case LinkEvent::Kind::kSendFailed: on_send_failed(e.identity, e.frame); break;
          case LinkEvent::Kind::kGone: on_gone(e.identity); break;
          case LinkEvent::Kind::kMessage: {
            auto decoded = proto::decode(e.frame);
            if (auto* err = std::get_if<proto::DecodeError>(&decoded)) {
              stats.frames_dropped_total++;
              warn_frames("dropped a malformed frame of ", e.frame.size(), " bytes from ",
                          show_identity(e.identity), ": ", err->what);
              break;
            }
            handle(e.identity, e.user_id, std::get<proto::Message>(decoded));
            break;
          }
        }
      }
    }
  }

  // The connection of `identity` is gone (a frame to it could not be routed). Jobs it never
  // started go back at once without using an attempt; the session gets no more jobs; started
  // jobs wait for the silence rule (the worker may re-register and report them).
  void on_gone(const std::string& identity) {
    WorkerSession* s = registry.find(identity);
    if (!s) return;
    if (!s->suspect) {
      log::warn(kLog, "worker ", s->caps.worker_id, ": connection gone; no more jobs for it until it is heard again");
      s->suspect = true;
      s->suspect_since = Clock::now();
    }
    std::vector<int64_t> unstarted;
    for (auto& [job, l] : s->leases)
      if (!l.started) unstarted.push_back(job);
    for (int64_t job : unstarted) {
      auto l = *registry.drop_lease(identity, job);
      pending_progress.erase(job);
      pending_handbacks.push_back(mine(job, l.epoch));
      s->credit++;  // the worker never got (or never started) it
      queue_maybe_ready = true;
    }
  }

  // A frame the loop sent could not be delivered. A Job: the worker never got it, so it goes back
  // unused (no attempt) and the worker is ineligible until heard from again (no claim storm).
  void on_send_failed(const std::string& identity, const std::string& frame) {
    auto decoded = proto::decode(frame);
    if (auto* m = std::get_if<proto::Message>(&decoded)) {
      if (auto* j = std::get_if<proto::Job>(m)) {
        stats.sends_failed_total++;
        WorkerSession* s = registry.find(identity);
        if (s) {
          auto held = s->leases.find(j->job_id);
          if (held != s->leases.end() && held->second.epoch == j->epoch) {
            registry.drop_lease(identity, j->job_id);
            s->credit++;
          }
        }
        pending_progress.erase(j->job_id);
        pending_handbacks.push_back(mine(j->job_id, j->epoch));
        queue_maybe_ready = true;
      }
    }
    on_gone(identity);
  }

  // `user_id`: under CURVE, the worker name the connection's key is authorized as.
  void handle(const std::string& identity, const std::string& user_id, const proto::Message& m) {
    auto now = Clock::now();
    if (auto* reg = std::get_if<proto::Register>(&m)) return on_register(identity, user_id, *reg, now);
    WorkerSession* s = registry.find(identity);
    if (!s) {
      stats.frames_dropped_total++;
      warn_frames("dropped ", proto::type_name(proto::type_of(m)), " from unregistered peer ",
                  show_identity(identity), " (a worker must send register first); asking it to register");
      ask_to_register(identity, now);
      return;
    }
    s->last_heard = now;
    std::visit(
        [&](const auto& msg) {
          using T = std::decay_t<decltype(msg)>;
          if constexpr (std::is_same_v<T, proto::Credit>) {
            if (msg.slots < 0 || msg.slots > 100000) {
              stats.frames_dropped_total++;
              warn_frames("dropped credit with slots=", msg.slots, " from ", s->caps.worker_id);
              return;
            }
            // Never more than max_worker_slots jobs held plus credit (a hostile or buggy worker
            // cannot claim the whole queue).
            s->credit = std::min<int64_t>(s->credit + msg.slots,
                                          std::max<int64_t>(0, cfg.max_worker_slots - static_cast<int64_t>(s->leases.size())));
          } else if constexpr (std::is_same_v<T, proto::Heartbeat>) {
            // liveness only
          } else if constexpr (std::is_same_v<T, proto::Progress>) {
            on_progress(*s, msg);
          } else if constexpr (std::is_same_v<T, proto::Result>) {
            on_result(*s, msg);
          } else if constexpr (std::is_same_v<T, proto::HandBack>) {
            on_hand_back(*s, msg);
          } else if constexpr (std::is_same_v<T, proto::Goodbye>) {
            log::info(kLog, "worker ", s->caps.worker_id, " said goodbye: ", sanitize_text(msg.reason, 200));
            auto gone = registry.remove(identity);
            link.unwatch(identity);
            release_session(*gone, "worker left: " + sanitize_text(msg.reason, 200), "gone");
          } else {
            stats.frames_dropped_total++;
            warn_frames("dropped unexpected ", proto::type_name(proto::type_of(m)), " from worker ",
                        s->caps.worker_id);
          }
        },
        m);
  }

  void on_register(const std::string& identity, const std::string& user_id, const proto::Register& r,
                   Clock::time_point now) {
    std::string problem;
    // Under CURVE a worker's identity is its key: it may only register as the name its key is
    // authorized as (no registering under another worker's name).
    if (link.curve() && r.worker_id != user_id)
      problem = "worker_id '" + sanitize_text(r.worker_id, 200) + "' is not the name its key is authorized as ('" +
                sanitize_text(user_id, 200) + "')";
    else if (r.worker_id.empty() || r.worker_id.size() > 200) problem = "worker_id must be 1..200 bytes";
    else if (sanitize_text(r.worker_id, 200) != r.worker_id) problem = "worker_id is not valid UTF-8";
    else if (r.free_slots < 0 || r.free_slots > 100000) problem = "free_slots out of range [0, 100000]";
    else if (r.max_encode_batch < 1 || r.max_encode_batch > 4096) problem = "max_encode_batch out of range [1, 4096]";
    else if (r.model.size() > 200 || r.encoder_fingerprint.size() > 200) problem = "model/encoder_fingerprint longer than 200 bytes";
    else if (r.held.size() > 100000) problem = "more than 100000 held jobs";
    if (!problem.empty()) {
      stats.frames_dropped_total++;
      warn_frames("rejected register from ", show_identity(identity), ": ", problem);
      return;
    }
    proto::Register caps = r;
    caps.gpu_name = sanitize_text(r.gpu_name, 200);
    caps.model = sanitize_text(r.model, 200);
    caps.encoder_fingerprint = sanitize_text(r.encoder_fingerprint, 200);
    for (auto& c : caps.components_resident) c = sanitize_text(c, 100);
    caps.free_slots = static_cast<int32_t>(std::min<int64_t>(caps.free_slots, cfg.max_worker_slots));
    bool known = registry.find(identity) != nullptr;
    auto old = registry.register_worker(identity, caps, now);
    link.watch(identity);
    std::map<int64_t, const proto::HeldLease*> held;
    for (const auto& h : r.held) held[h.job_id] = &h;
    if (old) {
      link.unwatch(old->identity);
      // Jobs the worker still holds move to the new session; the others are requeued.
      WorkerSession rest = *old;
      rest.leases.clear();
      size_t moved = 0;
      for (const auto& [job, l] : old->leases) {
        auto h = held.find(job);
        if (h != held.end() && h->second->epoch == l.epoch) {
          Lease nl = l;
          nl.started = l.started || h->second->started;
          registry.add_lease(identity, nl);
          ++moved;
        } else {
          rest.leases[job] = l;
        }
      }
      log::warn(kLog, "worker ", caps.worker_id, " re-registered from a new connection: kept ", moved,
                " job(s) it still holds, requeueing ", rest.leases.size());
      requeue_failed(rest, "worker " + caps.worker_id + " reconnected as a new session");
    }
    WorkerSession* s = registry.find(identity);
    // Held jobs this dispatcher does not know (it restarted, or another one leased them): taken
    // over in the next flush while their epoch is current, else the worker is told to cancel.
    for (const auto& [job, h] : held)
      if (!s->leases.count(job)) pending_adoptions.push_back({identity, *h});
    log::info(kLog, known ? "worker re-registered: " : "worker registered: ", caps.worker_id, " gpu=",
              caps.gpu_name, " model=", caps.model, " slots=", caps.free_slots,
              " max_encode_batch=", caps.max_encode_batch);
    proto::Welcome w;
    w.heartbeat_interval_ms = static_cast<int32_t>(cfg.heartbeat_interval_ms);
    w.heartbeat_misses_dead = static_cast<int32_t>(cfg.heartbeat_misses_dead);
    send(identity, w);
    pending_worker_upserts[caps.worker_id] = worker_info(*s);
  }

  void on_progress(WorkerSession& s, const proto::Progress& p) {
    auto it = s.leases.find(p.job_id);
    if (it == s.leases.end() || it->second.epoch != p.epoch) {
      stats.results_discarded_total++;
      warn_late("discarded progress for job ", p.job_id, " epoch ", p.epoch, " from worker ",
                s.caps.worker_id, ": not a lease it holds");
      return;
    }
    if (!it->second.started) log_job_started(p.job_id, p.epoch, it->second.attempts, s.caps.worker_id);
    it->second.started = true;
    ProgressRow row{p.job_id, p.epoch, s.caps.worker_id, sanitize_text(p.phase, 64), p.step,
                    p.total_steps};
    pending_progress[p.job_id] = std::move(row);
  }

  // result.media: the MP4 the worker wrote (proto::MediaInfo); non-finite numbers become 0.
  static json::Object media_json(const proto::MediaInfo& m) {
    auto finite = [](double v) { return v == v && v < 1e300 && v > -1e300 ? v : 0.0; };
    json::Object o;
    o.set("mp4_path", sanitize_text(m.mp4_path, 4096));
    o.set("poster_path", sanitize_text(m.poster_path, 4096));
    o.set("duration_s", finite(m.duration_s));
    o.set("frames", static_cast<long long>(m.frames));
    o.set("fps", finite(m.fps));
    o.set("width", static_cast<long long>(m.width));
    o.set("height", static_cast<long long>(m.height));
    o.set("audio_sample_rate", static_cast<long long>(m.audio_sample_rate));
    o.set("audio_channels", static_cast<long long>(m.audio_channels));
    o.set("bytes", static_cast<long long>(m.bytes));
    return o;
  }

  void on_result(WorkerSession& s, const proto::Result& r) {
    auto it = s.leases.find(r.job_id);
    Lease lease;
    bool foreign = it == s.leases.end() || it->second.epoch != r.epoch;
    if (foreign) {
      // Not a lease this session holds here: a result the worker re-sent after registering
      // again (this dispatcher restarted meanwhile), or a late/forged one. Fenced in SQL by the
      // epoch and by the job's lease_worker; the attempt count is the database's.
      lease.attempts = 0;
      lease.max_attempts = std::numeric_limits<int32_t>::max();
      std::erase_if(pending_adoptions, [&](const auto& a) {
        return a.first == s.identity && a.second.job_id == r.job_id && a.second.epoch == r.epoch;
      });
    } else {
      lease = *registry.drop_lease(s.identity, r.job_id);
      pending_progress.erase(r.job_id);
    }
    CompletionRow c;
    c.foreign = foreign;
    c.job_id = r.job_id;
    c.epoch = r.epoch;
    c.worker_id = s.caps.worker_id;
    if (r.ok) {
      c.state = "succeeded";
      json::Object res;
      res.set("output_path", sanitize_text(r.output_path, 4096));
      json::Object timings, peaks;
      for (const auto& [k, v] : r.timings_s)
        if (v == v && v < 1e300 && v > -1e300) timings.set(sanitize_text(k, 64), v);
      for (const auto& [k, v] : r.peak_vram_bytes) peaks.set(sanitize_text(k, 64), static_cast<long long>(v));
      res.set("timings_s", std::move(timings));
      res.set("peak_vram_bytes", std::move(peaks));
      if (!r.media.mp4_path.empty()) res.set("media", media_json(r.media));
      c.result_json = json::dump(json::Value(std::move(res)));
    } else {
      auto kind = r.error_kind == proto::ErrorKind::kNone ? proto::ErrorKind::kInternal : r.error_kind;
      c.error_kind = error_kind_name(kind);
      c.error = sanitize_text(r.error_message.empty() ? "worker reported failure" : r.error_message, 4096);
      if (kind == proto::ErrorKind::kCancelled) c.state = "cancelled";
      else if (kind == proto::ErrorKind::kBadInput || kind == proto::ErrorKind::kVramBudget) c.state = "dead";
      else fail_or_retry(lease, c);
      if (foreign && c.state == "retry_wait") c.retry_delay_ms = backoff_delay_ms(1, cfg.retry_backoff, uniform());
    }
    pending_completions.push_back(std::move(c));
  }

  // Asks a connection that is not registered here to send Register again (at most once a
  // second per connection): a worker whose dispatcher restarted re-announces what it holds.
  void ask_to_register(const std::string& identity, Clock::time_point now) {
    if (reregister_sent.size() > 10000) reregister_sent.clear();
    auto& t = reregister_sent[identity];
    if (t != Clock::time_point{} && now - t < std::chrono::seconds(1)) return;
    t = now;
    send(identity, proto::Reregister{"not registered with dispatcher " + cfg.dispatcher_id});
  }

  // Takes over the leases re-registering workers hold (see on_register). Returns false if the
  // connection was lost (the adoptions stay pending).
  bool adopt_pending() {
    if (pending_adoptions.empty()) return true;
    std::vector<LeaseRef> refs;
    for (const auto& [id, h] : pending_adoptions) refs.push_back({h.job_id, h.epoch, std::nullopt});
    std::vector<AdoptedLease> got;
    if (!with_db([&](JobStore& d) { got = d.adopt(cfg.dispatcher_id, cfg.lease_timeout_ms, refs); })) return false;
    std::map<int64_t, AdoptedLease> by_job;
    for (const auto& a : got) by_job[a.job_id] = a;
    for (const auto& [id, h] : pending_adoptions) {
      auto a = by_job.find(h.job_id);
      WorkerSession* s = registry.find(id);
      if (a == by_job.end() || a->second.epoch != h.epoch) {
        // Finished, requeued or leased again meanwhile: the worker must drop it.
        send(id, proto::Cancel{h.job_id, h.epoch});
        continue;
      }
      if (!s) {  // gone again before the adoption: release it
        pending_handbacks.push_back(mine(h.job_id, h.epoch));
        continue;
      }
      Lease l{h.job_id, h.epoch, a->second.attempts, a->second.max_attempts, a->second.running || h.started, false};
      const int64_t deadline_ms = a->second.deadline_ms > 0 ? a->second.deadline_ms : cfg.job_deadline_ms;
      if (deadline_ms > 0) l.deadline = Clock::now() + std::chrono::milliseconds(deadline_ms);
      registry.add_lease(id, l);
      stats.leases_adopted_total++;
    }
    if (!got.empty()) log::info(kLog, "took over ", got.size(), " lease(s) that re-registering workers hold");
    pending_adoptions.clear();
    return true;
  }

  // Fills state/delay of a failed attempt: retry_wait with backoff, or dead at max_attempts.
  void fail_or_retry(const Lease& lease, CompletionRow& c) {
    if (lease.attempts >= lease.max_attempts) {
      c.state = "dead";
      c.error = c.error.value_or("") + " (attempt " + std::to_string(lease.attempts) + " of " +
                std::to_string(lease.max_attempts) + ")";
    } else {
      c.state = "retry_wait";
      c.retry_delay_ms = backoff_delay_ms(lease.attempts, cfg.retry_backoff, uniform());
    }
  }

  void on_hand_back(WorkerSession& s, const proto::HandBack& h) {
    auto it = s.leases.find(h.job_id);
    if (it == s.leases.end() || it->second.epoch != h.epoch) {
      stats.results_discarded_total++;
      warn_late("discarded hand-back of job ", h.job_id, " epoch ", h.epoch, " from worker ",
                s.caps.worker_id, ": not a lease it holds");
      return;
    }
    registry.drop_lease(s.identity, h.job_id);
    pending_progress.erase(h.job_id);
    pending_handbacks.push_back({h.job_id, h.epoch});
    queue_maybe_ready = true;
  }

  // A lost session (dead, replaced by a new connection, left, or this dispatcher stopping). Jobs it
  // never started go back at once without using an attempt. Started ones failed through no
  // fault of their own: retried without backoff and in their old place in the queue (run_after
  // unchanged), or dead at max_attempts.
  void requeue_failed(const WorkerSession& s, const std::string& reason) {
    for (const auto& [job, l] : s.leases) {
      pending_progress.erase(job);
      if (!l.started) {
        pending_handbacks.push_back(mine(job, l.epoch));
        continue;
      }
      CompletionRow c;
      c.job_id = job;
      c.epoch = l.epoch;
      c.worker_id = s.caps.worker_id;
      c.error_kind = "worker_lost";
      c.error = reason;
      fail_or_retry(l, c);
      if (c.state == "retry_wait") c.retry_delay_ms = -1;  // keep run_after: no backoff, same place
      c.owner = cfg.dispatcher_id;
      pending_completions.push_back(std::move(c));
    }
    queue_maybe_ready = true;
  }

  // A session that left (Goodbye): as requeue_failed, and its row gets `status`.
  void release_session(const WorkerSession& s, const std::string& reason, const std::string& status) {
    requeue_failed(s, reason);
    pending_worker_marks.push_back({s.caps.worker_id, status});
    queue_maybe_ready = true;
  }

  void on_cancel_notify(int64_t job_id) {
    WorkerSession* s = registry.holder(job_id);
    if (!s) return;
    auto it = s->leases.find(job_id);
    if (it == s->leases.end() || it->second.cancel_sent) return;
    send(s->identity, proto::Cancel{job_id, it->second.epoch});
    it->second.cancel_sent = true;
    log::info(kLog, "sent cancel for job ", job_id, " to worker ", s->caps.worker_id);
  }

  // ---------------------------------------------------------------- database effects

  // Applies buffered progress/completions/hand-backs/worker rows; one statement per kind.
  void flush() {
    if (!db) return;
    if (!adopt_pending()) return;
    if (!pending_completions.empty()) {
      auto rows = pending_completions;
      std::vector<int64_t> applied;
      if (!apply_rows(rows, applied, [](JobStore& d, const std::vector<CompletionRow>& r) { return d.complete(r); }))
        return;
      pending_completions.clear();
      log::debug(kLog, "completed ", rows.size(), " jobs");
      std::set<int64_t> ok(applied.begin(), applied.end());
      stats.results_applied_total += static_cast<int64_t>(ok.size());
      for (const auto& r : rows)
        if (ok.count(r.job_id)) {
          log_job_finished(r);
          if (r.state == "retry_wait" || r.state == "dead") stats.attempts_failed.add(r.error_kind.value_or("unknown"));
        } else {
          stats.results_discarded_total++;
          warn_late("discarded outcome ", r.state, " of job ", r.job_id, " epoch ", r.epoch,
                    ": its lease was taken over (expired or reassigned)");
        }
    }
    if (!pending_handbacks.empty()) {
      auto rows = pending_handbacks;
      std::vector<int64_t> applied;
      if (!apply_rows(rows, applied, [](JobStore& d, const std::vector<LeaseRef>& r) { return d.hand_back(r); }))
        return;
      pending_handbacks.clear();
    }
    if (!pending_progress.empty()) {
      std::vector<ProgressRow> rows;
      for (auto& [id, p] : pending_progress) rows.push_back(p);
      std::vector<int64_t> applied;
      if (!apply_rows(rows, applied, [](JobStore& d, const std::vector<ProgressRow>& r) { return d.mark_running(r); }))
        return;
      pending_progress.clear();
    }
    while (!pending_worker_upserts.empty()) {
      auto it = pending_worker_upserts.begin();
      if (!with_db([&](JobStore& d) { d.upsert_worker(cfg.dispatcher_id, it->second); })) return;
      pending_worker_upserts.erase(it);
    }
    while (!pending_worker_marks.empty()) {
      auto m = pending_worker_marks.back();
      if (!with_db([&](JobStore& d) { d.mark_worker(m.first, cfg.dispatcher_id, m.second); })) return;
      pending_worker_marks.pop_back();
    }
  }

  // Runs a batch statement; if the batch is rejected for a data reason, retries row by row and
  // drops (logs) rows that fail alone. Returns false if the connection was lost.
  template <typename Row, typename F>
  bool apply_rows(const std::vector<Row>& rows, std::vector<int64_t>& applied, F&& f) {
    try {
      applied = f(*db, rows);
      return true;
    } catch (const std::exception& e) {
      if (is_connection_error(e)) {
        db_lost(e);
        return false;
      }
      log::error(kLog, "batch statement failed (", e.what(), "); applying ", rows.size(), " rows one by one");
    }
    for (const auto& r : rows) {
      try {
        auto a = f(*db, std::vector<Row>{r});
        applied.insert(applied.end(), a.begin(), a.end());
      } catch (const std::exception& e) {
        if (is_connection_error(e)) {
          db_lost(e);
          return false;
        }
        log::error(kLog, "dropped database update for job ", r.job_id, ": ", e.what());
      }
    }
    return true;
  }

  // ---------------------------------------------------------------- claiming

  void claim_and_send() {
    if (draining || !db || !queue_maybe_ready || Clock::now() < claims_paused_until) return;
    for (int round = 0; round < 8; ++round) {
      std::vector<WorkerSlot> slots;
      std::set<std::string> models, fps;
      int64_t credit = 0;
      for (auto& [id, s] : registry.sessions()) {
        if (s.suspect) {
          // Eligible again only once the link thread heard from it after the failure.
          auto t = link.last_heard(id);
          if (!t || *t <= s.suspect_since) continue;
          s.suspect = false;
        }
        if (s.credit <= 0) continue;
        slots.push_back({id, s.caps.model, s.caps.encoder_fingerprint, s.credit, s.caps.max_encode_batch});
        models.insert(s.caps.model);
        if (!s.caps.encoder_fingerprint.empty()) fps.insert(s.caps.encoder_fingerprint);
        credit += s.credit;
      }
      if (credit == 0) return;
      int64_t limit = std::min<int64_t>(credit, cfg.claim_batch_max);
      std::vector<ClaimedJob> claimed;
      auto claim_start = Clock::now();
      if (!with_db([&](JobStore& d) {
            claimed = d.claim(cfg.dispatcher_id, limit, {models.begin(), models.end()},
                              cfg.lease_timeout_ms, {fps.begin(), fps.end()});
          }))
        return;
      stats.claims_total++;
      stats.claim_us_total += std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - claim_start).count();
      log::debug(kLog, "claimed ", claimed.size(), " of ", limit, " in ",
                 std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - claim_start).count(), " us");
      if (static_cast<int64_t>(claimed.size()) < limit) queue_maybe_ready = false;
      if (claimed.empty()) return;
      auto plan = schedule(std::move(claimed), slots, next_group);
      for (auto& a : plan.assignments) {
        WorkerSession* s = registry.find(a.identity);
        Lease l{a.job.job.job_id, a.job.job.epoch, a.job.job.attempt, a.job.max_attempts, false, false};
        const int64_t deadline_ms = a.job.deadline_ms > 0 ? a.job.deadline_ms : cfg.job_deadline_ms;
        if (deadline_ms > 0) l.deadline = Clock::now() + std::chrono::milliseconds(deadline_ms);
        if (s) {
          send(a.identity, a.job.job);
          s->credit--;
          registry.add_lease(a.identity, l);
          stats.jobs_sent_total++;
          log_job_dispatched(l, s->caps.worker_id);
        } else {
          pending_handbacks.push_back(mine(l.job_id, l.epoch));
          queue_maybe_ready = true;
        }
      }
      for (auto& u : plan.unassigned) pending_handbacks.push_back(mine(u.job.job_id, u.job.epoch));
      if (!plan.unassigned.empty()) {
        // Ready jobs no worker with credit can take (model/credit mismatch): give them back and
        // do not claim again before the next poll tick (the hand-back NOTIFY would spin us).
        log::debug(kLog, "handing back ", plan.unassigned.size(), " job(s) no worker with credit can take");
        flush();
        claims_paused_until = Clock::now() + std::chrono::milliseconds(cfg.poll_interval_ms);
        return;
      }
      if (!queue_maybe_ready) return;
    }
  }

  // ---------------------------------------------------------------- timers

  void on_timers(Clock::time_point now) {
    auto hb = std::chrono::milliseconds(cfg.heartbeat_interval_ms);
    if (now >= next_heartbeat) {
      next_heartbeat = now + hb;
      auto silence = hb * cfg.heartbeat_misses_dead;
      // Liveness is what the link thread heard, not what this (maybe SQL-blocked) thread read.
      for (auto& [id, s] : registry.sessions())
        if (auto t = link.last_heard(id)) s.last_heard = std::max(s.last_heard, *t);
      for (auto& dead : registry.take_silent(now, silence)) {
        link.unwatch(dead.identity);
        stats.workers_dead_total++;
        log::warn(kLog, "worker ", dead.caps.worker_id, " silent for ", ms_between(dead.last_heard, now),
                  " ms: dead; requeueing its ", dead.leases.size(), " job(s)");
        requeue_failed(dead, "worker " + dead.caps.worker_id + " stopped heartbeating");
        pending_worker_marks.push_back({dead.caps.worker_id, "dead"});
      }
      expire_deadlines(now);
      stats.frames_rate_limited_total = link.rate_dropped();
      std::vector<JobStore::WorkerRow> rows;
      for (auto& [id, s] : registry.sessions()) {
        rows.push_back({s.caps.worker_id, s.credit, static_cast<int64_t>(s.leases.size())});
      }
      if (!rows.empty()) with_db([&](JobStore& d) { d.update_workers(cfg.dispatcher_id, rows); });
    }
    if (orphan_release_at && now >= *orphan_release_at && db) {
      // Only with nothing buffered: a lease this process just gave up (worker lost) but has not
      // written yet must not be released as an orphan (its pending row would be fenced out).
      flush();
      if (db && pending_completions.empty() && pending_handbacks.empty() && pending_adoptions.empty()) {
        orphan_release_at.reset();
        release_orphans("left by a previous process under this dispatcher id");
      }
    }
    if (now >= next_poll) {
      next_poll = now + std::chrono::milliseconds(cfg.poll_interval_ms);
      queue_maybe_ready = true;
    }
    if (now >= next_renew) {
      next_renew = now + std::chrono::milliseconds(cfg.lease_timeout_ms / 3);
      std::vector<LeaseRef> held;
      for (auto& [id, s] : registry.sessions())
        for (auto& [job, l] : s.leases) held.push_back({job, l.epoch});
      if (!held.empty()) with_db([&](JobStore& d) { d.renew(cfg.dispatcher_id, cfg.lease_timeout_ms, held); });
    }
    if (now >= next_reap) {
      next_reap = now + std::chrono::milliseconds(cfg.reap_interval_ms);
      with_db([&](JobStore& d) {
        for (const auto& r : d.reap_expired(cfg.retry_backoff.base_ms, cfg.retry_backoff.max_ms)) {
          log::warn(kLog, "job ", r.job_id, ": lease of dispatcher ", r.old_owner, " expired -> ", r.state);
          // If we held it ourselves (we lost the DB too long), forget it: the epoch no longer
          // matches and the worker's result will be discarded.
          if (WorkerSession* s = registry.holder(r.job_id)) registry.drop_lease(s->identity, r.job_id);
        }
      });
      queue_maybe_ready = true;
    }
    if (cfg.retention_ms > 0 && now >= next_retention && db) {
      int64_t deleted = 0;
      if (with_db([&](JobStore& d) { deleted = d.delete_finished(cfg.retention_ms, cfg.retention_batch); })) {
        stats.jobs_deleted_total += deleted;
        if (deleted > 0) log::debug(kLog, "retention: deleted ", deleted, " finished job(s)");
      }
      // A full batch: more are due, go on soon (small statements keep the loop responsive).
      next_retention = now + std::chrono::milliseconds(deleted >= cfg.retention_batch ? 20 : cfg.retention_interval_ms);
    }
    if (now >= next_cancel_scan) {
      next_cancel_scan = now + std::chrono::milliseconds(cfg.poll_interval_ms * 4);
      std::vector<int64_t> ids;
      for (auto& [id, s] : registry.sessions())
        for (auto& [job, l] : s.leases)
          if (!l.cancel_sent) ids.push_back(job);
      if (!ids.empty())
        with_db([&](JobStore& d) {
          for (const auto& c : d.cancel_requested(ids)) on_cancel_notify(c.job_id);
        });
    }
  }

  // Attempts past their deadline: the worker is told to cancel, the attempt fails with
  // deadline_exceeded (retried while attempts remain, else dead). The worker's own late result
  // for that epoch is then discarded; its slot comes back with its Credit once it stopped.
  void expire_deadlines(Clock::time_point now) {
    std::vector<std::pair<std::string, int64_t>> over;
    for (auto& [id, s] : registry.sessions())
      for (auto& [job, l] : s.leases)
        if (now >= l.deadline) over.push_back({id, job});
    for (auto& [id, job] : over) {
      WorkerSession* s = registry.find(id);
      Lease l = *registry.drop_lease(id, job);
      stats.deadlines_exceeded_total++;
      send(id, proto::Cancel{job, l.epoch});
      pending_progress.erase(job);
      CompletionRow c;
      c.job_id = job;
      c.epoch = l.epoch;
      c.worker_id = s->caps.worker_id;
      c.error_kind = "deadline_exceeded";
      c.error = "the attempt ran past its deadline on worker " + s->caps.worker_id + "; cancelled";
      log::warn(kLog, "job ", job, ": ", *c.error);
      fail_or_retry(l, c);
      c.owner = cfg.dispatcher_id;
      pending_completions.push_back(std::move(c));
      queue_maybe_ready = true;
    }
  }

  // ---------------------------------------------------------------- main loop

  // Returns the time spent waiting in zmq::poll (not loop work).
  Clock::duration loop_once(int timeout_ms) {
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

  void record_turn(Clock::duration busy) {
    const int64_t us = std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::microseconds>(busy).count());
    stats.loop_turns_total++;
    stats.loop_busy_us_total += us;
    int64_t seen = stats.loop_busy_us_max.load();
    while (us > seen && !stats.loop_busy_us_max.compare_exchange_weak(seen, us)) {
    }
  }

  int next_timeout_ms(Clock::time_point now) const {
    auto t = std::min({next_heartbeat, next_poll, next_reap, next_renew, next_cancel_scan});
    if (!db) t = std::min(t, next_reconnect);
    int64_t ms = ms_between(now, t);
    return static_cast<int>(std::clamp<int64_t>(ms, 0, 1000));
  }

  void run(const std::atomic<bool>& stop) {
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

  void shutdown() {
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
};

Dispatcher::Dispatcher(ServeConfig cfg, zmq::context_t& ctx)
    : impl_(std::make_unique<Impl>(std::move(cfg), ctx)) {}
Dispatcher::~Dispatcher() = default;

std::string Dispatcher::bind() {
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
