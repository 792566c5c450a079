// The serve loop's database link (state and threads: serve_state.hpp; loop thread only).
//
// Contract: the loop never loses a worker's report to a database problem. Connection loss (or a
// statement cancelled by statement_timeout, a deadlock: is_connection_error) drops `db`; what was
// buffered in pending_* stays buffered; try_connect() reconnects with backoff and flushes it.
// Every buffered effect is fenced in SQL by its lease epoch (and, for outcomes this dispatcher
// decided itself, by lease_owner), so applying it late or twice is harmless. Other SQL errors
// propagate to the loop (logged, turn skipped), except in batch statements, which fall back to
// row-by-row and drop only the rows that fail alone.
#include <algorithm>
#include <set>

#include "dispatcher/backoff.hpp"
#include "dispatcher/job_log.hpp"
#include "dispatcher/serve_state.hpp"

namespace ff::dispatcher {

using namespace serve_detail;

void Dispatcher::Impl::db_lost(const std::exception& e) {
  if (db) log::warn(kLog, "database connection lost: ", e.what(), "; reconnecting with backoff");
  try {
    db.reset();
  } catch (...) {
  }
  db.reset();
  db_beat_ok_at.reset();
  judge_after.reset();
  reconnect_attempt = std::max(reconnect_attempt, 1);
  next_reconnect = Clock::now() + std::chrono::milliseconds(
                                      backoff_delay_ms(reconnect_attempt, cfg.reconnect_backoff, uniform()));
}

// Leases of this dispatcher id that no session here holds -> queued (attempt given back).
// Call right after a successful flush (nothing of ours pending).
void Dispatcher::Impl::release_orphans(const char* why) {
  std::vector<int64_t> held;
  for (auto& [id, s] : registry.sessions())
    for (auto& [job, l] : s.leases) held.push_back(l.epoch);
  with_db([&](JobStore& d) {
    auto released = d.release_orphans(cfg.dispatcher_id, held);
    if (!released.empty()) log::warn(kLog, "released ", released.size(), " lease(s) ", why);
  });
}

bool Dispatcher::Impl::beat_or_disable() {
  if (liveness_off) return false;
  try {
    return liveness.beat(cfg.dispatcher_id, dead_after_ms());
  } catch (const pqxx::sql_error& e) {
    // 42P01 / 42883: the schema predates 009 (framefarm.dispatchers). Serve without database
    // liveness (dead dispatchers' leases then wait for their expiry) rather than not at all.
    if (e.sqlstate() != "42P01" && e.sqlstate() != "42883") throw;
    log::error(kLog, "framefarm.dispatchers is missing (run `framefarm-dispatcher migrate`): ",
               "dispatcher liveness off, a dead dispatcher's leases wait for their expiry");
    liveness_off = true;
    return false;
  }
}

void Dispatcher::Impl::try_connect() {
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
    // This process is alive again for the other dispatchers (row + session lock) before anything else.
    if (beat_or_disable()) {
      // Other dispatchers reconnect on their own backoff schedule (a database restart drops every
      // session): judge nobody before they could be back.
      db_beat_ok_at = Clock::now();
      judge_after = *db_beat_ok_at + std::chrono::milliseconds(dead_after_ms() + cfg.reconnect_backoff.max_ms);
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

// Takes over the leases re-registering workers hold (see on_register). Returns false if the
// connection was lost (the adoptions stay pending).
bool Dispatcher::Impl::adopt_pending() {
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

// Applies buffered progress/completions/hand-backs/worker rows; one statement per kind.
void Dispatcher::Impl::flush() {
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

template <typename Row, typename F>
bool Dispatcher::Impl::apply_rows(const std::vector<Row>& rows, std::vector<int64_t>& applied, F&& f) {
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

}  // namespace ff::dispatcher
