// Every SQL statement of the dispatcher and its CLI, named, in one place. State transitions of
// framefarm.jobs happen only through the statements below (see README "Job states").
// Prepared statements are registered on a connection by prepare_all().
#pragma once

#include <pqxx/connection>

namespace ff::dispatcher::sql {

// ---- migrations (migrate.cpp)
extern const char* const kMigrationsBootstrap;  // create framefarm schema + schema_migrations
extern const char* const kMigrationsLock;       // transaction-level advisory lock
extern const char* const kMigrationApplied;     // $1 version -> name
extern const char* const kMigrationRecord;      // $1 version, $2 name

// Registers the prepared statements below on `conn` (names = the constants' names in
// snake_case, e.g. "claim_jobs"). Call once per (re)connection, from the owning thread.
void prepare_all(pqxx::connection& conn);

// ---- prepared statement names (dispatcher hot path and CLI); the SQL text and the meaning of
// each parameter are documented next to it in queries.cpp.
// Transitions: claim_jobs (queued|retry_wait -> leased), mark_running (leased -> running),
// complete_jobs (leased|running -> succeeded|retry_wait|dead|cancelled), hand_back_jobs and
// release_orphan_leases (leased|running -> queued, attempt given back), reap_expired_leases
// (leased|running -> retry_wait|dead|cancelled), cancel_job (queued|retry_wait -> cancelled, or
// cancel_requested), retry_job (dead|cancelled|retry_wait -> queued).
inline constexpr const char* kClaimJobs = "claim_jobs";
inline constexpr const char* kMarkRunning = "mark_running";
inline constexpr const char* kCompleteJobs = "complete_jobs";
inline constexpr const char* kHandBackJobs = "hand_back_jobs";
inline constexpr const char* kAdoptLeases = "adopt_leases";
inline constexpr const char* kDeleteFinishedJobs = "delete_finished_jobs";
inline constexpr const char* kRenewLeases = "renew_leases";
inline constexpr const char* kReapExpiredLeases = "reap_expired_leases";
inline constexpr const char* kReleaseOrphanLeases = "release_orphan_leases";
inline constexpr const char* kCancelRequestedAmong = "cancel_requested_among";
inline constexpr const char* kUpsertWorker = "upsert_worker";
inline constexpr const char* kUpdateWorkers = "update_workers";
inline constexpr const char* kMarkWorker = "mark_worker";
// Dispatcher liveness (schema/009): take_over_dead_dispatchers (leased -> queued, running ->
// retry_wait|dead, for dispatchers found dead). The beat and the lock run on the dispatcher's
// liveness connection (liveness_link.hpp), unprepared: kDispatcherBeatSql, kDispatcherLockSql.
extern const char* const kDispatcherBeatSql;  // $1 id, $2 dead_after_ms -> lock_key
extern const char* const kDispatcherLockSql;  // $1 lock_key
inline constexpr const char* kTakeOverDeadDispatchers = "take_over_dead_dispatchers";
inline constexpr const char* kSubmitJob = "submit_job";
inline constexpr const char* kJobByIdempotencyKey = "job_by_idempotency_key";
inline constexpr const char* kJobStatus = "job_status";
inline constexpr const char* kListJobs = "list_jobs";
inline constexpr const char* kCancelJob = "cancel_job";
inline constexpr const char* kRetryJob = "retry_job";
inline constexpr const char* kListWorkers = "list_workers";

}  // namespace ff::dispatcher::sql
