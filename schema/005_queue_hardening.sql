-- 005_queue_hardening: per-job deadlines (issue 10).
--
-- deadline_ms: how long one attempt of the job may run on a worker, from the moment the
-- dispatcher sends it. Past it the dispatcher tells the worker to cancel the job and records the
-- attempt as failed with error_kind 'deadline_exceeded' (retried while attempts remain, else
-- dead). NULL = the dispatcher's default (`serve --job-deadline-ms`, 4 h unless set).
-- Checked at INSERT: 100 ms .. 30 days.
ALTER TABLE framefarm.jobs ADD COLUMN deadline_ms bigint
  CONSTRAINT jobs_deadline_ms_100_ms_to_30_days
  CHECK (deadline_ms IS NULL OR deadline_ms BETWEEN 100 AND 2592000000);
COMMENT ON COLUMN framefarm.jobs.deadline_ms IS
  'longest run of one attempt in ms (NULL = the dispatcher''s --job-deadline-ms)';
GRANT INSERT (deadline_ms) ON framefarm.jobs TO framefarm_submitter;
