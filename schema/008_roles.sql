-- 008_roles: least-privilege roles for the two kinds of processes (NOLOGIN groups: grant them
-- to login roles, e.g. CREATE ROLE disp1 LOGIN IN ROLE framefarm_dispatcher).
--
-- framefarm_dispatcher: `framefarm-dispatcher serve` and the operator CLI. Reads and moves jobs
--   through their states (UPDATE), deletes finished ones (retention), takes fencing epochs, keeps
--   framefarm.workers, reads the embedding cache (the claim marks cached jobs) and the params
--   table; as a member of framefarm_submitter it may also submit and cancel. It cannot change
--   the schema, the params table or the cache.
-- framefarm_worker: a worker supervisor's embedding cache (worker/cache/pg_connection.cpp) and
--   nothing else: no access to jobs (prompts included) or workers.
-- framefarm_submitter (001): insert and read jobs, request cancels.
-- Migrations run as the schema's owner.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'framefarm_dispatcher') THEN
    CREATE ROLE framefarm_dispatcher NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'framefarm_worker') THEN
    CREATE ROLE framefarm_worker NOLOGIN;
  END IF;
END $$;
GRANT framefarm_submitter TO framefarm_dispatcher;
GRANT USAGE ON SCHEMA framefarm TO framefarm_dispatcher, framefarm_worker;
GRANT SELECT, UPDATE, DELETE ON framefarm.jobs TO framefarm_dispatcher;
GRANT USAGE, UPDATE ON SEQUENCE framefarm.lease_epoch_seq TO framefarm_dispatcher;
GRANT SELECT, INSERT, UPDATE ON framefarm.workers TO framefarm_dispatcher;
GRANT SELECT ON framefarm.prompt_embeddings, framefarm.job_param_keys TO framefarm_dispatcher;
GRANT SELECT, INSERT, UPDATE, DELETE ON framefarm.prompt_embeddings TO framefarm_worker;
