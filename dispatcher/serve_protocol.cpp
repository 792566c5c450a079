// The serve loop's worker protocol: messages in from the link thread and out to it (state and
// threads: serve_state.hpp; loop thread only).
//
// Contract: a message from a connection is acted on only once it registered (else it is asked
// to register again); under CURVE a worker may only register as the name its key is authorized
// as. Every effect on a job goes through the session's leases (job id + epoch) and is buffered
// for the next flush (serve_db.cpp); nothing here touches the database. A frame the link could
// not deliver, or a connection that is gone, gives back the jobs the worker never started at once
// (no attempt used) and makes the worker ineligible for claims until it is heard again.
#include <algorithm>
#include <limits>

#include <nlohmann/json.hpp>

#include "dispatcher/backoff.hpp"
#include "dispatcher/job_log.hpp"
#include "dispatcher/serve_state.hpp"
#include "common/utf8.hpp"

namespace ff::dispatcher {

using namespace serve_detail;

namespace {

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

// Non-finite numbers become 0 (JSON has no NaN/Inf; jsonb would refuse the row).
double finite_or_zero(double v) { return v == v && v < 1e300 && v > -1e300 ? v : 0.0; }

// result.media: the MP4 the worker wrote (proto::MediaInfo).
nlohmann::json media_json(const proto::MediaInfo& m) {
  return {{"mp4_path", utf8::sanitize(m.mp4_path, 4096)},
          {"poster_path", utf8::sanitize(m.poster_path, 4096)},
          {"duration_s", finite_or_zero(m.duration_s)},
          {"frames", static_cast<long long>(m.frames)},
          {"fps", finite_or_zero(m.fps)},
          {"width", static_cast<long long>(m.width)},
          {"height", static_cast<long long>(m.height)},
          {"audio_sample_rate", static_cast<long long>(m.audio_sample_rate)},
          {"audio_channels", static_cast<long long>(m.audio_channels)},
          {"bytes", static_cast<long long>(m.bytes)}};
}

}  // namespace

WorkerInfo Dispatcher::Impl::worker_info(const WorkerSession& s) {
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

void Dispatcher::Impl::receive_all() {
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
void Dispatcher::Impl::on_gone(const std::string& identity) {
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
void Dispatcher::Impl::on_send_failed(const std::string& identity, const std::string& frame) {
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
void Dispatcher::Impl::handle(const std::string& identity, const std::string& user_id, const proto::Message& m) {
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
          log::info(kLog, "worker ", s->caps.worker_id, " said goodbye: ", utf8::sanitize(msg.reason, 200));
          auto gone = registry.remove(identity);
          link.unwatch(identity);
          release_session(*gone, "worker left: " + utf8::sanitize(msg.reason, 200), "gone");
        } else {
          stats.frames_dropped_total++;
          warn_frames("dropped unexpected ", proto::type_name(proto::type_of(m)), " from worker ",
                      s->caps.worker_id);
        }
      },
      m);
}

void Dispatcher::Impl::on_register(const std::string& identity, const std::string& user_id, const proto::Register& r,
                 Clock::time_point now) {
  std::string problem;
  // Under CURVE a worker's identity is its key: it may only register as the name its key is
  // authorized as (no registering under another worker's name).
  if (link.curve() && r.worker_id != user_id)
    problem = "worker_id '" + utf8::sanitize(r.worker_id, 200) + "' is not the name its key is authorized as ('" +
              utf8::sanitize(user_id, 200) + "')";
  else if (r.worker_id.empty() || r.worker_id.size() > 200) problem = "worker_id must be 1..200 bytes";
  else if (utf8::sanitize(r.worker_id, 200) != r.worker_id) problem = "worker_id is not valid UTF-8";
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
  caps.gpu_name = utf8::sanitize(r.gpu_name, 200);
  caps.model = utf8::sanitize(r.model, 200);
  caps.encoder_fingerprint = utf8::sanitize(r.encoder_fingerprint, 200);
  for (auto& c : caps.components_resident) c = utf8::sanitize(c, 100);
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

void Dispatcher::Impl::on_progress(WorkerSession& s, const proto::Progress& p) {
  auto it = s.leases.find(p.job_id);
  if (it == s.leases.end() || it->second.epoch != p.epoch) {
    stats.results_discarded_total++;
    warn_late("discarded progress for job ", p.job_id, " epoch ", p.epoch, " from worker ",
              s.caps.worker_id, ": not a lease it holds");
    return;
  }
  if (!it->second.started) log_job_started(p.job_id, p.epoch, it->second.attempts, s.caps.worker_id);
  it->second.started = true;
  ProgressRow row{p.job_id, p.epoch, s.caps.worker_id, utf8::sanitize(p.phase, 64), p.step,
                  p.total_steps};
  pending_progress[p.job_id] = std::move(row);
}

void Dispatcher::Impl::on_result(WorkerSession& s, const proto::Result& r) {
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
    // Every string is sanitized to valid UTF-8 first (dump() would throw on invalid bytes).
    nlohmann::json timings = nlohmann::json::object(), peaks = nlohmann::json::object();
    for (const auto& [k, v] : r.timings_s)
      if (v == v && v < 1e300 && v > -1e300) timings[utf8::sanitize(k, 64)] = v;
    for (const auto& [k, v] : r.peak_vram_bytes) peaks[utf8::sanitize(k, 64)] = static_cast<long long>(v);
    nlohmann::json res = {{"output_path", utf8::sanitize(r.output_path, 4096)},
                          {"timings_s", std::move(timings)},
                          {"peak_vram_bytes", std::move(peaks)}};
    if (!r.media.mp4_path.empty()) res["media"] = media_json(r.media);
    c.result_json = res.dump();
  } else {
    auto kind = r.error_kind == proto::ErrorKind::kNone ? proto::ErrorKind::kInternal : r.error_kind;
    c.error_kind = error_kind_name(kind);
    c.error = utf8::sanitize(r.error_message.empty() ? "worker reported failure" : r.error_message, 4096);
    if (kind == proto::ErrorKind::kCancelled) c.state = "cancelled";
    else if (kind == proto::ErrorKind::kBadInput || kind == proto::ErrorKind::kVramBudget) c.state = "dead";
    else fail_or_retry(lease, c);
    if (foreign && c.state == "retry_wait") c.retry_delay_ms = backoff_delay_ms(1, cfg.retry_backoff, uniform());
  }
  pending_completions.push_back(std::move(c));
}

// Asks a connection that is not registered here to send Register again (at most once a
// second per connection): a worker whose dispatcher restarted re-announces what it holds.
void Dispatcher::Impl::ask_to_register(const std::string& identity, Clock::time_point now) {
  if (reregister_sent.size() > 10000) reregister_sent.clear();
  auto& t = reregister_sent[identity];
  if (t != Clock::time_point{} && now - t < std::chrono::seconds(1)) return;
  t = now;
  send(identity, proto::Reregister{"not registered with dispatcher " + cfg.dispatcher_id});
}

// A worker that failed over from a dead or restarted dispatcher hands back the unstarted jobs that
// dispatcher leased it: no session here holds them. Like results, such hand-backs are applied while
// their epoch is current (the SQL fences by epoch), else the job would wait for the takeover or the
// lease expiry. A job another worker holds here is not this one's to give back.
void Dispatcher::Impl::on_hand_back(WorkerSession& s, const proto::HandBack& h) {
  auto it = s.leases.find(h.job_id);
  const bool held_here = it != s.leases.end() && it->second.epoch == h.epoch;
  if (!held_here && registry.holder(h.job_id)) {
    stats.results_discarded_total++;
    warn_late("discarded hand-back of job ", h.job_id, " epoch ", h.epoch, " from worker ",
              s.caps.worker_id, ": another worker holds it here");
    return;
  }
  if (held_here) registry.drop_lease(s.identity, h.job_id);
  pending_progress.erase(h.job_id);
  pending_handbacks.push_back({h.job_id, h.epoch});
  queue_maybe_ready = true;
}

void Dispatcher::Impl::on_cancel_notify(int64_t job_id) {
  WorkerSession* s = registry.holder(job_id);
  if (!s) return;
  auto it = s->leases.find(job_id);
  if (it == s->leases.end() || it->second.cancel_sent) return;
  send(s->identity, proto::Cancel{job_id, it->second.epoch});
  it->second.cancel_sent = true;
  log::info(kLog, "sent cancel for job ", job_id, " to worker ", s->caps.worker_id);
}

}  // namespace ff::dispatcher
