-- 006_metrics_finished_idx: the dispatcher's metrics refresh (dispatcher/metrics.cpp) reads the
-- jobs that finished since its previous refresh every few seconds; this index makes that a range
-- scan over the latest few rows instead of a scan of the whole job history. Partial: jobs not yet
-- finished are not in it.
CREATE INDEX jobs_finished_at_idx ON framefarm.jobs (finished_at)
  WHERE finished_at IS NOT NULL;
