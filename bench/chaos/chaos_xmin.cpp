#include "bench/chaos/chaos_xmin.hpp"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include <pqxx/pqxx>
#include <zmq.hpp>

#include "bench/chaos/chaos_run.hpp"
#include "tests/dispatcher/sim_worker.hpp"
#include "tests/observability/http_get.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/worker/process_harness.hpp"

namespace ff::chaos {
namespace {

// Sum of a counter's samples in a Prometheus text exposition (0 when absent).
double metric(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  double sum = 0;
  for (std::string l; std::getline(in, l);) {
    if (l.rfind(name, 0) != 0) continue;
    const char next = l.size() > name.size() ? l[name.size()] : '\0';
    if (next != ' ' && next != '{') continue;
    sum += std::stod(l.substr(l.rfind(' ') + 1));
  }
  return sum;
}

}  // namespace

nlohmann::json run_xmin(const XminConfig& c) {
  if (c.rate <= 0 || c.bucket_s <= 0 || c.hold_s < 0 || c.before_s < c.bucket_s)
    throw std::invalid_argument("xmin: rate and bucket_s must be > 0, before_s >= bucket_s, hold_s >= 0");
  test::PgCluster pg;
  test::TempDir dir("ff-chaos-xmin");
  test::run_command({FF_DISPATCHER_BIN, "migrate", "--database", pg.url(), "--schema-dir", FF_SCHEMA_DIR});
  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(test::free_tcp_port());
  const int metrics_port = test::free_tcp_port();
  test::Child disp({FF_DISPATCHER_BIN, "serve", "--database", pg.url(), "--bind", endpoint, "--dispatcher-id",
                    "xmin-d0", "--metrics-bind", "127.0.0.1:" + std::to_string(metrics_port), "--retention-ms",
                    std::to_string(c.retention_ms), "--retention-interval-ms", std::to_string(c.retention_interval_ms)},
                   {}, dir.path() + "/dispatcher.log");
  zmq::context_t ctx(1);
  test::SimOptions opt;
  opt.workers = c.sim_workers;
  opt.slots = c.slots;
  opt.id_prefix = "xmin";
  test::SimFleet fleet(ctx, endpoint, opt);
  fleet.start();

  std::atomic<bool> stop{false};
  std::atomic<int64_t> inserted{0};
  std::thread feeder([&] {
    pqxx::connection conn(pg.url());
    const auto t0 = std::chrono::steady_clock::now();
    while (!stop) {
      const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const int64_t due = static_cast<int64_t>(c.rate * el);
      if (due > inserted) {
        pqxx::nontransaction tx(conn);
        tx.exec("INSERT INTO framefarm.jobs (prompt) SELECT 'xmin ' || g FROM generate_series(" +
                std::to_string(inserted + 1) + ", " + std::to_string(due) + ") g");
        inserted = due;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });

  struct Joiner {  // stops the feeder however this function is left
    std::atomic<bool>& stop;
    std::thread& t;
    ~Joiner() {
      stop = true;
      if (t.joinable()) t.join();
    }
  } joiner{stop, feeder};
  pqxx::connection probe(pg.url());
  pqxx::connection holder(pg.url());
  std::unique_ptr<pqxx::work> hold;
  auto q1 = [&](const std::string& sql) {
    pqxx::nontransaction tx(probe);
    const auto r = tx.exec(sql);
    return r[0][0].is_null() ? 0.0 : r[0][0].as<double>();
  };
  nlohmann::json timeline = nlohmann::json::array();
  const double t0 = unix_now();
  const double total = c.before_s + c.hold_s + c.after_s;
  double prev_claims = 0, prev_claim_s = 0, prev_t = t0;
  int64_t prev_done = 0;
  bool holding = false, released = false;
  for (double next = t0 + c.bucket_s; next <= t0 + total + 1e-6; next += c.bucket_s) {
    while (unix_now() < next) {
      throw_if_stopped();
      const double rel = unix_now() - t0;
      if (!holding && !released && rel >= c.before_s) {
        hold = std::make_unique<pqxx::work>(holder, "xmin holder");
        hold->exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
        hold->exec("SELECT count(*) FROM framefarm.workers");  // takes the snapshot
        holding = true;
        if (c.verbose) std::cerr << "[xmin +" << static_cast<int>(rel) << "s] snapshot taken and held\n";
      }
      if (holding && rel >= c.before_s + c.hold_s) {
        hold->commit();
        hold.reset();
        holding = false;
        released = true;
        if (c.verbose) std::cerr << "[xmin +" << static_cast<int>(rel) << "s] snapshot released\n";
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const double now = unix_now();
    const std::string m = test::http_get(metrics_port, "/metrics");
    const double claims = metric(m, "framefarm_dispatcher_claims_total");
    const double claim_s = metric(m, "framefarm_dispatcher_claim_seconds_total");
    const int64_t done = static_cast<int64_t>(fleet.results_sent());
    // Jobs created in the bucket before this one (all claimed by now at a healthy rate).
    const std::string win = "created_at >= to_timestamp(" + std::to_string(now - 2 * c.bucket_s) +
                            ") AND created_at < to_timestamp(" + std::to_string(now - c.bucket_s) + ")";
    nlohmann::json b;
    b["t_s"] = now - t0;
    b["phase"] = holding ? "held" : released ? "after" : "before";
    // An unanswered scrape (the dispatcher busy past http_get's timeout) leaves the bucket empty.
    const bool scraped = !m.empty() && claims >= prev_claims;
    b["claim_mean_ms"] = scraped && claims > prev_claims ? nlohmann::json(1000.0 * (claim_s - prev_claim_s) / (claims - prev_claims))
                                                         : nlohmann::json(nullptr);
    b["claims"] = claims - prev_claims;
    b["inserted_total"] = inserted.load();
    b["completed_per_s"] = static_cast<double>(done - prev_done) / (now - prev_t);
    b["queue_latency_p50_ms"] =
        1000 * q1("SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM leased_at - created_at)) "
                  "FROM framefarm.jobs WHERE leased_at IS NOT NULL AND " + win);
    b["queue_latency_p99_ms"] =
        1000 * q1("SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM leased_at - created_at)) "
                  "FROM framefarm.jobs WHERE leased_at IS NOT NULL AND " + win);
    b["rows"] = q1("SELECT count(*) FROM framefarm.jobs");
    b["dead_row_versions"] = q1("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = 'framefarm.jobs'::regclass");
    b["table_bytes"] = q1("SELECT pg_total_relation_size('framefarm.jobs')");
    b["ready_index_bytes"] = q1("SELECT pg_relation_size('framefarm.jobs_ready_idx')");
    if (c.verbose) std::cerr << "[xmin] " << b.dump() << "\n";
    timeline.push_back(b);
    if (scraped) {
      prev_claims = claims;
      prev_claim_s = claim_s;
    }
    prev_done = done;
    prev_t = now;
  }
  if (hold) hold->commit();
  stop = true;
  feeder.join();
  fleet.stop();
  disp.signal(SIGTERM);
  disp.wait(std::chrono::milliseconds(10000));

  // Summary: baseline = mean claim time over the last half of `before`; recovery = first bucket
  // after the release whose claim mean is within 1.5x of it.
  std::vector<double> base, held, after_v;
  double recovered_s = -1, max_rows = 0, max_bytes = 0, rows_end = 0;
  for (const auto& b : timeline) {
    const double t = b["t_s"];
    const double ms = b["claim_mean_ms"].is_null() ? -1.0 : b["claim_mean_ms"].get<double>();
    max_rows = std::max(max_rows, b["rows"].get<double>());
    max_bytes = std::max(max_bytes, b["table_bytes"].get<double>());
    rows_end = b["rows"];
    if (ms < 0) continue;
    if (b["phase"] == "before" && t > c.before_s / 2) base.push_back(ms);
    if (b["phase"] == "held") held.push_back(ms);
    if (b["phase"] == "after") after_v.push_back(ms);
  }
  auto mean = [](const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return v.empty() ? 0.0 : s / static_cast<double>(v.size());
  };
  const double baseline = mean(base);
  for (const auto& b : timeline)
    if (b["phase"] == "after" && recovered_s < 0 && !b["claim_mean_ms"].is_null() &&
        b["claim_mean_ms"].get<double>() <= 1.5 * baseline)
      recovered_s = b["t_s"].get<double>() - (c.before_s + c.hold_s);
  const double bound_rows = c.rate * (static_cast<double>(c.retention_ms + c.retention_interval_ms) / 1000.0) * 1.2 + 1000;
  nlohmann::json s;
  s["baseline_claim_mean_ms"] = baseline;
  s["held_claim_mean_ms"] = mean(held);
  s["held_claim_max_ms"] = held.empty() ? 0.0 : *std::max_element(held.begin(), held.end());
  s["after_claim_mean_ms"] = mean(after_v);
  s["recovered_within_1_5x_after_s"] = recovered_s < 0 ? nlohmann::json(nullptr) : nlohmann::json(recovered_s);
  s["recovery_floor"] = "claim mean back within 1.5x of baseline within 60 s of the release";
  s["recovery_pass"] = recovered_s >= 0 && recovered_s <= 60;
  s["max_rows"] = max_rows;
  s["rows_at_end"] = rows_end;
  s["max_table_bytes"] = max_bytes;
  s["rows_bound_from_retention"] = bound_rows;
  s["size_pass"] = max_rows <= bound_rows;
  s["achieved_insert_rate"] = static_cast<double>(inserted.load()) / total;
  nlohmann::json out;
  out["config"] = {{"rate", c.rate},       {"before_s", c.before_s}, {"hold_s", c.hold_s},
                   {"after_s", c.after_s}, {"bucket_s", c.bucket_s}, {"retention_ms", c.retention_ms},
                   {"retention_interval_ms", c.retention_interval_ms}, {"sim_workers", c.sim_workers},
                   {"slots", c.slots}};
  out["summary"] = s;
  out["timeline"] = timeline;
  return out;
}

}  // namespace ff::chaos
