// e2e chaos (small run of issue 10's suite): PostgreSQL, two real dispatchers and four real
// workers with the test engine double; while 240 jobs run: kill -9 of a worker (restarted),
// SIGSTOP/SIGCONT of a worker, kill -9 of a dispatcher (restarted on its endpoint and id), a held
// ACCESS EXCLUSIVE table lock, a PostgreSQL restart, and a registered intruder forging results for
// every running job with its exact (id, epoch). At the end, checked from the database: every
// job succeeded exactly once (one row, one outcome), none lost, no forged result applied, every
// job's engine produced its result, lease epochs stay near one per job (no claim storm). It prints
// re-executions and lease epochs per job (no timing is asserted).
#include <doctest/doctest.h>

#include <csignal>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "common/protocol.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/worker/process_harness.hpp"

using namespace std::chrono_literals;
using ff::test::Child;

namespace {

struct ChaosFarm {
  ff::test::PgCluster pg;
  ff::test::TempDir dir{"ff-chaos-e2e"};
  ff::test::TempDir model{"ff-chaos-model"};
  std::vector<std::string> endpoints;
  std::vector<std::unique_ptr<Child>> dispatchers;
  std::vector<std::unique_ptr<Child>> workers;
  std::map<std::string, std::string> engine_env{{"FF_TEST_ENGINE_STEPS", "3"}, {"FF_TEST_ENGINE_STEP_MS", "30"}};

  ChaosFarm() {
    ff::test::make_tokenizer_model(model.path());
    ff::test::run_command({FF_DISPATCHER_BIN, "migrate", "--database", pg.url(), "--schema-dir", FF_SCHEMA_DIR});
    for (int i = 0; i < 2; ++i) {
      endpoints.push_back("tcp://127.0.0.1:" + std::to_string(ff::test::free_tcp_port()));
      dispatchers.emplace_back();
      start_dispatcher(i);
    }
    for (int i = 0; i < 4; ++i) start_worker(i);
  }
  void start_dispatcher(int i) {
    dispatchers[i] = std::make_unique<Child>(
        std::vector<std::string>{FF_DISPATCHER_BIN, "serve", "--database", pg.url(), "--bind", endpoints[i],
                                 "--dispatcher-id", "chaos-d" + std::to_string(i), "--heartbeat-interval-ms",
                                 "500", "--lease-timeout-ms", "8000", "--poll-interval-ms", "100",
                                 "--reap-interval-ms", "250", "--retry-backoff-base-ms", "100",
                                 "--retry-backoff-max-ms", "400", "--statement-timeout-ms", "2000"},
        std::map<std::string, std::string>{}, dir.path() + "/dispatcher-" + std::to_string(i) + ".log");
  }
  std::string engine_log(int i) const { return dir.path() + "/engine-" + std::to_string(i) + ".log"; }
  void start_worker(int i) {
    ff::test::WorkerSpec s;
    s.endpoint = endpoints[i % 2];
    s.worker_id = "chaos-w" + std::to_string(i);
    s.model_dir = model.path();
    s.run_dir = dir.path() + "/run-" + std::to_string(i);
    s.output_root = dir.path() + "/out";
    s.database_url = pg.url();
    s.slots = 2;
    s.engine_request_timeout_ms = 5000;
    const std::string cfg = dir.path() + "/worker-" + std::to_string(i) + ".json";
    ff::test::write_worker_config(cfg, s);
    auto env = engine_env;
    env["FF_TEST_ENGINE_LOG"] = engine_log(i);
    if (workers.size() <= static_cast<size_t>(i)) workers.resize(i + 1);
    workers[i] = std::make_unique<Child>(std::vector<std::string>{FF_WORKER_BIN, "serve", "--config", cfg}, env,
                                         dir.path() + "/worker-" + std::to_string(i) + "." +
                                             std::to_string(++starts_[i]) + ".log");
  }
  int64_t q(const std::string& sql) { return std::stoll(pg.psql(sql)); }
  int64_t succeeded() { return q("SELECT count(*) FROM framefarm.jobs WHERE state = 'succeeded'"); }
  bool wait_succeeded(int64_t n, std::chrono::milliseconds t) {
    return ff::test::eventually([&] { return succeeded() >= n; }, t);
  }
  std::map<int64_t, int> results_logged() const {
    std::map<int64_t, int> n;
    for (size_t i = 0; i < workers.size(); ++i) {
      std::istringstream in(ff::test::read_file(engine_log(static_cast<int>(i))));
      for (std::string l; std::getline(in, l);)
        if (l.rfind("result ", 0) == 0) n[std::stoll(l.substr(7))]++;
    }
    return n;
  }
  std::map<int, int> starts_;
};

}  // namespace

TEST_CASE("chaos: kill -9 of workers and dispatchers, SIGSTOP, a table lock, a PostgreSQL restart and forged results lose nothing and complete nothing twice") {
  ChaosFarm f;
  const int kJobs = 240;
  f.pg.psql("INSERT INTO framefarm.jobs (prompt, max_attempts, params) SELECT 'chaos ' || g, 10, "
            "'{\"num_inference_steps\": 3}' FROM generate_series(1, " + std::to_string(kJobs) + ") g");
  int64_t target = 20;
  auto next_fault = [&](const std::string& what) {
    INFO("waiting for progress before: " << what);
    REQUIRE(f.wait_succeeded(target, 60s));
    target += 30;
    MESSAGE("fault: " << what << " (" << f.succeeded() << " succeeded so far)");
  };

  next_fault("kill -9 of worker 0, restarted");
  ff::test::eventually([&] { return f.q("SELECT count(*) FROM framefarm.jobs WHERE state = 'running' AND lease_worker = 'chaos-w0'") > 0; }, 10000ms);
  std::string victims = f.pg.psql(
      "SELECT coalesce(string_agg(id::text, ','), '0') FROM framefarm.jobs WHERE state = 'running' AND lease_worker = 'chaos-w0'");
  while (!victims.empty() && (victims.back() == '\n' || victims.back() == ' ')) victims.pop_back();
  const auto killed_at = std::chrono::steady_clock::now();
  f.workers[0]->signal(SIGKILL);
  f.workers[0]->wait(5000ms);
  // Rescue time (printed, not asserted): until every job it was running runs elsewhere or is done.
  const bool rescued = ff::test::eventually([&] {
    return f.q("SELECT count(*) FROM framefarm.jobs WHERE id IN (" + victims + ") AND NOT (state = 'succeeded' OR "
               "(state = 'running' AND lease_worker <> 'chaos-w0'))") == 0;
  }, 60000ms);
  MESSAGE("worker kill -9: its running jobs (" << victims << ") running again elsewhere after "
          << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - killed_at).count()
          << " ms" << std::string(rescued ? "" : " (not within 60 s)"));
  f.start_worker(0);

  next_fault("SIGSTOP of worker 2 for 2 s");
  f.workers[2]->signal(SIGSTOP);
  std::this_thread::sleep_for(2s);
  f.workers[2]->signal(SIGCONT);

  next_fault("kill -9 of dispatcher 0, restarted on its endpoint and id");
  f.dispatchers[0]->signal(SIGKILL);
  f.dispatchers[0]->wait(5000ms);
  f.start_dispatcher(0);

  next_fault("ACCESS EXCLUSIVE lock on framefarm.jobs for 3 s");
  {
    Child locker({"/bin/sh", "-c",
                  "exec psql -X -q -h 127.0.0.1 -p " + std::to_string(f.pg.port()) +
                      " -U postgres -d postgres -c 'BEGIN; LOCK TABLE framefarm.jobs IN ACCESS EXCLUSIVE MODE; "
                      "SELECT pg_sleep(3); COMMIT;'"},
                 {}, f.dir.path() + "/lock.log");
    locker.wait(20000ms);
  }

  next_fault("PostgreSQL restart");
  f.pg.restart();

  next_fault("an intruder forging results for every running job");
  {
    zmq::context_t ctx(1);
    zmq::socket_t s(ctx, zmq::socket_type::dealer);
    s.set(zmq::sockopt::linger, 0);
    s.connect(f.endpoints[1]);
    ff::proto::Register r;
    r.worker_id = "intruder";
    s.send(zmq::buffer(ff::proto::encode(r)), zmq::send_flags::none);
    std::istringstream in(f.pg.psql("SELECT id, lease_epoch FROM framefarm.jobs WHERE state IN ('leased', 'running')"));
    for (std::string l; std::getline(in, l);) {
      auto bar = l.find('|');
      if (bar == std::string::npos) continue;
      ff::proto::Result forged;
      forged.job_id = std::stoll(l.substr(0, bar));
      forged.epoch = std::stoll(l.substr(bar + 1));
      forged.ok = true;
      forged.output_path = "/forged";
      s.send(zmq::buffer(ff::proto::encode(forged)), zmq::send_flags::none);
    }
    std::this_thread::sleep_for(500ms);
  }

  INFO("dispatcher 0 log: " << ff::test::read_file(f.dir.path() + "/dispatcher-0.log").substr(0, 4000));
  REQUIRE(f.wait_succeeded(kJobs, 120s));
  CHECK(f.q("SELECT count(*) FROM framefarm.jobs WHERE state <> 'succeeded'") == 0);
  CHECK(f.q("SELECT count(*) FROM framefarm.jobs") == kJobs);
  CHECK(f.q("SELECT count(*) FROM framefarm.jobs WHERE result->>'output_path' = '/forged'") == 0);
  // A job's engine ran to a result at most once per attempt (one result reached the database).
  const auto logged = f.results_logged();
  std::istringstream in(f.pg.psql("SELECT id, attempts FROM framefarm.jobs"));
  int reexecuted = 0, over = 0, missing = 0;
  for (std::string l; std::getline(in, l);) {
    auto bar = l.find('|');
    if (bar == std::string::npos) continue;
    const int64_t id = std::stoll(l.substr(0, bar));
    const int attempts = std::stoi(l.substr(bar + 1));
    auto it = logged.find(id);
    if (it == logged.end()) { ++missing; continue; }
    over += it->second > attempts;
    reexecuted += it->second > 1;
  }
  CHECK(missing == 0);
  // Engine runs beyond the attempts are re-executions, not double completions: a worker frozen
  // (SIGSTOP) past the silence rule is declared dead, and the jobs it had not reported as started
  // go back without using an attempt while its engine may still finish them; their results are
  // fenced out. The database holds one outcome per job either way.
  MESSAGE("engine runs beyond the attempt count: " << over);
  const double epochs_per_job =
      static_cast<double>(f.q("SELECT last_value FROM framefarm.lease_epoch_seq")) / kJobs;
  MESSAGE("chaos: " << kJobs << " jobs succeeded; re-executed " << reexecuted << "; lease epochs per job "
                    << epochs_per_job);
  CHECK(epochs_per_job < 1.5);  // no claim storm: each fault costs a few leases, not thousands
  for (auto& d : f.dispatchers) d->signal(SIGTERM);
  for (auto& w : f.workers) w->signal(SIGTERM);
}
