// ff_bench_chaos (`ops/chaos [flags]`): issue 10's chaos suite as a benchmark.
//   --scenario chaos (default): a farm (chaos_farm.hpp) runs --jobs jobs while --faults-per-kind
//     faults of every kind are injected (chaos_run.hpp); prints one row per fault kind with rescue
//     times and the floors, pass/fail; exit 0 when every floor passes, 1 otherwise.
//   --scenario xmin: a 60 s xmin-holding transaction during a high-rate run (chaos_xmin.hpp).
// --json FILE writes the result, with the machine's load (nproc, loadavg before/after).
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "bench/chaos/chaos_report.hpp"
#include "bench/chaos/chaos_run.hpp"
#include "bench/chaos/chaos_xmin.hpp"
#include "common/cli_flags.hpp"

namespace {

// Flags, bound by main(); the initial values are the defaults (shown by --help).
struct Flags {
  std::string json, scenario = "chaos", kinds, dispatcher_args, keep_logs;
  bool quiet = false, no_failover = false;
  int64_t jobs = 2000, faults_per_kind = 10, seed = 1, dispatchers = 2, workers = 6, slots = 2, engine_steps = 4,
          engine_step_ms = 250, retention_ms = 60000;
  double lock_s = 10, stall_s = 10, worker_restart_s = 5, dispatcher_restart_s = 2, dispatcher_down_s = 15,
         drain_timeout_s = 300, rate = 300, before_s = 60, hold_s = 60, after_s = 90;
};

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> v;
  std::stringstream in(s);
  for (std::string t; std::getline(in, t, ',');)
    if (!t.empty()) v.push_back(t);
  return v;
}

nlohmann::json machine_load() {
  double l[3] = {0, 0, 0};
  if (::getloadavg(l, 3) != 3) l[0] = l[1] = l[2] = -1;
  return {{"nproc", std::thread::hardware_concurrency()}, {"loadavg_1_5_15", {l[0], l[1], l[2]}}};
}

int write_json(const std::string& path, const nlohmann::json& j) {
  if (path.empty()) return 0;
  std::ofstream out(path);
  out << j.dump(2) << "\n";
  if (!out) {
    std::cerr << "ff_bench_chaos: cannot write " << path << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Ctrl-C / timeout: stop the run through its destructors (no process left behind).
  std::signal(SIGINT, [](int) { ff::chaos::request_stop(); });
  std::signal(SIGTERM, [](int) { ff::chaos::request_stop(); });
  Flags fl;
  CLI::App app("ff_bench_chaos");
  ff::cli::configure(app, "ops/chaos [--scenario chaos|xmin] [--json FILE] [flags]",
                     "chaos: exit 0 when every floor of issue 10 passes, 1 otherwise; xmin: the same for its two floors");
  app.add_option("--json", fl.json, "write the result as JSON to FILE");
  app.add_option("--scenario", fl.scenario, "chaos or xmin")->check(CLI::IsMember({"chaos", "xmin"}));
  app.add_flag("--quiet", fl.quiet, "no progress lines on stderr");
  app.add_option("--keep-logs", fl.keep_logs, "chaos: copy the processes' logs to DIR at the end (post-mortems)");
  app.add_option("--jobs", fl.jobs, "chaos: jobs")->check(ff::cli::integer(1, 10000000));
  app.add_option("--faults-per-kind", fl.faults_per_kind, "chaos: faults of every kind")->check(ff::cli::integer(0, 1000));
  app.add_option("--kinds", fl.kinds, "chaos: only these kinds, comma-separated (default: all)");
  app.add_option("--seed", fl.seed, "chaos: random seed")->check(ff::cli::integer(0, INT64_MAX));
  app.add_option("--dispatchers", fl.dispatchers, "chaos: dispatchers")->check(ff::cli::integer(1, 16));
  app.add_option("--workers", fl.workers, "chaos: workers (worker i connects to dispatcher i mod dispatchers)")
      ->check(ff::cli::integer(1, 256));
  app.add_flag("--no-failover", fl.no_failover, "chaos: each worker knows only its own dispatcher (no dispatcher_endpoints list)");
  app.add_option("--slots", fl.slots, "chaos: slots per worker")->check(ff::cli::integer(1, 64));
  app.add_option("--engine-steps", fl.engine_steps, "chaos: test engine steps per job")->check(ff::cli::integer(1, 500));
  app.add_option("--engine-step-ms", fl.engine_step_ms, "chaos: test engine sleep per step")->check(ff::cli::integer(0, 60000));
  app.add_option("--lock-s", fl.lock_s, "chaos: table lock duration")->check(ff::cli::number(0.1, 600));
  app.add_option("--stall-s", fl.stall_s, "chaos: network stall duration")->check(ff::cli::number(0.1, 600));
  app.add_option("--worker-restart-s", fl.worker_restart_s, "chaos: restart delay of a killed worker (the unit's RestartSec)")
      ->check(ff::cli::number(0, 600));
  app.add_option("--dispatcher-restart-s", fl.dispatcher_restart_s,
                 "chaos: restart delay of a killed dispatcher (the unit's RestartSec)")->check(ff::cli::number(0, 600));
  app.add_option("--dispatcher-down-s", fl.dispatcher_down_s, "chaos: every other killed dispatcher stays down this long")
      ->check(ff::cli::number(0, 600));
  app.add_option("--drain-timeout-s", fl.drain_timeout_s, "chaos: wait this long for the queue to drain")
      ->check(ff::cli::number(1, 86400));
  app.add_option("--dispatcher-args", fl.dispatcher_args,
                 "chaos: extra `serve` arguments for every dispatcher, comma-separated (--lease-timeout-ms=10000)");
  app.add_option("--rate", fl.rate, "xmin: jobs inserted per second")->check(ff::cli::number(1, 100000));
  app.add_option("--before-s", fl.before_s, "xmin: seconds before the snapshot")->check(ff::cli::number(5, 7200));
  app.add_option("--hold-s", fl.hold_s, "xmin: seconds the snapshot is held")->check(ff::cli::number(0, 7200));
  app.add_option("--after-s", fl.after_s, "xmin: seconds after its release")->check(ff::cli::number(0, 7200));
  app.add_option("--retention-ms", fl.retention_ms, "xmin: serve --retention-ms")->check(ff::cli::integer(0, 604800000));
  try {
    if (!ff::cli::parse(app, std::vector<std::string>(argv + 1, argv + argc))) {
      std::cout << app.help();
      return 0;
    }
  } catch (const ff::config::UsageError& e) {
    std::cerr << "ff_bench_chaos: " << e.what() << "\n";
    return 2;
  }
  const std::string json_path = fl.json;
  const bool quiet = fl.quiet;
  try {
    const std::string scenario = fl.scenario;
    nlohmann::json out;
    out["machine_before"] = machine_load();
    if (scenario == "xmin") {
      ff::chaos::XminConfig c;
      c.rate = fl.rate;
      c.before_s = fl.before_s;
      c.hold_s = fl.hold_s;
      c.after_s = fl.after_s;
      c.retention_ms = fl.retention_ms;
      c.verbose = !quiet;
      out["scenario"] = "xmin";
      const nlohmann::json r = ff::chaos::run_xmin(c);
      for (auto it = r.begin(); it != r.end(); ++it) out[it.key()] = it.value();
      out["machine_after"] = machine_load();
      const auto& s = out["summary"];
      std::printf("xmin scenario: %.0f jobs/s asked (%.1f achieved), snapshot held %.0f s after %.0f s, then %.0f s\n",
                  c.rate, s["achieved_insert_rate"].get<double>(), c.hold_s, c.before_s, c.after_s);
      std::printf("  claim mean ms: before %.2f, held %.2f (max %.2f), after %.2f; back within 1.5x after %s s (<= 60: %s)\n",
                  s["baseline_claim_mean_ms"].get<double>(), s["held_claim_mean_ms"].get<double>(),
                  s["held_claim_max_ms"].get<double>(), s["after_claim_mean_ms"].get<double>(),
                  s["recovered_within_1_5x_after_s"].is_null() ? "never" : std::to_string(s["recovered_within_1_5x_after_s"].get<double>()).c_str(),
                  s["recovery_pass"].get<bool>() ? "PASS" : "FAIL");
      std::printf("  rows: max %.0f, at end %.0f, bound from retention %.0f (%s); max table+index bytes %.0f\n",
                  s["max_rows"].get<double>(), s["rows_at_end"].get<double>(), s["rows_bound_from_retention"].get<double>(),
                  s["size_pass"].get<bool>() ? "PASS" : "FAIL", s["max_table_bytes"].get<double>());
      if (write_json(json_path, out)) return 1;
      return s["recovery_pass"].get<bool>() && s["size_pass"].get<bool>() ? 0 : 1;
    }

    ff::chaos::FarmConfig fc;
    ff::chaos::RunConfig rc;
    rc.jobs = fl.jobs;
    rc.faults_per_kind = static_cast<int>(fl.faults_per_kind);
    rc.kinds = split_commas(fl.kinds);
    rc.seed = static_cast<uint64_t>(fl.seed);
    fc.dispatchers = static_cast<int>(fl.dispatchers);
    fc.keep_logs_dir = fl.keep_logs;
    fc.workers = static_cast<int>(fl.workers);
    fc.slots = static_cast<int>(fl.slots);
    fc.failover = !fl.no_failover;
    fc.engine_steps = static_cast<int>(fl.engine_steps);
    fc.engine_step_ms = static_cast<int>(fl.engine_step_ms);
    rc.lock_s = fl.lock_s;
    rc.stall_s = fl.stall_s;
    rc.worker_restart_s = fl.worker_restart_s;
    rc.dispatcher_restart_s = fl.dispatcher_restart_s;
    rc.dispatcher_down_s = fl.dispatcher_down_s;
    rc.drain_timeout_s = fl.drain_timeout_s;
    fc.dispatcher_args = split_commas(fl.dispatcher_args);
    rc.verbose = !quiet;
    ff::chaos::Farm farm(fc);
    const ff::chaos::RunData run = ff::chaos::run_chaos(farm, rc);
    const ff::chaos::Report rep = ff::chaos::analyze(farm, run);
    std::printf("framefarm chaos: %lld jobs, %d dispatchers, %d workers x %d slots, engine %d x %d ms, seed %llu, %.0f s\n",
                static_cast<long long>(rc.jobs), fc.dispatchers, fc.workers, fc.slots, fc.engine_steps, fc.engine_step_ms,
                static_cast<unsigned long long>(rc.seed), rep.duration_s);
    std::fputs(rep.table().c_str(), stdout);
    out["scenario"] = "chaos";
    out["config"] = {{"jobs", rc.jobs},
                     {"faults_per_kind", rc.faults_per_kind},
                     {"seed", rc.seed},
                     {"dispatchers", fc.dispatchers},
                     {"workers", fc.workers},
                     {"slots", fc.slots},
                     {"failover", fc.failover},
                     {"engine_steps", fc.engine_steps},
                     {"engine_step_ms", fc.engine_step_ms},
                     {"lock_s", rc.lock_s},
                     {"stall_s", rc.stall_s},
                     {"worker_restart_s", rc.worker_restart_s},
                     {"dispatcher_restart_s", rc.dispatcher_restart_s},
                     {"dispatcher_down_s", rc.dispatcher_down_s},
                     {"dispatcher_args", fc.dispatcher_args}};
    out["report"] = rep.to_json();
    nlohmann::json faults = nlohmann::json::array();
    for (const auto& fr : run.faults)
      faults.push_back({{"kind", fr.kind}, {"target", fr.target}, {"note", fr.note}, {"start_s", fr.start - run.t_start},
                        {"end_s", fr.end - run.t_start}, {"leases_hit", fr.victims.size()}});
    out["faults"] = faults;
    out["skipped"] = run.skipped;
    out["machine_after"] = machine_load();
    if (write_json(json_path, out)) return 1;
    return rep.pass() ? 0 : 1;
  } catch (const std::invalid_argument& e) {
    std::cerr << "ff_bench_chaos: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "ff_bench_chaos: " << e.what() << "\n";
    return 1;
  }
}
