#include "dispatcher/job_store.hpp"

#include <cstring>

#include "common/job_params.hpp"
#include "common/pg_array.hpp"
#include "dispatcher/queries.hpp"

namespace ff::dispatcher {

bool is_connection_error(const std::exception& e) {
  if (dynamic_cast<const pqxx::broken_connection*>(&e)) return true;
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e)) return true;
  if (auto* s = dynamic_cast<const pqxx::sql_error*>(&e)) {
    const std::string& st = s->sqlstate();
    // 08: connection exception; 57P0x: admin/crash shutdown, cannot connect now.
    if (st.rfind("08", 0) == 0 || st.rfind("57P", 0) == 0) return true;
    // 57014: statement cancelled (statement_timeout: a lock or a stuck server); 40001/40P01:
    // serialization failure/deadlock; 55P03: lock not available. The statement had no effect:
    // keep what is buffered, reconnect and retry.
    if (st == "57014" || st == "40001" || st == "40P01" || st == "55P03") return true;
    if (st.empty()) return true;  // libpq-side failure without a server error
  }
  return false;
}

struct JobStore::Listener : pqxx::notification_receiver {
  Listener(pqxx::connection_base& c, const std::string& channel,
           std::function<void(const std::string&)> cb)
      : pqxx::notification_receiver(c, channel), cb_(std::move(cb)) {}
  void operator()(const std::string& payload, int) override { cb_(payload); }
  std::function<void(const std::string&)> cb_;
};

JobStore::JobStore(const std::string& url, std::function<void()> on_jobs,
                   std::function<void(int64_t)> on_cancel) {
  conn_ = std::make_unique<pqxx::connection>(url);
  // The queue's statements touch batches of rows by key (see queries.cpp "Plans"). With stale
  // statistics on a fast-changing table, and arrays whose length the planner cannot see, it may
  // otherwise choose a bitmap scan + sort over the whole ready set for the claim, a hash join
  // over the whole table, or a nested loop that rescans the array per row (quadratic: seen
  // with stale statistics claiming no job is in flight). Generic plans (array length unknown,
  // estimated small) always drive from the array into jobs_pkey, and skip per-call planning.
  {
    pqxx::nontransaction tx(*conn_);
    tx.exec("SET enable_bitmapscan = off; SET enable_hashjoin = off; SET enable_mergejoin = off;"
            " SET enable_seqscan = off; SET plan_cache_mode = force_generic_plan");
  }
  sql::prepare_all(*conn_);
  jobs_listener_ = std::make_unique<Listener>(*conn_, "framefarm_jobs",
                                              [cb = std::move(on_jobs)](const std::string&) { cb(); });
  cancel_listener_ = std::make_unique<Listener>(
      *conn_, "framefarm_cancel", [cb = std::move(on_cancel)](const std::string& p) {
        try {
          cb(std::stoll(p));
        } catch (const std::exception&) {
        }
      });
}

JobStore::~JobStore() {
  // Listeners unregister from the connection; on a dead connection that may throw.
  try {
    jobs_listener_.reset();
    cancel_listener_.reset();
  } catch (...) {
  }
  try {
    conn_.reset();
  } catch (...) {
  }
}

int JobStore::socket() const { return conn_->sock(); }

void JobStore::poll_notifications() { conn_->get_notifs(); }

std::vector<ClaimedJob> JobStore::claim(const std::string& owner, int64_t limit,
                                        const std::vector<std::string>& models, int64_t lease_ms,
                                        const std::vector<std::string>& fingerprints) {
  pqxx::result r;
  {
    pqxx::nontransaction tx(*conn_);
    r = tx.exec_prepared(sql::kClaimJobs, owner, limit, pg::text_array(models), lease_ms,
                         pg::text_array(fingerprints));
  }
  std::vector<ClaimedJob> out;
  std::vector<CompletionRow> bad_params;
  out.reserve(r.size());
  for (const auto& row : r) {
    ClaimedJob c;
    c.job.job_id = row[0].as<int64_t>();
    c.job.epoch = row[1].as<int64_t>();
    c.job.attempt = row[2].as<int32_t>();
    c.max_attempts = row[3].as<int32_t>();
    c.priority = row[4].as<int32_t>();
    c.job.prompt = row[5].as<std::string>();
    c.job.negative_prompt = row[6].as<std::string>();
    c.job.model = row[7].as<std::string>();
    try {
      c.job.params = params::decode(row[8].as<std::string>());
    } catch (const std::invalid_argument& e) {
      // Only rows written around the trigger get here (it validates every INSERT/UPDATE).
      bad_params.push_back({c.job.job_id, c.job.epoch, "dead", std::nullopt, std::nullopt,
                            std::string("bad_input"), std::string(e.what()), 0});
      continue;
    }
    c.job.enqueued_unix_us = row[9].as<int64_t>();
    // text[] as "{a,b}" (fingerprints are plain identifiers; quoted ones are unquoted here).
    std::string arr = row[10].as<std::string>();
    if (arr.size() > 2) {
      std::string cur;
      bool q = false;
      for (size_t i = 1; i + 1 < arr.size(); ++i) {
        char ch = arr[i];
        if (ch == '"') { q = !q; continue; }
        if (ch == '\\' && i + 2 < arr.size()) { cur += arr[++i]; continue; }
        if (ch == ',' && !q) { c.cached_fps.push_back(cur); cur.clear(); continue; }
        cur += ch;
      }
      c.cached_fps.push_back(cur);
    }
    c.deadline_ms = row[11].as<int64_t>();
    out.push_back(std::move(c));
  }
  if (!bad_params.empty()) complete(bad_params);
  return out;
}

namespace {
std::vector<int64_t> ids_of(const pqxx::result& r) {
  std::vector<int64_t> out;
  out.reserve(r.size());
  for (const auto& row : r) out.push_back(row[0].as<int64_t>());
  return out;
}
}  // namespace

std::vector<int64_t> JobStore::mark_running(const std::vector<ProgressRow>& rows) {
  std::vector<int64_t> ids, epochs, steps, totals;
  std::vector<std::string> workers, phases;
  for (const auto& p : rows) {
    ids.push_back(p.job_id);
    epochs.push_back(p.epoch);
    workers.push_back(p.worker_id);
    phases.push_back(p.phase);
    steps.push_back(p.step);
    totals.push_back(p.total_steps);
  }
  pqxx::nontransaction tx(*conn_);
  return ids_of(tx.exec_prepared(sql::kMarkRunning, pg::int_array(ids), pg::int_array(epochs),
                                 pg::text_array(workers), pg::text_array(phases), pg::int_array(steps),
                                 pg::int_array(totals)));
}

std::vector<int64_t> JobStore::complete(const std::vector<CompletionRow>& rows) {
  std::vector<int64_t> ids, epochs, delays;
  std::vector<std::optional<std::string>> states, workers, results, kinds, errors, owners;
  std::string foreign = "{";
  for (const auto& c : rows) {
    owners.push_back(c.owner);
    foreign += foreign.size() > 1 ? (c.foreign ? ",t" : ",f") : (c.foreign ? "t" : "f");
    ids.push_back(c.job_id);
    epochs.push_back(c.epoch);
    states.push_back(c.state);
    workers.push_back(c.worker_id);
    results.push_back(c.result_json);
    kinds.push_back(c.error_kind);
    errors.push_back(c.error);
    delays.push_back(c.retry_delay_ms);
  }
  pqxx::nontransaction tx(*conn_);
  return ids_of(tx.exec_prepared(sql::kCompleteJobs, pg::int_array(ids), pg::int_array(epochs),
                                 pg::text_array(states), pg::text_array(workers), pg::text_array(results),
                                 pg::text_array(kinds), pg::text_array(errors), pg::int_array(delays),
                                 pg::text_array(owners), foreign + "}"));
}

std::vector<int64_t> JobStore::hand_back(const std::vector<LeaseRef>& rows) {
  std::vector<int64_t> ids, epochs;
  std::vector<std::optional<std::string>> owners;
  for (const auto& l : rows) {
    ids.push_back(l.job_id);
    epochs.push_back(l.epoch);
    owners.push_back(l.owner);
  }
  pqxx::nontransaction tx(*conn_);
  return ids_of(tx.exec_prepared(sql::kHandBackJobs, pg::int_array(ids), pg::int_array(epochs), pg::text_array(owners)));
}

std::vector<AdoptedLease> JobStore::adopt(const std::string& owner, int64_t lease_ms,
                                          const std::vector<LeaseRef>& rows) {
  std::vector<int64_t> ids, epochs;
  for (const auto& l : rows) {
    ids.push_back(l.job_id);
    epochs.push_back(l.epoch);
  }
  pqxx::nontransaction tx(*conn_);
  auto r = tx.exec_prepared(sql::kAdoptLeases, owner, lease_ms, pg::int_array(ids), pg::int_array(epochs));
  std::vector<AdoptedLease> out;
  for (const auto& row : r)
    out.push_back({row[0].as<int64_t>(), row[1].as<int64_t>(), row[2].as<int32_t>(), row[3].as<int32_t>(),
                   row[4].as<std::string>() == "running", row[5].as<int64_t>()});
  return out;
}

std::vector<int64_t> JobStore::renew(const std::string& owner, int64_t lease_ms,
                                     const std::vector<LeaseRef>& rows) {
  std::vector<int64_t> ids, epochs;
  for (const auto& l : rows) {
    ids.push_back(l.job_id);
    epochs.push_back(l.epoch);
  }
  pqxx::nontransaction tx(*conn_);
  return ids_of(tx.exec_prepared(sql::kRenewLeases, owner, lease_ms, pg::int_array(ids),
                                 pg::int_array(epochs)));
}

std::vector<ReapedJob> JobStore::reap_expired(int64_t base_ms, int64_t max_ms) {
  pqxx::nontransaction tx(*conn_);
  auto r = tx.exec_prepared(sql::kReapExpiredLeases, base_ms, max_ms);
  std::vector<ReapedJob> out;
  for (const auto& row : r)
    out.push_back({row[0].as<int64_t>(), row[1].as<std::string>(),
                   row[2].is_null() ? std::string("?") : row[2].as<std::string>()});
  return out;
}

std::vector<int64_t> JobStore::release_orphans(const std::string& owner,
                                               const std::vector<int64_t>& held) {
  pqxx::nontransaction tx(*conn_);
  return ids_of(tx.exec_prepared(sql::kReleaseOrphanLeases, owner, pg::int_array(held)));
}

int64_t JobStore::delete_finished(int64_t age_ms, int64_t batch) {
  pqxx::nontransaction tx(*conn_);
  return static_cast<int64_t>(tx.exec_prepared(sql::kDeleteFinishedJobs, age_ms, batch).size());
}

std::vector<LeaseRef> JobStore::cancel_requested(const std::vector<int64_t>& ids) {
  pqxx::nontransaction tx(*conn_);
  auto r = tx.exec_prepared(sql::kCancelRequestedAmong, pg::int_array(ids));
  std::vector<LeaseRef> out;
  for (const auto& row : r) out.push_back({row[0].as<int64_t>(), row[1].as<int64_t>()});
  return out;
}

void JobStore::upsert_worker(const std::string& dispatcher_id, const WorkerInfo& w) {
  pqxx::nontransaction tx(*conn_);
  tx.exec_prepared(sql::kUpsertWorker, w.worker_id, dispatcher_id, w.gpu_name, w.model,
                   w.vram_total_bytes, w.vram_budget_bytes, w.max_encode_batch,
                   w.encoder_fingerprint, pg::text_array(w.components_resident), w.credit);
}

void JobStore::update_workers(const std::string& dispatcher_id, const std::vector<WorkerRow>& rows) {
  std::vector<std::string> ids;
  std::vector<int64_t> credits, inflight;
  for (const auto& r : rows) {
    ids.push_back(r.worker_id);
    credits.push_back(r.credit);
    inflight.push_back(r.jobs_in_flight);
  }
  pqxx::nontransaction tx(*conn_);
  tx.exec_prepared(sql::kUpdateWorkers, dispatcher_id, pg::text_array(ids), pg::int_array(credits),
                   pg::int_array(inflight));
}

std::vector<TakenOverJob> JobStore::take_over_dead(const std::string& dispatcher_id) {
  pqxx::nontransaction tx(*conn_);
  std::vector<TakenOverJob> out;
  for (const auto& row : tx.exec_prepared(sql::kTakeOverDeadDispatchers, dispatcher_id))
    out.push_back({row[0].as<std::string>(), row[1].as<int64_t>(), row[2].as<std::string>()});
  return out;
}

void JobStore::mark_worker(const std::string& worker_id, const std::string& dispatcher_id,
                           const std::string& status) {
  pqxx::nontransaction tx(*conn_);
  tx.exec_prepared(sql::kMarkWorker, worker_id, dispatcher_id, status);
}

}  // namespace ff::dispatcher
