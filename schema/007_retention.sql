-- 007_retention: finished jobs are deleted after `serve --retention-ms` (7 days unless set), in
-- small batches by any dispatcher (dispatcher/queries.cpp delete_finished_jobs, oldest first
-- through 006's jobs_finished_at_idx), so the hot table and its indexes stay small. Autovacuum
-- reclaims the space of deleted and updated rows early: the table churns (every job is updated
-- several times) and the default threshold, 20% of the table, lets dead rows pile up and slow
-- the claim's index scans.
ALTER TABLE framefarm.jobs SET (
  autovacuum_vacuum_scale_factor = 0.01,
  autovacuum_vacuum_threshold = 1000,
  autovacuum_vacuum_insert_scale_factor = 0.01,
  autovacuum_analyze_scale_factor = 0.01,
  autovacuum_vacuum_cost_delay = 1);
