-- 009_dispatchers: dispatcher liveness in the database, so that a dead dispatcher's leases are
-- taken over by another dispatcher after a few missed heartbeats instead of after the lease
-- timeout (issue 10).
--
-- Every serving dispatcher keeps one row (dispatcher/serve_leases.cpp): it upserts it on each
-- connect and every heartbeat interval (heartbeat_at), and holds, for as long as its database
-- session lives, a SHARED advisory lock on (7142009, lock_key). A dispatcher is dead when BOTH
--   - its heartbeat is older than its own dead_after_ms (heartbeat interval x (misses + 2)), and
--   - no session holds its lock: its process is gone (kill -9 closes the connection and the
--     server drops the lock at once), not merely blocked on SQL, SIGSTOPped or cut off from the
--     network for a while (then its session, and its lock, still live on the server; its leases
--     expire as before if it never comes back).
-- framefarm.take_over_dead_dispatchers(me) is run by every live dispatcher each reap interval.
-- For each dead dispatcher it takes the exclusive form of that lock for the transaction (so a
-- dispatcher that comes back, or another observer, waits), then releases its leases fenced by
-- the lease owner: unstarted jobs go back to queued without using an attempt, started ones to
-- retry_wait without backoff in their old place (run_after unchanged; dead at max_attempts),
-- cancelled where a cancel was requested; its workers' rows become 'gone' and its row is deleted.
-- Results its workers still send for those epochs are fenced out (the state is no longer
-- leased/running, or the epoch changed); a worker that re-registered with a live dispatcher
-- first had its leases adopted (adopt_leases moves lease_owner), so they are not touched here.
CREATE TABLE framefarm.dispatchers (
  dispatcher_id  text PRIMARY KEY,
  lock_key       integer GENERATED ALWAYS AS IDENTITY UNIQUE,
  dead_after_ms  bigint NOT NULL CHECK (dead_after_ms BETWEEN 100 AND 3600000),
  started_at     timestamptz NOT NULL DEFAULT now(),
  heartbeat_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE framefarm.dispatchers IS
  'serving dispatchers: heartbeat row + shared advisory lock (7142009, lock_key) per live process';

CREATE FUNCTION framefarm.take_over_dead_dispatchers(me text)
RETURNS TABLE (dead_dispatcher text, job_id bigint, new_state framefarm.job_state)
LANGUAGE plpgsql AS $$
DECLARE
  d record;
BEGIN
  FOR d IN SELECT x.dispatcher_id, x.lock_key FROM framefarm.dispatchers x
            WHERE x.dispatcher_id <> me
              AND x.heartbeat_at < now() - x.dead_after_ms * interval '1 millisecond'
            ORDER BY x.heartbeat_at
            FOR UPDATE SKIP LOCKED
  LOOP
    -- A session still holds its lock: the process lives (blocked, stopped, partitioned).
    CONTINUE WHEN NOT pg_try_advisory_xact_lock(7142009, d.lock_key);
    RETURN QUERY
      WITH r AS (
        UPDATE framefarm.jobs j
           SET state = CASE WHEN j.cancel_requested THEN 'cancelled'::framefarm.job_state
                            WHEN j.state = 'leased' THEN 'queued'::framefarm.job_state
                            WHEN j.attempts >= j.max_attempts THEN 'dead'::framefarm.job_state
                            ELSE 'retry_wait'::framefarm.job_state END,
               attempts = CASE WHEN j.state = 'leased' THEN greatest(j.attempts - 1, 0)
                               ELSE j.attempts END,
               error_kind = CASE WHEN j.cancel_requested THEN 'cancelled'
                                 WHEN j.state = 'leased' THEN j.error_kind
                                 ELSE 'dispatcher_lost' END,
               error = CASE WHEN j.cancel_requested OR j.state = 'leased' THEN j.error
                            ELSE 'dispatcher ' || d.dispatcher_id
                                 || ' stopped heartbeating while the job ran'
                                 || CASE WHEN j.attempts >= j.max_attempts
                                         THEN ' (attempt ' || j.attempts || ' of '
                                              || j.max_attempts || ')' ELSE '' END END,
               finished_at = CASE WHEN j.cancel_requested
                                       OR (j.state = 'running' AND j.attempts >= j.max_attempts)
                                  THEN now() END,
               lease_owner = NULL, lease_expires_at = NULL,
               lease_worker = CASE WHEN j.state = 'leased' THEN NULL ELSE j.lease_worker END,
               started_at = CASE WHEN j.state = 'leased' THEN NULL ELSE j.started_at END
         WHERE j.lease_owner = d.dispatcher_id AND j.state IN ('leased', 'running')
        RETURNING j.id, j.state)
      SELECT d.dispatcher_id, r.id, r.state FROM r;
    UPDATE framefarm.workers w SET status = 'gone', credit = 0, jobs_in_flight = 0
     WHERE w.dispatcher_id = d.dispatcher_id AND w.status = 'alive';
    DELETE FROM framefarm.dispatchers x WHERE x.dispatcher_id = d.dispatcher_id;
    PERFORM pg_notify('framefarm_jobs', '');
  END LOOP;
END $$;

GRANT SELECT, INSERT, UPDATE, DELETE ON framefarm.dispatchers TO framefarm_dispatcher;
GRANT EXECUTE ON FUNCTION framefarm.take_over_dead_dispatchers(text) TO framefarm_dispatcher;
