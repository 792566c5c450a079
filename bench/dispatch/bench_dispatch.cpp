// ff_bench_dispatch (`ops/bench dispatch [--json FILE]`): dispatcher throughput and latency on a
// throwaway PostgreSQL cluster with simulated workers over loopback ZeroMQ.
//
//   ceiling   bare `SELECT 1` round trips per second on one connection to the same database.
//   sustained jobs/s through claim -> send -> result -> commit: N jobs pre-inserted, workers answer
//             every Job at once; rate = jobs whose completion committed / time, measured between
//             the first job received and the last completion committed.
//   latency   jobs inserted one per INSERT at a fixed rate (default 500/s); latency = worker
//             receive time - time the INSERT was issued (so it includes the INSERT round trip:
//             an upper bound of INSERT-commit -> worker receive).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include <nlohmann/json.hpp>

#include "common/cli_flags.hpp"
#include "dispatcher/migrate.hpp"
#include "dispatcher/server.hpp"
#include "tests/dispatcher/sim_worker.hpp"
#include "tests/support/pg_cluster.hpp"

using namespace std::chrono;
using Clock = steady_clock;

namespace {

struct BenchConfig {
  std::string json_path;
  int64_t jobs = 20000;
  int64_t workers = 64;
  int64_t slots_per_worker = 32;
  int64_t latency_rate_per_second = 500;
  int64_t latency_seconds = 4;
  int64_t ceiling_seconds = 1;
};

// The flags, bound to `c`: its initializers are the defaults --help shows.
void add_flags(CLI::App& app, BenchConfig& c) {
  using ff::cli::integer;
  app.add_option("--json", c.json_path, "also write the results as JSON to FILE")->type_name("FILE");
  app.add_option("--jobs", c.jobs, "jobs for the sustained-throughput run")->type_name("N")->check(integer(100, 10000000));
  app.add_option("--workers", c.workers, "simulated workers")->type_name("N")->check(integer(1, 1000));
  app.add_option("--slots-per-worker", c.slots_per_worker, "credit per worker")->type_name("N")->check(integer(1, 10000));
  app.add_option("--latency-rate-per-second", c.latency_rate_per_second, "insert rate of the latency run")
      ->type_name("N")
      ->check(integer(1, 100000));
  app.add_option("--latency-seconds", c.latency_seconds, "duration of the latency run")
      ->type_name("S")
      ->check(integer(1, 600));
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * (v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

struct Dispatch {
  ff::dispatcher::Dispatcher d;
  std::atomic<bool> stop{false};
  std::thread t;
  std::string endpoint;
  Dispatch(zmq::context_t& ctx, ff::dispatcher::ServeConfig cfg) : d(std::move(cfg), ctx) {
    endpoint = d.bind();
    t = std::thread([this] { d.run(stop); });
  }
  ~Dispatch() {
    stop = true;
    t.join();
  }
};

}  // namespace

int main(int argc, char** argv) {
  BenchConfig bc;
  CLI::App app("", "ff_bench_dispatch");
  ff::cli::configure(app, "ff_bench_dispatch [options]");
  add_flags(app, bc);
  try {
    if (!ff::cli::parse(app, {argv + 1, argv + argc})) {
      std::cout << app.help();
      return 0;
    }
  } catch (const ff::config::UsageError& e) {
    std::cerr << "ff_bench_dispatch: " << e.what() << "\n";
    return 2;
  }
  setenv("FF_LOG_LEVEL", "warn", 0);

  ff::test::PgCluster pg;
  ff::dispatcher::migrate(pg.url(), ff::dispatcher::default_schema_dir());
  zmq::context_t ctx(2);

  // ---- ceiling: SELECT 1 round trips
  double ceiling = 0;
  {
    pqxx::connection c(pg.url());
    pqxx::nontransaction tx(c);
    int64_t n = 0;
    auto t0 = Clock::now();
    auto end = t0 + seconds(bc.ceiling_seconds);
    while (Clock::now() < end) {
      for (int i = 0; i < 100; ++i) tx.exec("SELECT 1");
      n += 100;
    }
    ceiling = n / duration<double>(Clock::now() - t0).count();
  }

  ff::dispatcher::ServeConfig cfg;
  cfg.database_url = pg.url();
  cfg.bind_endpoint = "tcp://127.0.0.1:*";
  cfg.dispatcher_id = "bench";
  cfg.claim_batch_max = 4096;
  cfg.poll_interval_ms = 100;

  // ---- sustained throughput
  double jobs_per_second = 0;
  int64_t duplicates = 0;
  {
    pqxx::connection c(pg.url());
    pqxx::nontransaction tx(c);
    tx.exec("INSERT INTO framefarm.jobs (prompt) SELECT 'bench job ' || g FROM generate_series(1, " +
            std::to_string(bc.jobs) + ") g");
    tx.exec("VACUUM ANALYZE framefarm.jobs");
  }
  {
    Dispatch d(ctx, cfg);
    ff::test::SimOptions opt;
    opt.workers = static_cast<int>(bc.workers);
    opt.slots = static_cast<int32_t>(bc.slots_per_worker);
    opt.id_prefix = "tput";
    ff::test::SimFleet fleet(ctx, d.endpoint, opt);
    fleet.start();
    while (fleet.received_count() == 0) std::this_thread::sleep_for(microseconds(200));
    auto t0 = Clock::now();
    auto deadline = t0 + seconds(120);
    while (d.d.stats().results_applied_total.load() < bc.jobs && Clock::now() < deadline)
      std::this_thread::sleep_for(microseconds(500));
    auto t1 = Clock::now();
    int64_t done = d.d.stats().results_applied_total.load();
    jobs_per_second = done / duration<double>(t1 - t0).count();
    fleet.stop();
    std::map<int64_t, int> seen;
    for (auto& r : fleet.received()) duplicates += seen[r.job_id]++ > 0;
  }

  // ---- latency at a fixed insert rate
  std::vector<double> lat_ms;
  double achieved_rate = 0;
  {
    Dispatch d(ctx, cfg);
    ff::test::SimOptions opt;
    opt.workers = static_cast<int>(bc.workers);
    opt.slots = static_cast<int32_t>(bc.slots_per_worker);
    opt.id_prefix = "lat";
    ff::test::SimFleet fleet(ctx, d.endpoint, opt);
    fleet.start();
    pqxx::connection c(pg.url());
    c.prepare("ins", "INSERT INTO framefarm.jobs (prompt) VALUES ($1) RETURNING id");
    std::map<int64_t, Clock::time_point> issued;
    int64_t total = bc.latency_rate_per_second * bc.latency_seconds;
    auto period = duration<double>(1.0 / bc.latency_rate_per_second);
    auto t0 = Clock::now();
    for (int64_t i = 0; i < total; ++i) {
      auto due = t0 + duration_cast<Clock::duration>(period * i);
      std::this_thread::sleep_until(due);
      auto ts = Clock::now();
      pqxx::nontransaction tx(c);
      int64_t id = tx.exec_prepared1("ins", "latency " + std::to_string(i))[0].as<int64_t>();
      issued[id] = ts;
    }
    achieved_rate = total / duration<double>(Clock::now() - t0).count();
    auto deadline = Clock::now() + seconds(10);
    while (fleet.received_count() < static_cast<size_t>(total) && Clock::now() < deadline)
      std::this_thread::sleep_for(milliseconds(5));
    fleet.stop();
    for (auto& r : fleet.received()) {
      auto it = issued.find(r.job_id);
      if (it != issued.end()) lat_ms.push_back(duration<double, std::milli>(r.at - it->second).count());
    }
  }

  double p50 = percentile(lat_ms, 0.50), p90 = percentile(lat_ms, 0.90), p99 = percentile(lat_ms, 0.99);
  double mx = lat_ms.empty() ? 0 : *std::max_element(lat_ms.begin(), lat_ms.end());
  unsigned cores = std::thread::hardware_concurrency();

  std::printf("framefarm dispatch benchmark (%u cores, %lld simulated workers x %lld slots)\n", cores,
              static_cast<long long>(bc.workers), static_cast<long long>(bc.slots_per_worker));
  std::printf("  %-44s %12.0f /s\n", "ceiling: bare SELECT 1 round trips", ceiling);
  std::printf("  %-44s %12.0f /s   (%lld jobs, %lld dispatched twice)\n", "sustained claim->send->result->commit",
              jobs_per_second, static_cast<long long>(bc.jobs), static_cast<long long>(duplicates));
  std::printf("  %-44s %12.1f /s   (%zu jobs received)\n", "latency run insert rate", achieved_rate, lat_ms.size());
  std::printf("  %-44s %12.2f ms\n", "INSERT -> worker receive p50", p50);
  std::printf("  %-44s %12.2f ms\n", "INSERT -> worker receive p90", p90);
  std::printf("  %-44s %12.2f ms\n", "INSERT -> worker receive p99", p99);
  std::printf("  %-44s %12.2f ms\n", "INSERT -> worker receive max", mx);
  std::printf("  targets (2 cores): >= 5000 jobs/s sustained, p99 <= 5 ms at 500 jobs/s\n");

  if (!bc.json_path.empty()) {
    const nlohmann::ordered_json o = {
        {"jobs_per_second", jobs_per_second},
        {"latency_p50_ms", p50},
        {"latency_p90_ms", p90},
        {"latency_p99_ms", p99},
        {"latency_max_ms", mx},
        {"ceiling_select1_per_second", ceiling},
        {"latency_insert_rate_per_second", achieved_rate},
        {"latency_jobs_received", lat_ms.size()},
        {"throughput_jobs", bc.jobs},
        {"dispatched_twice", duplicates},
        {"workers", bc.workers},
        {"slots_per_worker", bc.slots_per_worker},
        {"cores", cores},
    };
    std::ofstream out(bc.json_path);
    out << o.dump(2) << "\n";
    if (!out) {
      std::cerr << "ff_bench_dispatch: cannot write " << bc.json_path << "\n";
      return 1;
    }
  }
  return 0;
}
