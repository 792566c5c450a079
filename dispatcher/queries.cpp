#include "dispatcher/queries.hpp"

#include <pqxx/pqxx>

namespace ff::dispatcher::sql {

const char* const kMigrationsBootstrap = R"SQL(
CREATE SCHEMA IF NOT EXISTS framefarm;
CREATE TABLE IF NOT EXISTS framefarm.schema_migrations (
  version    integer PRIMARY KEY,
  name       text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
))SQL";

const char* const kMigrationsLock = "SELECT pg_advisory_xact_lock(7142003)";
const char* const kMigrationApplied =
    "SELECT name FROM framefarm.schema_migrations WHERE version = $1";
const char* const kMigrationRecord =
    "INSERT INTO framefarm.schema_migrations (version, name) VALUES ($1, $2)";

// Heartbeat of this dispatcher ($1 id, $2 dead_after_ms): upserted on its liveness connection
// (liveness_link.hpp) every heartbeat interval. Returns its lock_key, under which that session
// holds a shared advisory lock.
const char* const kDispatcherBeatSql = R"SQL(
INSERT INTO framefarm.dispatchers AS d (dispatcher_id, dead_after_ms) VALUES ($1, $2)
ON CONFLICT (dispatcher_id) DO UPDATE SET heartbeat_at = now(), dead_after_ms = EXCLUDED.dead_after_ms
RETURNING d.lock_key
)SQL";

// Session-level shared lock of a dispatcher's row ($1 lock_key): held while this session lives.
const char* const kDispatcherLockSql = "SELECT pg_advisory_lock_shared(7142009, $1::int)";

namespace {

// Plans: every dispatcher statement touches a batch of rows by key. The batch statements join
// unnest(arrays) to jobs; JobStore pins the plan to "for each array row, probe jobs_pkey" with
// generic plans and no hash/merge joins, bitmap or sequential scans on its own session (a hash
// join would scan the whole table, a nested loop the other way round is quadratic in the batch).

// ---- dispatcher hot path -------------------------------------------------------------------

// queued/retry_wait -> leased. $1 owner (dispatcher id), $2 limit, $3 worker models text[]
// (jobs with model '' match any), $4 lease ms, $5 encoder fingerprints text[] to test the cache.
// Every claim takes a fresh fencing epoch and uses one attempt. Rows come back unordered;
// `id = ANY(ARRAY(...))` keeps the plan on jobs_ready_idx + jobs_pkey (a join would hash the
// whole table once it is large);
// params come back as JSON text, decoded by common/job_params.hpp (defaults for absent keys);
// the last column is the attempt's deadline: the job's deadline_ms, else its model's default
// (framefarm.model_deadlines, migration 010), else 0 = the dispatcher's --job-deadline-ms.
const char* const kClaimJobsSql = R"SQL(
UPDATE framefarm.jobs j
   SET state = 'leased', attempts = j.attempts + 1, lease_owner = $1, lease_worker = NULL,
       lease_epoch = nextval('framefarm.lease_epoch_seq'),
       lease_expires_at = now() + $4 * interval '1 millisecond', leased_at = now(),
       started_at = NULL, phase = NULL, step = NULL, total_steps = NULL
 WHERE j.id = ANY (ARRAY(
   SELECT id FROM framefarm.jobs
    WHERE state IN ('queued', 'retry_wait') AND run_after <= now()
      AND (model = '' OR model = ANY($3::text[]))
    ORDER BY priority DESC, run_after, id
    LIMIT $2
    FOR UPDATE SKIP LOCKED))
RETURNING j.id, j.lease_epoch, j.attempts, j.max_attempts, j.priority, j.prompt,
          j.negative_prompt, j.model,
          j.params::text,
          (extract(epoch FROM j.created_at) * 1000000)::bigint,
          CASE WHEN cardinality($5::text[]) = 0 THEN '{}'::text[] ELSE
          (SELECT coalesce(array_agg(f.fp), '{}') FROM unnest($5::text[]) AS f(fp)
            WHERE EXISTS (SELECT 1 FROM framefarm.prompt_embeddings e
                           WHERE e.encoder_fingerprint = f.fp
                             AND e.prompt_sha256 = sha256(convert_to(j.prompt, 'UTF8')))
              AND EXISTS (SELECT 1 FROM framefarm.prompt_embeddings e
                           WHERE e.encoder_fingerprint = f.fp
                             AND e.prompt_sha256 = sha256(convert_to(j.negative_prompt, 'UTF8'))))
          END,
          coalesce(j.deadline_ms,
                   (SELECT m.deadline_ms FROM framefarm.model_deadlines m WHERE m.model = j.model), 0)
)SQL";

// leased/running -> running, under the fencing epoch. Arrays: ids, epochs, workers, phases,
// steps, totals (one row per job). Returns the rows that applied.
const char* const kMarkRunningSql = R"SQL(
UPDATE framefarm.jobs j
   SET state = 'running', started_at = coalesce(j.started_at, now()), lease_worker = p.worker,
       phase = p.phase, step = p.step, total_steps = p.total
  FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::int[], $6::int[])
       AS p(id, epoch, worker, phase, step, total)
 WHERE j.id = p.id AND j.lease_epoch = p.epoch AND j.state IN ('leased', 'running')
RETURNING j.id
)SQL";

// leased/running -> succeeded | retry_wait | dead | cancelled, under the fencing epoch.
// Arrays: ids, epochs, target states, workers, result json (text), error kinds, errors, retry
// delays ms (-1: keep run_after, i.e. no backoff and the job's old place in the claim order: a
// worker lost while running it), owners (NULL: a worker's report, applies under any owner; else
// the dispatcher's own decision, applies only while it still owns the lease), foreign flags (a
// worker's report for a lease its session does not hold: applies only if lease_worker is that
// worker). A retry at max_attempts becomes dead (the row may not know the attempt count). A cancel request turns a retry into cancelled. Returns the rows
// that applied.
const char* const kCompleteJobsSql = R"SQL(
UPDATE framefarm.jobs j
   SET state = CASE WHEN c.state = 'retry_wait' AND j.cancel_requested
                    THEN 'cancelled'::framefarm.job_state
                    WHEN c.state = 'retry_wait' AND j.attempts >= j.max_attempts
                    THEN 'dead'::framefarm.job_state ELSE c.state END,
       lease_worker = coalesce(c.worker, j.lease_worker), result = c.result::jsonb,
       error_kind = c.ekind, error = c.err, lease_owner = NULL, lease_expires_at = NULL,
       run_after = CASE WHEN c.state = 'retry_wait' AND c.delay_ms >= 0
                        THEN now() + c.delay_ms * interval '1 millisecond' ELSE j.run_after END,
       finished_at = CASE WHEN c.state = 'retry_wait' AND NOT j.cancel_requested
                               AND j.attempts < j.max_attempts THEN NULL
                          ELSE now() END
  FROM unnest($1::bigint[], $2::bigint[], $3::framefarm.job_state[], $4::text[], $5::text[],
              $6::text[], $7::text[], $8::bigint[], $9::text[], $10::boolean[])
       AS c(id, epoch, state, worker, result, ekind, err, delay_ms, owner, foreign_)
 WHERE j.id = c.id AND j.lease_epoch = c.epoch AND j.state IN ('leased', 'running')
   AND (c.owner IS NULL OR j.lease_owner = c.owner)
   AND (NOT c.foreign_ OR j.lease_worker = c.worker)
RETURNING j.id, j.state::text
)SQL";

// leased/running -> queued without using an attempt (worker HandBack, SIGTERM, unassignable
// claims, failed sends, lost workers' unstarted jobs), or cancelled when a cancel was requested.
// Arrays: ids, epochs, owners (NULL = any, as complete_jobs). Wakes dispatchers.
const char* const kHandBackJobsSql = R"SQL(
WITH h AS (
  UPDATE framefarm.jobs j
     SET state = CASE WHEN j.cancel_requested THEN 'cancelled'::framefarm.job_state
                      ELSE 'queued'::framefarm.job_state END,
         attempts = greatest(j.attempts - 1, 0), lease_owner = NULL, lease_worker = NULL,
         lease_expires_at = NULL, started_at = NULL, phase = NULL, step = NULL,
         total_steps = NULL,
         finished_at = CASE WHEN j.cancel_requested THEN now() END,
         error_kind = CASE WHEN j.cancel_requested THEN 'cancelled' END
    FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS h(id, epoch, owner)
   WHERE j.id = h.id AND j.lease_epoch = h.epoch AND j.state IN ('leased', 'running')
     AND (h.owner IS NULL OR j.lease_owner = h.owner)
  RETURNING j.id)
SELECT h.id, pg_notify('framefarm_jobs', '') FROM h
)SQL";

// A re-registering worker's held jobs whose epoch is still current become this dispatcher's
// (the one that leased them may have died or restarted). $1 owner, $2 lease ms, $3 ids,
// $4 epochs. Returns id, epoch, attempts, max_attempts, state, deadline_ms (as claim_jobs).
const char* const kAdoptLeasesSql = R"SQL(
UPDATE framefarm.jobs j
   SET lease_owner = $1, lease_expires_at = now() + $2 * interval '1 millisecond'
  FROM unnest($3::bigint[], $4::bigint[]) AS a(id, epoch)
 WHERE j.id = a.id AND j.lease_epoch = a.epoch AND j.state IN ('leased', 'running')
RETURNING j.id, j.lease_epoch, j.attempts, j.max_attempts, j.state::text,
          coalesce(j.deadline_ms,
                   (SELECT m.deadline_ms FROM framefarm.model_deadlines m WHERE m.model = j.model), 0)
)SQL";

// Extends the leases of jobs this dispatcher still holds for live workers. $1 owner, $2 lease
// ms, $3 ids, $4 epochs.
const char* const kRenewLeasesSql = R"SQL(
UPDATE framefarm.jobs j SET lease_expires_at = now() + $2 * interval '1 millisecond'
  FROM unnest($3::bigint[], $4::bigint[]) AS r(id, epoch)
 WHERE j.id = r.id AND j.lease_epoch = r.epoch AND j.lease_owner = $1
   AND j.state IN ('leased', 'running')
RETURNING j.id
)SQL";

// Any dispatcher: leased/running with an expired lease (its dispatcher died or lost the DB) ->
// retry_wait with exponential backoff and jitter, dead at max_attempts, cancelled if requested.
// $1 backoff base ms, $2 backoff max ms. Returns id, new state, old owner.
const char* const kReapExpiredLeasesSql = R"SQL(
WITH x AS (
  SELECT id, lease_owner FROM framefarm.jobs
   WHERE state IN ('leased', 'running') AND lease_expires_at < now()
   ORDER BY lease_expires_at LIMIT 1000
   FOR UPDATE SKIP LOCKED)
UPDATE framefarm.jobs j
   SET state = CASE WHEN j.cancel_requested THEN 'cancelled'::framefarm.job_state
                    WHEN j.attempts >= j.max_attempts THEN 'dead'::framefarm.job_state
                    ELSE 'retry_wait'::framefarm.job_state END,
       run_after = now() + (least($2::float8, $1::float8 * power(2, greatest(j.attempts - 1, 0)))
                            * (0.5 + 0.5 * random())) * interval '1 millisecond',
       error_kind = 'lease_expired',
       error = 'lease held by dispatcher ' || coalesce(j.lease_owner, '?') || ' expired',
       finished_at = CASE WHEN j.cancel_requested OR j.attempts >= j.max_attempts THEN now() END,
       lease_owner = NULL, lease_expires_at = NULL
  FROM x WHERE j.id = x.id
RETURNING j.id, j.state::text, x.lease_owner
)SQL";

// After a reconnect: leases of this dispatcher ($1) that it does not know about (the claim's
// reply was lost with the connection, so they were never sent) -> queued, attempt given back.
// $2 epochs it does hold.
const char* const kReleaseOrphanLeasesSql = R"SQL(
WITH h AS (
  UPDATE framefarm.jobs j
     SET state = CASE WHEN j.cancel_requested THEN 'cancelled'::framefarm.job_state
                      ELSE 'queued'::framefarm.job_state END,
         attempts = greatest(j.attempts - 1, 0), lease_owner = NULL, lease_worker = NULL,
         lease_expires_at = NULL, started_at = NULL,
         finished_at = CASE WHEN j.cancel_requested THEN now() END
   WHERE j.lease_owner = $1 AND j.state IN ('leased', 'running')
     AND NOT (j.lease_epoch = ANY($2::bigint[]))
  RETURNING j.id)
SELECT h.id, pg_notify('framefarm_jobs', '') FROM h
)SQL";

// Retention: deletes up to $2 terminal jobs finished more than $1 ms ago, oldest first (any
// dispatcher; SKIP LOCKED lets several run it at once). Returns the ids deleted.
const char* const kDeleteFinishedJobsSql = R"SQL(
WITH d AS (
  SELECT id FROM framefarm.jobs
   WHERE state IN ('succeeded', 'dead', 'cancelled')
     AND finished_at < now() - $1 * interval '1 millisecond'
   ORDER BY finished_at LIMIT $2
   FOR UPDATE SKIP LOCKED)
DELETE FROM framefarm.jobs j USING d WHERE j.id = d.id RETURNING j.id
)SQL";

// Which of the given in-flight jobs have a cancel request. $1 ids.
const char* const kCancelRequestedAmongSql = R"SQL(
SELECT id, lease_epoch FROM framefarm.jobs
 WHERE id = ANY($1::bigint[]) AND cancel_requested AND state IN ('leased', 'running')
)SQL";

// ---- workers table --------------------------------------------------------------------------

const char* const kUpsertWorkerSql = R"SQL(
INSERT INTO framefarm.workers AS w (worker_id, dispatcher_id, status, gpu_name, model,
    vram_total_bytes, vram_budget_bytes, max_encode_batch, encoder_fingerprint,
    components_resident, credit, jobs_in_flight, registered_at, last_seen_at)
VALUES ($1, $2, 'alive', $3, $4, $5, $6, $7, $8, $9::text[], $10, 0, now(), now())
ON CONFLICT (worker_id) DO UPDATE SET dispatcher_id = EXCLUDED.dispatcher_id, status = 'alive',
    gpu_name = EXCLUDED.gpu_name, model = EXCLUDED.model,
    vram_total_bytes = EXCLUDED.vram_total_bytes, vram_budget_bytes = EXCLUDED.vram_budget_bytes,
    max_encode_batch = EXCLUDED.max_encode_batch,
    encoder_fingerprint = EXCLUDED.encoder_fingerprint,
    components_resident = EXCLUDED.components_resident, credit = EXCLUDED.credit,
    jobs_in_flight = 0, registered_at = now(), last_seen_at = now()
)SQL";

// Heartbeat rows: $1 dispatcher id, $2 worker ids, $3 credits, $4 jobs in flight.
const char* const kUpdateWorkersSql = R"SQL(
UPDATE framefarm.workers w SET last_seen_at = now(), credit = u.credit,
       jobs_in_flight = u.inflight, status = 'alive'
  FROM unnest($2::text[], $3::int[], $4::int[]) AS u(id, credit, inflight)
 WHERE w.worker_id = u.id AND w.dispatcher_id = $1
)SQL";

// $1 worker id, $2 dispatcher id, $3 status ('dead' | 'gone').
const char* const kMarkWorkerSql = R"SQL(
UPDATE framefarm.workers SET status = $3, jobs_in_flight = 0, credit = 0
 WHERE worker_id = $1 AND dispatcher_id = $2
)SQL";

// ---- dispatchers table (009) ----------------------------------------------------------------


// Releases the leases of dispatchers that are dead (stale heartbeat and no session): see
// schema/009_dispatchers.sql. $1 this dispatcher's id. Returns dead id, job id, new state.
const char* const kTakeOverDeadDispatchersSql =
    "SELECT dead_dispatcher, job_id, new_state::text FROM framefarm.take_over_dead_dispatchers($1)";

// ---- CLI ------------------------------------------------------------------------------------

// Insert one job. $1 prompt, $2 negative (NULL = framefarm.default_negative_prompt()), $3 model, $4 params json, $5 priority,
// $6 idempotency key (NULL = none), $7 max attempts, $8 delay ms. No row when the key exists.
const char* const kSubmitJobSql = R"SQL(
INSERT INTO framefarm.jobs (prompt, negative_prompt, model, params, priority, idempotency_key,
                            max_attempts, run_after)
VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, now() + $8 * interval '1 millisecond')
ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING id
)SQL";

const char* const kJobByIdempotencyKeySql =
    "SELECT id FROM framefarm.jobs WHERE idempotency_key = $1";

const char* const kJobColumns = R"SQL(
  id, state::text, priority, prompt, negative_prompt, model, params::text, idempotency_key,
  attempts, max_attempts, run_after::text, lease_owner, lease_worker, lease_epoch,
  lease_expires_at::text, cancel_requested, phase, step, total_steps, created_at::text,
  leased_at::text, started_at::text, finished_at::text, error_kind, error, result::text
)SQL";

// Cancel (queued/retry_wait at once; leased/running via the dispatcher): see request_cancel().
const char* const kCancelJobSql = "SELECT framefarm.request_cancel($1)::text AS state";

// dead/cancelled/retry_wait -> queued with attempts reset. $1 id. Returns the state before and
// whether it was requeued (no row: no such job).
const char* const kRetryJobSql = R"SQL(
WITH old AS (SELECT id, state FROM framefarm.jobs WHERE id = $1 FOR UPDATE),
u AS (
  UPDATE framefarm.jobs j
     SET state = 'queued', attempts = 0, run_after = now(), cancel_requested = false,
         error = NULL, error_kind = NULL, result = NULL, finished_at = NULL, started_at = NULL,
         lease_owner = NULL, lease_worker = NULL, lease_expires_at = NULL, phase = NULL,
         step = NULL, total_steps = NULL
    FROM old WHERE j.id = old.id AND old.state IN ('dead', 'cancelled', 'retry_wait')
  RETURNING j.id)
SELECT old.state::text AS previous_state, EXISTS (SELECT 1 FROM u) AS requeued,
       pg_notify('framefarm_jobs', '') FROM old
)SQL";

const char* const kListWorkersSql = R"SQL(
SELECT worker_id, dispatcher_id, status, gpu_name, model, vram_total_bytes, vram_budget_bytes,
       max_encode_batch, encoder_fingerprint,
       array_to_string(components_resident, ',') AS components_resident, credit,
       jobs_in_flight, registered_at::text, last_seen_at::text,
       (extract(epoch FROM now() - last_seen_at) * 1000)::bigint AS last_seen_ms_ago
  FROM framefarm.workers WHERE $1 OR status = 'alive' ORDER BY worker_id
)SQL";

}  // namespace

void prepare_all(pqxx::connection& conn) {
  conn.prepare(kClaimJobs, kClaimJobsSql);
  conn.prepare(kMarkRunning, kMarkRunningSql);
  conn.prepare(kCompleteJobs, kCompleteJobsSql);
  conn.prepare(kHandBackJobs, kHandBackJobsSql);
  conn.prepare(kAdoptLeases, kAdoptLeasesSql);
  conn.prepare(kDeleteFinishedJobs, kDeleteFinishedJobsSql);
  conn.prepare(kRenewLeases, kRenewLeasesSql);
  conn.prepare(kReapExpiredLeases, kReapExpiredLeasesSql);
  conn.prepare(kReleaseOrphanLeases, kReleaseOrphanLeasesSql);
  conn.prepare(kCancelRequestedAmong, kCancelRequestedAmongSql);
  conn.prepare(kUpsertWorker, kUpsertWorkerSql);
  conn.prepare(kUpdateWorkers, kUpdateWorkersSql);
  conn.prepare(kMarkWorker, kMarkWorkerSql);
  conn.prepare(kTakeOverDeadDispatchers, kTakeOverDeadDispatchersSql);
  conn.prepare(kSubmitJob, kSubmitJobSql);
  conn.prepare(kJobByIdempotencyKey, kJobByIdempotencyKeySql);
  conn.prepare(kJobStatus, std::string("SELECT ") + kJobColumns + " FROM framefarm.jobs WHERE id = $1");
  // $1 state filter (NULL = all), $2 limit.
  conn.prepare(kListJobs, std::string("SELECT ") + kJobColumns +
                              " FROM framefarm.jobs WHERE $1::text IS NULL OR state::text = $1"
                              " ORDER BY id DESC LIMIT $2");
  conn.prepare(kCancelJob, kCancelJobSql);
  conn.prepare(kRetryJob, kRetryJobSql);
  conn.prepare(kListWorkers, kListWorkersSql);
}

}  // namespace ff::dispatcher::sql
