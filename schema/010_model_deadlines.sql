-- 010_model_deadlines: a default deadline per model (issue 10), overridable per job.
--
-- The deadline of one attempt of a job (how long it may run on a worker, from the moment the
-- dispatcher sends it; past it the worker is told to cancel and the attempt fails with
-- deadline_exceeded) is, in order:
--   1. jobs.deadline_ms, when the job sets it (005);
--   2. framefarm.model_deadlines.deadline_ms of the job's model column (a row for model '' covers
--      jobs that run on any worker);
--   3. the dispatcher's `serve --job-deadline-ms` (4 h unless set; 0 = none).
-- The claim (and the adoption of a re-announced lease) reads 1 and 2 at the time the attempt
-- starts, so a changed model default applies to every attempt that starts after the change.
-- Set with plain SQL, e.g.
--   INSERT INTO framefarm.model_deadlines (model, deadline_ms) VALUES ('ltx-2.3', 1800000)
--     ON CONFLICT (model) DO UPDATE SET deadline_ms = EXCLUDED.deadline_ms;
-- Both values are validated when written (100 ms .. 30 days), with a message naming the value.
CREATE TABLE framefarm.model_deadlines (
  model       text PRIMARY KEY CHECK (octet_length(model) <= 200),
  deadline_ms bigint NOT NULL
    CONSTRAINT model_deadlines_deadline_ms_100_ms_to_30_days
    CHECK (deadline_ms BETWEEN 100 AND 2592000000)
);
COMMENT ON TABLE framefarm.model_deadlines IS
  'default deadline of one attempt per jobs.model (jobs.deadline_ms overrides it; else serve --job-deadline-ms)';

-- Readable refusals (the CHECK constraints are the backstop).
CREATE FUNCTION framefarm.validate_deadline() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.deadline_ms IS NOT NULL AND (NEW.deadline_ms < 100 OR NEW.deadline_ms > 2592000000) THEN
    IF TG_TABLE_NAME = 'jobs' THEN
      RAISE EXCEPTION 'framefarm.jobs: deadline_ms = % is out of range [100, 2592000000] (100 ms .. 30 days); NULL = the model''s default (framefarm.model_deadlines), else the dispatcher''s --job-deadline-ms',
        NEW.deadline_ms USING ERRCODE = 'check_violation';
    END IF;
    RAISE EXCEPTION 'framefarm.model_deadlines: deadline_ms = % for model "%" is out of range [100, 2592000000] (100 ms .. 30 days)',
      NEW.deadline_ms, NEW.model USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER jobs_validate_deadline BEFORE INSERT OR UPDATE OF deadline_ms ON framefarm.jobs
  FOR EACH ROW EXECUTE FUNCTION framefarm.validate_deadline();
CREATE TRIGGER model_deadlines_validate BEFORE INSERT OR UPDATE ON framefarm.model_deadlines
  FOR EACH ROW EXECUTE FUNCTION framefarm.validate_deadline();

-- The operator (framefarm_dispatcher covers the CLI) sets them; submitters may read them.
GRANT SELECT, INSERT, UPDATE, DELETE ON framefarm.model_deadlines TO framefarm_dispatcher;
GRANT SELECT ON framefarm.model_deadlines TO framefarm_submitter;
