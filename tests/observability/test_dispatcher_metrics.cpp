// pg: the dispatcher's /metrics (dispatcher/metrics.hpp) against a throwaway cluster: queue depth
// by state and model, oldest claimable job, workers by status, per-job end-to-end latency counted
// once per job, user errors apart; and the real HTTP endpoint with its refresh thread.
#include <doctest/doctest.h>

#include <chrono>
#include <regex>
#include <thread>

#include <pqxx/pqxx>
#include <prometheus/registry.h>

#include "dispatcher/metrics.hpp"
#include "dispatcher/migrate.hpp"
#include "dispatcher/server.hpp"
#include "tests/dispatcher/dispatcher_env.hpp"
#include "tests/observability/http_get.hpp"
#include "tests/support/pg_cluster.hpp"

namespace {

void sql(const std::string& q) {
  pqxx::connection conn(ff::test::migrated_cluster().url());
  pqxx::work tx(conn);
  tx.exec(q);
  tx.commit();
}

// The value of the exposition line starting with `series ` ("name{labels}"), or -1.
double value_of(const std::string& text, const std::string& series) {
  const std::string key = "\n" + series + " ";
  const auto p = ("\n" + text).find(key);
  if (p == std::string::npos) return -1;
  return std::stod(text.substr(p + key.size() - 1));
}

}  // namespace

TEST_CASE("finished_outcome keeps user errors apart from failures") {
  using ff::dispatcher::finished_outcome;
  CHECK(finished_outcome("dead", "bad_input") == "user_error");
  CHECK(finished_outcome("dead", "engine_crash") == "dead");
  CHECK(finished_outcome("dead", "") == "dead");
  CHECK(finished_outcome("cancelled", "cancelled") == "cancelled");
  CHECK(finished_outcome("succeeded", "") == "succeeded");
}

TEST_CASE("refresh: queue by state and model, oldest age, workers, per-job latency once") {
  sql("TRUNCATE framefarm.jobs, framefarm.workers");
  ff::dispatcher::DispatcherStats stats;
  ff::dispatcher::DispatcherMetrics m({"", ff::test::migrated_cluster().url(), 1000}, &stats);
  pqxx::connection conn(ff::test::migrated_cluster().url());

  // Finished before the metrics started: never counted as a finished job.
  sql("INSERT INTO framefarm.jobs (prompt, state, finished_at) VALUES ('old', 'succeeded', now())");
  // No job waiting: every queue state of model=any is there, at 0.
  m.refresh(conn);
  std::string t = m.scrape_text();
  CHECK(value_of(t, "framefarm_queue_jobs{model=\"any\",state=\"queued\"}") == 0);
  CHECK(value_of(t, "framefarm_queue_oldest_job_age_seconds") == 0);
  CHECK(value_of(t, "framefarm_workers{status=\"alive\"}") == 0);

  sql("INSERT INTO framefarm.jobs (prompt, run_after, created_at) VALUES "
      "('a', now() - interval '120 seconds', now() - interval '120 seconds'), ('b', now(), now())");
  sql("INSERT INTO framefarm.jobs (prompt, model, run_after) VALUES ('c', 'ltx-2.3', now() + interval '1 hour')");
  sql("INSERT INTO framefarm.jobs (prompt, state, lease_expires_at) VALUES ('d', 'running', now() + interval '30 seconds')");
  sql("INSERT INTO framefarm.workers (worker_id, dispatcher_id, status) VALUES "
      "('w1', 'd', 'alive'), ('w2', 'd', 'alive'), ('w3', 'd', 'dead')");
  stats.claims_total = 4;
  stats.jobs_sent_total = 3;
  stats.results_discarded_total = 1;
  stats.claim_us_total = 2'500'000;
  stats.deadlines_exceeded_total = 2;
  stats.attempts_failed.add("bad_input");
  stats.attempts_failed.add("engine_crash");
  stats.attempts_failed.add("engine_crash");
  stats.loop_turns_total = 10;
  stats.loop_busy_us_total = 1'500'000;
  stats.loop_busy_us_max = 700'000;
  m.refresh(conn);
  t = m.scrape_text();
  INFO(t);
  CHECK(value_of(t, "framefarm_queue_jobs{model=\"any\",state=\"queued\"}") == 2);
  CHECK(value_of(t, "framefarm_queue_jobs{model=\"ltx-2.3\",state=\"queued\"}") == 1);
  CHECK(value_of(t, "framefarm_queue_jobs{model=\"ltx-2.3\",state=\"running\"}") == 0);
  CHECK(value_of(t, "framefarm_queue_jobs{model=\"any\",state=\"running\"}") == 1);
  // Terminal jobs are not part of the queue (framefarm_jobs_finished_total counts them).
  CHECK(value_of(t, "framefarm_queue_jobs{model=\"any\",state=\"succeeded\"}") == -1);
  // The delayed job (run_after in an hour) is not claimable: the oldest is 'a', ~120 s.
  const double oldest = value_of(t, "framefarm_queue_oldest_job_age_seconds");
  CHECK(oldest >= 119);
  CHECK(oldest < 200);
  CHECK(value_of(t, "framefarm_workers{status=\"alive\"}") == 2);
  CHECK(value_of(t, "framefarm_workers{status=\"dead\"}") == 1);
  CHECK(value_of(t, "framefarm_dispatcher_claims_total") == 4);
  CHECK(value_of(t, "framefarm_dispatcher_jobs_sent_total") == 3);
  CHECK(value_of(t, "framefarm_dispatcher_results_total{result=\"discarded\"}") == 1);
  CHECK(value_of(t, "framefarm_dispatcher_claim_seconds_total") == 2.5);
  CHECK(value_of(t, "framefarm_dispatcher_deadlines_exceeded_total") == 2);
  CHECK(value_of(t, "framefarm_dispatcher_attempts_failed_total{reason=\"bad_input\"}") == 1);
  CHECK(value_of(t, "framefarm_dispatcher_attempts_failed_total{reason=\"engine_crash\"}") == 2);
  CHECK(value_of(t, "framefarm_dispatcher_loop_turns_total") == 10);
  CHECK(value_of(t, "framefarm_dispatcher_loop_busy_seconds_total") == 1.5);
  CHECK(value_of(t, "framefarm_dispatcher_loop_max_turn_seconds") == 0.7);
  CHECK(stats.loop_busy_us_max.load() == 0);  // taken: the next interval starts afresh
  CHECK(value_of(t, "framefarm_jobs_finished_total{outcome=\"succeeded\"}") == 0);

  // Jobs finish: one success after 30 s, one user error, one failure; seen twice, counted once.
  sql("UPDATE framefarm.jobs SET state = 'succeeded', started_at = created_at + interval '10 seconds', "
      "created_at = now() - interval '30 seconds', finished_at = now() WHERE prompt = 'd'");
  sql("UPDATE framefarm.jobs SET state = 'dead', error_kind = 'bad_input', finished_at = now() WHERE prompt = 'b'");
  sql("UPDATE framefarm.jobs SET state = 'dead', error_kind = 'engine_crash', finished_at = now() WHERE prompt = 'a'");
  m.refresh(conn);
  m.refresh(conn);
  t = m.scrape_text();
  CHECK(value_of(t, "framefarm_jobs_finished_total{outcome=\"succeeded\"}") == 1);
  CHECK(value_of(t, "framefarm_jobs_finished_total{outcome=\"user_error\"}") == 1);
  CHECK(value_of(t, "framefarm_jobs_finished_total{outcome=\"dead\"}") == 1);
  CHECK(value_of(t, "framefarm_job_end_to_end_seconds_count{outcome=\"succeeded\"}") == 1);
  CHECK(value_of(t, "framefarm_job_end_to_end_seconds_bucket{outcome=\"succeeded\",le=\"10\"}") == 0);
  CHECK(value_of(t, "framefarm_job_end_to_end_seconds_bucket{outcome=\"succeeded\",le=\"60\"}") == 1);
  CHECK(value_of(t, "framefarm_job_end_to_end_seconds_count{outcome=\"dead\"}") == 1);
  CHECK(value_of(t, "framefarm_job_start_delay_seconds_count") == 1);
  CHECK(value_of(t, "framefarm_queue_jobs{model=\"any\",state=\"queued\"}") == 0);
  CHECK(value_of(t, "framefarm_dispatcher_metrics_last_refresh_timestamp_seconds") > 1.7e9);

  // An operator retries the user-error job and it succeeds: a new finish, counted once more.
  sql("UPDATE framefarm.jobs SET state = 'succeeded', error_kind = NULL, finished_at = now() + interval '1 second' "
      "WHERE prompt = 'b'");
  m.refresh(conn);
  m.refresh(conn);
  t = m.scrape_text();
  CHECK(value_of(t, "framefarm_jobs_finished_total{outcome=\"succeeded\"}") == 2);
  CHECK(value_of(t, "framefarm_jobs_finished_total{outcome=\"user_error\"}") == 1);
}

TEST_CASE("HTTP endpoint: the refresh thread fills /metrics, a dead database counts errors") {
  sql("TRUNCATE framefarm.jobs, framefarm.workers");
  sql("INSERT INTO framefarm.jobs (prompt) VALUES ('x')");
  ff::dispatcher::DispatcherMetrics m({"127.0.0.1:0", ff::test::migrated_cluster().url(), 100}, nullptr);
  REQUIRE(m.port() > 0);
  m.start();
  std::string body;
  for (int i = 0; i < 100; ++i) {
    body = ff::test::http_get(m.port(), "/metrics");
    if (value_of(body.substr(body.find("\r\n\r\n") + 4), "framefarm_queue_jobs{model=\"any\",state=\"queued\"}") == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  INFO(body);
  CHECK(body.rfind("HTTP/1.", 0) == 0);
  CHECK(value_of(body.substr(body.find("\r\n\r\n") + 4), "framefarm_queue_jobs{model=\"any\",state=\"queued\"}") == 1);

  ff::dispatcher::DispatcherMetrics bad({"", "postgresql://127.0.0.1:1/none?connect_timeout=2", 100}, nullptr);
  bad.start();
  double errors = 0;
  for (int i = 0; i < 100 && errors < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    errors = value_of(bad.scrape_text(), "framefarm_dispatcher_metrics_refresh_errors_total");
  }
  CHECK(errors >= 1);
  CHECK(value_of(bad.scrape_text(), "framefarm_dispatcher_metrics_last_refresh_timestamp_seconds") == 0);
}

TEST_CASE("an address nobody can listen on is refused with the address named") {
  CHECK_THROWS_WITH(ff::dispatcher::DispatcherMetrics({"256.1.1.1:80", "", 1000}, nullptr),
                    doctest::Contains("256.1.1.1:80"));
}

TEST_CASE("dispatcher metric names: snake_case, framefarm_-prefixed, with a unit, counters end in _total") {
  ff::dispatcher::DispatcherMetrics m({"", "", 1000}, nullptr);
  const auto fams = m.registry()->Collect();
  REQUIRE(fams.size() >= 14);
  const std::regex snake("^framefarm_[a-z0-9]+(_[a-z0-9]+)*$");
  const std::regex unit(".*_(seconds|total|jobs|workers)$");  // jobs/workers: counts of those
  for (const auto& f : fams) {
    INFO(f.name);
    CHECK(std::regex_match(f.name, snake));
    CHECK(std::regex_match(f.name, unit));
    CHECK_FALSE(f.help.empty());
    CHECK((f.type == prometheus::MetricType::Counter) == (f.name.size() > 6 && f.name.rfind("_total") == f.name.size() - 6));
  }
}

TEST_CASE("the refresh reads indexes, never the whole job history (plans on 20000 finished jobs)") {
  sql("TRUNCATE framefarm.jobs, framefarm.workers");
  sql("INSERT INTO framefarm.jobs (prompt, state, finished_at, created_at) "
      "SELECT 'p' || g, 'succeeded', now() - g * interval '1 second', now() - g * interval '1 second' - interval '1 minute' "
      "FROM generate_series(1, 20000) g");
  sql("INSERT INTO framefarm.jobs (prompt) SELECT 'q' || g FROM generate_series(1, 20) g");
  sql("ANALYZE framefarm.jobs");
  pqxx::connection conn(ff::test::migrated_cluster().url());
  auto plan = [&](const std::string& q) {
    pqxx::nontransaction tx(conn);
    std::string out;
    for (const auto& r : tx.exec("EXPLAIN " + q)) out += r[0].as<std::string>() + "\n";
    return out;
  };
  for (const std::string q : {std::string(ff::dispatcher::metrics_sql::kQueueCounts),
                              std::string(ff::dispatcher::metrics_sql::kOldestReady),
                              std::string(ff::dispatcher::metrics_sql::kFinishedSince) + "now() - interval '10 seconds'"}) {
    const std::string p = plan(q);
    INFO(q << "\n" << p);
    CHECK(p.find("Seq Scan on jobs") == std::string::npos);
    CHECK(p.find("Index") != std::string::npos);
  }
  sql("TRUNCATE framefarm.jobs");
}
