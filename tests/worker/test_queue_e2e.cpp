// e2e: the whole queue. A throwaway PostgreSQL cluster, the real framefarm-dispatcher, three real
// framefarm-worker processes running the test engine, jobs inserted by SQL and by the CLI.
// Exactly-once is checked on the rows (state, attempts) and on the per-job result lines the test
// engines log (a job whose result reached the database ran to completion once per attempt).
#include <doctest/doctest.h>

#include <csignal>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/curve_keys.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/worker/process_harness.hpp"

using namespace std::chrono_literals;
using ff::test::Child;

namespace {

const std::string& model_dir() {
  static ff::test::TempDir dir("ff-queue-model");
  static const bool made = (ff::test::make_tokenizer_model(dir.path()), true);
  (void)made;
  return dir.path();
}

// PostgreSQL + migrated schema + one dispatcher + N workers, all torn down by the destructor.
struct Farm {
  ff::test::PgCluster pg;
  ff::test::TempDir dir{"ff-queue-e2e"};
  int heartbeat_ms, lease_ms;
  std::string endpoint, endpoint2;
  std::unique_ptr<Child> dispatcher, dispatcher2;  // dispatcher2: start_second_dispatcher()
  std::vector<std::unique_ptr<Child>> workers;

  // heartbeat_ms: the dispatcher's interval (dead after 3 misses). Tests that count attempts use
  // 1000 ms so that a loaded machine does not make a live worker look dead.
  // setup(dir): writes files into the farm's folder (e.g. CURVE keys) and returns more `serve` flags.
  // lease_ms: the lease timeout (its expiry requeues the jobs of a dispatcher that died).
  explicit Farm(int heartbeat_ms = 1000, const std::function<std::vector<std::string>(const std::string&)>& setup = {},
                int lease_ms = 5000)
      : heartbeat_ms(heartbeat_ms), lease_ms(lease_ms) {
    ff::test::run_command({FF_DISPATCHER_BIN, "migrate", "--database", pg.url(), "--schema-dir",
                           FF_SCHEMA_DIR});
    endpoint = "tcp://127.0.0.1:" + std::to_string(ff::test::free_tcp_port());
    std::vector<std::string> args = dispatcher_args(endpoint);
    if (setup)
      for (auto& a : setup(dir.path())) args.push_back(std::move(a));
    dispatcher = std::make_unique<Child>(args, std::map<std::string, std::string>{}, dir.path() + "/dispatcher.log");
  }

  std::vector<std::string> dispatcher_args(const std::string& bind) const {
    return {FF_DISPATCHER_BIN, "serve", "--database", pg.url(), "--bind", bind,
            "--heartbeat-interval-ms", std::to_string(heartbeat_ms), "--heartbeat-misses-dead", "3",
            "--lease-timeout-ms", std::to_string(lease_ms), "--poll-interval-ms", "100",
            "--reap-interval-ms", "250", "--retry-backoff-base-ms", "100", "--retry-backoff-max-ms", "400"};
  }

  // A second dispatcher on the same database (same settings, log dispatcher-2.log); its endpoint.
  std::string start_second_dispatcher() {
    endpoint2 = "tcp://127.0.0.1:" + std::to_string(ff::test::free_tcp_port());
    dispatcher2 = std::make_unique<Child>(dispatcher_args(endpoint2), std::map<std::string, std::string>{},
                                          dir.path() + "/dispatcher-2.log");
    return endpoint2;
  }

  std::string engine_log(int i) const { return dir.path() + "/engine-" + std::to_string(i) + ".log"; }

  // more_endpoints: dispatchers the worker fails over to, after `endpoint`.
  void start_worker(int i, std::map<std::string, std::string> env, int slots = 4, const std::string& curve_key_file = "",
                    const std::vector<std::string>& more_endpoints = {}) {
    ff::test::WorkerSpec s;
    if (!curve_key_file.empty()) {
      s.curve_key_file = curve_key_file;
      s.dispatcher_public_key_file = dir.path() + "/dispatcher.pub";
    }
    s.endpoint = endpoint;
    s.worker_id = "e2e-worker-" + std::to_string(i);
    s.model_dir = model_dir();
    s.run_dir = dir.path() + "/run-" + std::to_string(i);
    s.output_root = dir.path() + "/out";
    s.database_url = pg.url();
    s.slots = slots;
    s.engine_request_timeout_ms = 3000;
    const std::string cfg = dir.path() + "/worker-" + std::to_string(i) + ".json";
    ff::test::write_worker_config(cfg, s);
    if (!more_endpoints.empty()) {  // the failover form: dispatcher_endpoints [endpoint, more...]
      auto j = nlohmann::json::parse(ff::test::read_file(cfg));
      std::vector<std::string> all{endpoint};
      all.insert(all.end(), more_endpoints.begin(), more_endpoints.end());
      j.erase("dispatcher_endpoint");
      j["dispatcher_endpoints"] = all;
      std::ofstream(cfg, std::ios::trunc) << j.dump(2);
    }
    env["FF_TEST_ENGINE_LOG"] = engine_log(i);
    if (workers.size() <= static_cast<size_t>(i)) workers.resize(i + 1);
    workers[i] = std::make_unique<Child>(
        std::vector<std::string>{FF_WORKER_BIN, "serve", "--config", cfg}, env,
        dir.path() + "/worker-" + std::to_string(i) + ".log");
  }

  int64_t count(const std::string& where) {
    return std::stoll(pg.psql("SELECT count(*) FROM framefarm.jobs WHERE " + where));
  }

  // "result <id>" lines over every engine log.
  std::map<int64_t, int> results_logged() const {
    std::map<int64_t, int> n;
    for (size_t i = 0; i < workers.size(); ++i) {
      std::istringstream in(ff::test::read_file(engine_log(static_cast<int>(i))));
      for (std::string l; std::getline(in, l);)
        if (l.rfind("result ", 0) == 0) n[std::stoll(l.substr(7))]++;
    }
    return n;
  }

  std::string diagnostics() const {
    std::string out = "--- dispatcher log tail:\n";
    const std::string d = ff::test::read_file(dir.path() + "/dispatcher.log");
    out += d.substr(d.size() > 3000 ? d.size() - 3000 : 0);
    if (dispatcher2) {
      const std::string d2 = ff::test::read_file(dir.path() + "/dispatcher-2.log");
      out += "\n--- dispatcher 2 log tail:\n" + d2.substr(d2.size() > 3000 ? d2.size() - 3000 : 0);
    }
    for (size_t i = 0; i < workers.size(); ++i) {
      const std::string w = ff::test::read_file(dir.path() + "/worker-" + std::to_string(i) + ".log");
      out += "\n--- worker " + std::to_string(i) + " log tail:\n" + w.substr(w.size() > 2000 ? w.size() - 2000 : 0);
    }
    return out;
  }
};

// id -> (state, attempts)
std::map<int64_t, std::pair<std::string, int>> rows(Farm& f) {
  std::map<int64_t, std::pair<std::string, int>> out;
  std::istringstream in(f.pg.psql("SELECT id, state, attempts FROM framefarm.jobs ORDER BY id"));
  for (std::string l; std::getline(in, l);) {
    std::istringstream ls(l);
    std::string id, state, attempts;
    std::getline(ls, id, '|');
    std::getline(ls, state, '|');
    std::getline(ls, attempts, '|');
    out[std::stoll(id)] = {state, std::stoi(attempts)};
  }
  return out;
}

}  // namespace

TEST_CASE("500 jobs by SQL and CLI through 3 workers: each succeeds exactly once") {
  Farm f;
  for (int i = 0; i < 3; ++i) f.start_worker(i, {{"FF_TEST_ENGINE_STEP_MS", "1"}});
  // 450 by SQL (40 distinct prompts: most hit the embedding cache), 50 by the CLI.
  f.pg.psql(
      "INSERT INTO framefarm.jobs (prompt, negative_prompt, params) "
      "SELECT 'a scene number ' || (g % 40), CASE WHEN g % 3 = 0 THEN 'blurry' ELSE '' END, "
      "'{\"num_inference_steps\": 3, \"seed\": 7}' FROM generate_series(1, 450) g");
  for (int i = 0; i < 50; ++i)
    ff::test::run_command({FF_DISPATCHER_BIN, "submit", "cli prompt " + std::to_string(i % 10),
                           "--steps", "3", "--database", f.pg.url()});
  const bool done = ff::test::eventually([&] { return f.count("state = 'succeeded'") == 500; }, 45000ms);
  INFO(f.diagnostics());
  REQUIRE(done);
  const auto r = rows(f);
  REQUIRE(r.size() == 500);
  const auto logged = f.results_logged();
  for (const auto& [id, sa] : r) {
    CHECK(sa.first == "succeeded");
    CHECK(sa.second == 1);
    const auto it = logged.find(id);
    CHECK((it != logged.end() && it->second == 1));
  }
  CHECK(logged.size() == 500);
  // Every worker took part; the cache holds each distinct prompt once (40 + 10 CLI + "" + blurry
  // + the default negative prompt the CLI's jobs got from the schema).
  CHECK(std::stoll(f.pg.psql("SELECT count(DISTINCT lease_worker) FROM framefarm.jobs")) == 3);
  CHECK(std::stoll(f.pg.psql("SELECT count(*) FROM framefarm.prompt_embeddings")) == 40 + 10 + 3);
}

TEST_CASE("CURVE: a worker with an authorized key runs the jobs, one with an unknown key never registers") {
  REQUIRE(ff::curve_available());
  const ff::CurveKeyPair known = ff::generate_curve_keypair(), stranger = ff::generate_curve_keypair();
  Farm f(1000, [&](const std::string& dir) -> std::vector<std::string> {
    const ff::CurveKeyPair d = ff::generate_curve_keypair();
    ff::write_curve_keys(dir + "/dispatcher.key", d);
    ff::write_curve_keys(dir + "/dispatcher.pub", ff::CurveKeyPair{d.public_key, ""});
    ff::write_curve_keys(dir + "/worker-0.key", known);
    ff::write_curve_keys(dir + "/worker-1.key", stranger);
    std::ofstream(dir + "/authorized_keys") << known.public_key << " e2e-worker-0\n";
    return {"--curve-key-file", dir + "/dispatcher.key", "--authorized-keys", dir + "/authorized_keys"};
  });
  f.start_worker(0, {{"FF_TEST_ENGINE_STEP_MS", "1"}}, 4, f.dir.path() + "/worker-0.key");
  f.start_worker(1, {{"FF_TEST_ENGINE_STEP_MS", "1"}}, 4, f.dir.path() + "/worker-1.key");
  f.pg.psql("INSERT INTO framefarm.jobs (prompt) SELECT 'curve ' || g FROM generate_series(1, 20) g");
  const bool done = ff::test::eventually([&] { return f.count("state = 'succeeded'") == 20; }, 30000ms);
  INFO(f.diagnostics());
  REQUIRE(done);
  CHECK(f.count("lease_worker IS DISTINCT FROM 'e2e-worker-0'") == 0);
  CHECK(std::stoll(f.pg.psql("SELECT count(*) FROM framefarm.workers WHERE worker_id = 'e2e-worker-1'")) == 0);
  CHECK(f.results_logged().size() == 20);
}

TEST_CASE("kill -9 of a worker mid-job: its jobs re-run elsewhere, none lost, none completed twice") {
  Farm f(300);  // fast death detection; attempts are not required to be 1 here
  const std::map<std::string, std::string> slow{{"FF_TEST_ENGINE_STEPS", "5"},
                                                {"FF_TEST_ENGINE_STEP_MS", "40"}};
  for (int i = 0; i < 3; ++i) f.start_worker(i, slow, 2);
  f.pg.psql("INSERT INTO framefarm.jobs (prompt, params) SELECT 'kill test ' || g, "
            "'{\"num_inference_steps\": 5}' FROM generate_series(1, 60) g");
  const bool running = ff::test::eventually(
      [&] { return f.count("state = 'running' AND lease_worker = 'e2e-worker-0'") > 0; }, 20000ms);
  INFO(f.diagnostics());
  REQUIRE(running);
  f.workers[0]->signal(SIGKILL);
  CHECK(f.workers[0]->wait(5000ms) == 128 + SIGKILL);
  const bool done = ff::test::eventually([&] { return f.count("state = 'succeeded'") == 60; }, 45000ms);
  REQUIRE(done);
  const auto r = rows(f);
  const auto logged = f.results_logged();
  int retried = 0;
  for (const auto& [id, sa] : r) {
    CHECK(sa.first == "succeeded");
    const auto it = logged.find(id);
    REQUIRE(it != logged.end());
    // An engine may have finished a job whose result died with its supervisor: only then twice.
    CHECK(it->second <= sa.second);
    if (sa.second > 1) ++retried;
  }
  CHECK(retried >= 1);  // the job running on the killed worker went around again
  CHECK(f.count("state <> 'succeeded'") == 0);
  // The survivors finished everything after the kill; the killed worker's engine is gone too.
  CHECK(f.workers[1]->running());
  CHECK(f.workers[2]->running());
}

TEST_CASE("engine crash, hang and OOM through the real dispatcher: retried or failed with a reason") {
  Farm f;
  ff::test::TempDir once("ff-fault-once");
  // Every engine crashes (or hangs) on its prompt until one of them has done so once (shared
  // marker files), so each of those jobs fails exactly once and then succeeds anywhere; every
  // engine runs out of memory on 'always oom', every time.
  const std::map<std::string, std::string> faults{
      {"FF_TEST_ENGINE_CRASH_PROMPT", "crash once"}, {"FF_TEST_ENGINE_HANG_PROMPT", "hang once"},
      {"FF_TEST_ENGINE_OOM_PROMPT", "always oom"}, {"FF_TEST_ENGINE_FAULT_ONCE_DIR", once.path()},
      {"FF_TEST_ENGINE_FAULT_ONCE_KINDS", "CRASH,HANG"}};
  for (int i = 0; i < 3; ++i) f.start_worker(i, faults);
  f.pg.psql("INSERT INTO framefarm.jobs (prompt, max_attempts) VALUES "
            "('crash once', 3), ('hang once', 3), ('always oom', 2)");
  f.pg.psql("INSERT INTO framefarm.jobs (prompt) SELECT 'healthy ' || g FROM generate_series(1, 20) g");
  const bool settled = ff::test::eventually(
      [&] { return f.count("state IN ('succeeded', 'dead')") == 23; }, 45000ms);
  INFO(f.diagnostics());
  REQUIRE(settled);
  CHECK(f.count("state = 'succeeded' AND prompt LIKE 'healthy %'") == 20);
  CHECK(f.pg.psql("SELECT state || ' ' || attempts || ' ' || error_kind FROM framefarm.jobs "
                  "WHERE prompt = 'always oom'") == "dead 2 out_of_memory\n");
  CHECK(f.pg.psql("SELECT position('out of memory' IN error) > 0 FROM framefarm.jobs "
                  "WHERE prompt = 'always oom'") == "t\n");
  CHECK(f.pg.psql("SELECT state || ' ' || attempts FROM framefarm.jobs WHERE prompt = 'crash once'") ==
        "succeeded 2\n");
  CHECK(f.pg.psql("SELECT state || ' ' || attempts FROM framefarm.jobs WHERE prompt = 'hang once'") ==
        "succeeded 2\n");
  for (const auto& w : f.workers) CHECK(w->running());
}

TEST_CASE("kill -9 of a worker's dispatcher: the worker registers with the next one, which adopts its running job") {
  // Dispatcher 1 beats every 2 s: the worker presumes it dead after 3 silent intervals (6 s); the
  // other dispatcher takes its leases over only after 4 (8 s), and lease expiry is far away. So
  // the worker reaches dispatcher 2 first, and the job it runs keeps its lease (no second run).
  Farm f(2000, {}, 60000);
  const std::string second = f.start_second_dispatcher();
  f.start_worker(0, {{"FF_TEST_ENGINE_STEPS", "60"}, {"FF_TEST_ENGINE_STEP_MS", "200"}}, 1, "", {second});
  f.pg.psql("INSERT INTO framefarm.jobs (prompt, params) VALUES ('failover', '{\"num_inference_steps\": 60}')");
  const bool running = ff::test::eventually([&] { return f.count("state = 'running'") == 1; }, 20000ms);
  INFO(f.diagnostics());
  REQUIRE(running);
  f.dispatcher->signal(SIGKILL);
  CHECK(f.dispatcher->wait(5000ms) == 128 + SIGKILL);
  const bool done = ff::test::eventually([&] { return f.count("state = 'succeeded'") == 1; }, 45000ms);
  INFO(f.diagnostics());
  REQUIRE(done);
  // One attempt, run once by the engine, completed through dispatcher 2.
  CHECK(f.pg.psql("SELECT attempts FROM framefarm.jobs") == "1\n");
  const auto logged = f.results_logged();
  REQUIRE(logged.size() == 1);
  CHECK(logged.begin()->second == 1);
  CHECK(ff::test::read_file(f.dir.path() + "/worker-0.log").find("registering with " + second) != std::string::npos);
  CHECK(ff::test::read_file(f.dir.path() + "/dispatcher-2.log").find("is dead") == std::string::npos);
}
