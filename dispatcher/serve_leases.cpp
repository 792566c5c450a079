// The serve loop's timers and the outcomes of lost leases (state and threads: serve_state.hpp;
// loop thread only).
//
// Contract: a worker is dead when the LINK thread has not heard from it for heartbeat_misses_dead
// intervals (its stamps, not this thread's reads: time this thread spent blocked on SQL is not
// held against workers). Outcomes this dispatcher decides itself (worker lost, deadline) carry
// its id as the owner and apply only while it still owns the lease. A lost worker's unstarted
// jobs go back without an attempt; started ones retry without backoff in their old place.
// Leases of live sessions are renewed every lease_timeout_ms/3; any dispatcher reaps expired ones.
#include <algorithm>
#include <map>
#include <set>

#include "dispatcher/backoff.hpp"
#include "dispatcher/serve_state.hpp"

namespace ff::dispatcher {

using namespace serve_detail;

void Dispatcher::Impl::on_timers(Clock::time_point now) {
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
    beat_dispatcher(now);
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
    std::vector<int64_t> renewed;
    if (!held.empty() &&
        with_db([&](JobStore& d) { renewed = d.renew(cfg.dispatcher_id, cfg.lease_timeout_ms, held); }))
      drop_lost_leases(held, renewed);
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
    take_over_dead_dispatchers(now);
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

// Fills state/delay of a failed attempt: retry_wait with backoff, or dead at max_attempts.
void Dispatcher::Impl::fail_or_retry(const Lease& lease, CompletionRow& c) {
  if (lease.attempts >= lease.max_attempts) {
    c.state = "dead";
    c.error = c.error.value_or("") + " (attempt " + std::to_string(lease.attempts) + " of " +
              std::to_string(lease.max_attempts) + ")";
  } else {
    c.state = "retry_wait";
    c.retry_delay_ms = backoff_delay_ms(lease.attempts, cfg.retry_backoff, uniform());
  }
}

// A lost session (dead, replaced by a new connection, left, or this dispatcher stopping). Jobs it
// never started go back at once without using an attempt. Started ones failed through no
// fault of their own: retried without backoff and in their old place in the queue (run_after
// unchanged), or dead at max_attempts.
void Dispatcher::Impl::requeue_failed(const WorkerSession& s, const std::string& reason) {
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
void Dispatcher::Impl::release_session(const WorkerSession& s, const std::string& reason, const std::string& status) {
  requeue_failed(s, reason);
  pending_worker_marks.push_back({s.caps.worker_id, status});
  queue_maybe_ready = true;
}

// Attempts past their deadline: the worker is told to cancel, the attempt fails with
// deadline_exceeded (retried while attempts remain, else dead). The worker's own late result
// for that epoch is then discarded; its slot comes back with its Credit once it stopped.
void Dispatcher::Impl::expire_deadlines(Clock::time_point now) {
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

// ---- dispatcher liveness in the database (schema/009_dispatchers.sql)

// One interval more than a worker waits before it presumes this dispatcher dead and registers
// with the next one (worker/dispatcher_session.hpp): a failing-over worker announces its running
// jobs to a live dispatcher, which adopts their leases, before any dispatcher takes them over,
// so they keep running instead of running again.
int64_t Dispatcher::Impl::dead_after_ms() const {
  return std::clamp<int64_t>(cfg.heartbeat_interval_ms * (cfg.heartbeat_misses_dead + 2), 100, 3600000);
}

// This dispatcher's row: heartbeat_at = now, and its session's shared lock (taken once per
// connection). A beat later than two intervals means this loop was held up (a table lock, a
// stall of the database or of this process); the others may have been held up just the same and
// not beaten either, so it judges nobody for one dead limit, long enough for them to beat again.
// (A lost connection pushes judging back further: see try_connect.)
void Dispatcher::Impl::beat_dispatcher(Clock::time_point now) {
  if (!beat_or_disable()) return;
  const auto late = std::chrono::milliseconds(2 * cfg.heartbeat_interval_ms);
  if (!db_beat_ok_at || now - *db_beat_ok_at > late) {
    const auto until = now + std::chrono::milliseconds(dead_after_ms());
    judge_after = judge_after ? std::max(*judge_after, until) : until;
  }
  db_beat_ok_at = now;
}

// Releases the leases of dispatchers that are dead (heartbeat older than their dead_after_ms and
// no database session): unstarted jobs back to queued unused, started ones retried at once.
// Not before judge_after: after this dispatcher (re)connected, dead_after + the reconnect
// backoff's cap (a database restart drops every session and each dispatcher reconnects on its own
// schedule: none may be robbed for being slower than this one); after a late beat of its own,
// dead_after (whatever held this loop up may have held the others up too).
void Dispatcher::Impl::take_over_dead_dispatchers(Clock::time_point now) {
  if (!db || liveness_off || !judge_after || now < *judge_after) return;
  std::vector<TakenOverJob> taken;
  if (!with_db([&](JobStore& d) { taken = d.take_over_dead(cfg.dispatcher_id); }) || taken.empty()) return;
  std::map<std::string, std::map<std::string, int>> by;  // dead dispatcher -> new state -> jobs
  for (const auto& t : taken) {
    by[t.dead_dispatcher][t.state]++;
    if (t.state == "retry_wait" || t.state == "dead") stats.attempts_failed.add("dispatcher_lost");
  }
  for (const auto& [dead, states] : by) {
    std::string summary;
    for (const auto& [state, n] : states) summary += " " + state + "=" + std::to_string(n);
    log::warn(kLog, "dispatcher ", dead, " is dead (no heartbeat for over its limit and no database session):",
              " took over its leases:", summary);
  }
  stats.leases_taken_over_total += static_cast<int64_t>(taken.size());
  queue_maybe_ready = true;
}

// After renew_leases: leases this dispatcher still tracks that the database no longer gives it
// (another dispatcher took them over, or reaped them while this one could not renew). The worker
// is told to stop; whatever it reports for that epoch is fenced out anyway.
void Dispatcher::Impl::drop_lost_leases(const std::vector<LeaseRef>& held, const std::vector<int64_t>& renewed) {
  if (renewed.size() == held.size()) return;
  std::set<int64_t> ok(renewed.begin(), renewed.end());
  for (const auto& l : held) {
    if (ok.count(l.job_id)) continue;
    WorkerSession* s = registry.holder(l.job_id);
    if (!s) continue;
    auto it = s->leases.find(l.job_id);
    if (it == s->leases.end() || it->second.epoch != l.epoch) continue;
    log::warn(kLog, "job ", l.job_id, " epoch ", l.epoch, ": lease no longer ours (taken over or expired);",
              " telling worker ", s->caps.worker_id, " to stop it");
    send(s->identity, proto::Cancel{l.job_id, l.epoch});
    registry.drop_lease(s->identity, l.job_id);
    pending_progress.erase(l.job_id);
  }
}

}  // namespace ff::dispatcher
