// pg: queue hardening (issue 10) against a real PostgreSQL and real ZeroMQ, in-process:
// liveness while SQL is blocked by a table lock, no claim storm toward a vanished worker,
// per-job deadlines, results accepted across a dispatcher restart, fast rescue of a dead worker's
// jobs. Assertions are on counts and states (never on how long something took).
#include <doctest/doctest.h>

#include <map>
#include <set>
#include <sstream>

#include "dispatcher/cli.hpp"

#include "tests/dispatcher/dispatcher_env.hpp"
#include "tests/dispatcher/sim_worker.hpp"

using namespace ff;
using namespace std::chrono_literals;
using test::DispatcherEnv;
using test::RunningDispatcher;
using test::SimWorker;

namespace {
std::string wait_state(const DispatcherEnv& env, int64_t id, const std::string& want,
                       std::chrono::milliseconds t = 10s) {
  return env.wait_for("SELECT state FROM framefarm.jobs WHERE id = " + std::to_string(id), want, t);
}
// Lease epochs handed out so far (the sequence's last value, 0 before the first claim).
int64_t epochs_used(const DispatcherEnv& env) {
  return std::stoll(env.q("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM framefarm.lease_epoch_seq"));
}
int duplicates(const std::vector<test::SimReceived>& got, size_t& distinct) {
  std::map<int64_t, int> times;
  for (auto& r : got) times[r.job_id]++;
  distinct = times.size();
  int dup = 0;
  for (auto& [id, n] : times) dup += n > 1;
  return dup;
}
}  // namespace

TEST_CASE("a table lock blocks SQL for seconds: no live worker declared dead, no job twice, no attempt used") {
  DispatcherEnv env;
  auto cfg = env.config("d1");
  cfg.heartbeat_interval_ms = 500;   // a worker silent 1.5 s would be dead; the lock holds 4 s
  cfg.pg.statement_timeout_ms = 1500;  // blocked statements are cancelled and retried meanwhile
  RunningDispatcher d(env.ctx, cfg);
  test::SimOptions opt;
  opt.workers = 3;
  opt.slots = 2;
  opt.work_ms = 20;
  opt.send_progress = true;
  opt.heartbeat_interval_ms = 100;
  test::SimFleet fleet(env.ctx, d.endpoint(), opt);
  fleet.start();
  env.exec("INSERT INTO framefarm.jobs (prompt) SELECT 'p' || g FROM generate_series(1, 400) g");
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (fleet.results_sent() < 30 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  REQUIRE(fleet.results_sent() >= 30);
  {
    pqxx::connection c(env.pg.url());
    pqxx::work tx(c);
    tx.exec("LOCK TABLE framefarm.jobs IN ACCESS EXCLUSIVE MODE");
    std::this_thread::sleep_for(4s);
    tx.commit();
  }
  CHECK(env.wait_for("SELECT count(*) FROM framefarm.jobs WHERE state = 'succeeded'", "400", 60s) == "400");
  fleet.stop();
  CHECK(d.stats().workers_dead_total.load() == 0);
  // The dispatcher kept heartbeating through the lock: no worker had reason to presume it dead.
  CHECK(fleet.max_dispatcher_gap_ms() < cfg.heartbeat_interval_ms * cfg.heartbeat_misses_dead);
  size_t distinct = 0;
  CHECK(duplicates(fleet.received(), distinct) == 0);
  CHECK(distinct == 400);
  CHECK(env.q("SELECT count(*) FROM framefarm.jobs WHERE attempts <> 1") == "0");
  CHECK(env.q("SELECT count(*) FROM framefarm.workers WHERE status <> 'alive'") == "0");
}

TEST_CASE("a worker whose connection vanished gets no claim storm: each job leased toward it at most once, no attempt used") {
  DispatcherEnv env;
  auto cfg = env.config("d1");
  cfg.heartbeat_interval_ms = 1000;  // the silence rule alone would wait 3 s
  RunningDispatcher d(env.ctx, cfg);
  {
    SimWorker ghost(env.ctx, d.endpoint());
    REQUIRE(ghost.register_as("ghost", 50));
  }  // socket closed: the connection is gone, the session not yet dead by silence
  std::this_thread::sleep_for(100ms);
  const int64_t before = epochs_used(env);
  env.exec("INSERT INTO framefarm.jobs (prompt) SELECT 'p' || g FROM generate_series(1, 20) g");
  std::this_thread::sleep_for(1500ms);
  // Old behaviour: the failed send did not spend the slot, the same jobs were claimed and handed
  // back in a loop (thousands of epochs). Now: at most one lease per job, then none.
  CHECK(epochs_used(env) - before <= 20);
  CHECK(env.q("SELECT count(*) FROM framefarm.jobs WHERE state = 'queued' AND attempts = 0") == "20");
  test::SimOptions opt;
  opt.workers = 1;
  opt.slots = 4;
  test::SimFleet fleet(env.ctx, d.endpoint(), opt);
  fleet.start();
  CHECK(env.wait_for("SELECT count(*) FROM framefarm.jobs WHERE state = 'succeeded'", "20", 20s) == "20");
  fleet.stop();
  CHECK(epochs_used(env) - before <= 40);
  CHECK(env.q("SELECT count(*) FROM framefarm.jobs WHERE attempts <> 1") == "0");
}

TEST_CASE("a job running past its deadline on a live worker is cancelled there, retried, then dead with deadline_exceeded") {
  DispatcherEnv env;
  CHECK_THROWS_WITH(env.exec("INSERT INTO framefarm.jobs (prompt, deadline_ms) VALUES ('x', 50)"),
                    doctest::Contains("deadline_ms = 50 is out of range [100, 2592000000] (100 ms .. 30 days)"));
  auto cfg = env.config("d1");
  cfg.retry_backoff = {50, 50};
  cfg.job_deadline_ms = 0;  // no default: only the job's own deadline applies
  int64_t slow = env.insert("(prompt, max_attempts, deadline_ms, priority) VALUES ('slow', 2, 300, 1)");
  RunningDispatcher d(env.ctx, cfg);
  SimWorker w(env.ctx, d.endpoint());
  REQUIRE(w.register_as("w1", 1));
  auto j = w.recv_alive<proto::Job>(5s);
  REQUIRE(j);
  CHECK(j->job_id == slow);
  w.send(proto::Progress{slow, j->epoch, "stage1", 1, 100});
  auto c = w.recv_alive<proto::Cancel>(10s);  // the worker stays alive but never finishes
  REQUIRE(c);
  CHECK(c->job_id == slow);
  CHECK(c->epoch == j->epoch);
  CHECK(env.wait_for("SELECT state || '/' || attempts || '/' || error_kind FROM framefarm.jobs WHERE id = " +
                         std::to_string(slow), "retry_wait/1/deadline_exceeded") == "retry_wait/1/deadline_exceeded");
  CHECK(d.stats().workers_dead_total.load() == 0);
  // The worker stops it (its cancelled result for the old epoch is discarded) and frees the slot.
  proto::Result r;
  r.job_id = slow;
  r.epoch = j->epoch;
  r.error_kind = proto::ErrorKind::kCancelled;
  w.send(r);
  w.send(proto::Credit{1});
  auto j2 = w.recv_alive<proto::Job>(5s);
  REQUIRE(j2);
  CHECK(j2->job_id == slow);
  CHECK(j2->attempt == 2);
  REQUIRE(w.recv_alive<proto::Cancel>(10s));
  CHECK(wait_state(env, slow, "dead") == "dead");
  CHECK(env.q("SELECT error_kind FROM framefarm.jobs WHERE id = " + std::to_string(slow)) == "deadline_exceeded");
  CHECK(d.stats().deadlines_exceeded_total.load() == 2);
  CHECK(d.stats().attempts_failed.count("deadline_exceeded") == 2);  // both failed attempts, by reason
  CHECK(d.stats().loop_turns_total.load() > 0);
  // A job without a deadline on a dispatcher without a default is never cancelled.
  int64_t free_job = env.insert("(prompt) VALUES ('no deadline')");
  w.send(proto::Credit{1});
  auto j3 = w.recv_alive<proto::Job>(5s);
  REQUIRE(j3);
  CHECK(j3->job_id == free_job);
  CHECK_FALSE(w.recv_alive<proto::Cancel>(1s));
  CHECK(d.stats().deadlines_exceeded_total.load() == 2);
}

TEST_CASE("a worker re-registering from a new connection keeps the jobs it still holds, the others are requeued") {
  DispatcherEnv env;
  int64_t a = env.insert("(prompt, priority) VALUES ('kept', 1)");
  int64_t b = env.insert("(prompt, priority) VALUES ('dropped', 0)");
  RunningDispatcher d(env.ctx, env.config("d1"));
  SimWorker first(env.ctx, d.endpoint());
  REQUIRE(first.register_as("w1", 2));
  auto j1 = first.recv_until<proto::Job>(5s);
  auto j2 = first.recv_until<proto::Job>(5s);
  REQUIRE(j1);
  REQUIRE(j2);
  proto::Job ja = j1->job_id == a ? *j1 : *j2;
  proto::Job jb = j1->job_id == a ? *j2 : *j1;
  first.send(proto::Progress{a, ja.epoch, "stage1", 1, 10});
  first.send(proto::Progress{b, jb.epoch, "stage1", 1, 10});
  CHECK(env.wait_for("SELECT count(*) FROM framefarm.jobs WHERE state = 'running'", "2") == "2");
  SimWorker second(env.ctx, d.endpoint());
  proto::Register r;
  r.worker_id = "w1";
  r.free_slots = 0;
  r.held = {proto::HeldLease{a, ja.epoch, true}};  // b was lost with the old connection
  second.send(r);
  REQUIRE(second.recv_until<proto::Welcome>(5s));
  CHECK(wait_state(env, b, "retry_wait") == "retry_wait");
  CHECK(env.q("SELECT state || '/' || lease_epoch FROM framefarm.jobs WHERE id = " + std::to_string(a)) ==
        "running/" + std::to_string(ja.epoch));
  proto::Result ok;
  ok.job_id = a;
  ok.epoch = ja.epoch;
  ok.ok = true;
  second.send(ok);
  CHECK(wait_state(env, a, "succeeded") == "succeeded");
  CHECK(env.q("SELECT attempts FROM framefarm.jobs WHERE id = " + std::to_string(a)) == "1");
}

TEST_CASE("per-worker bounds: credit is capped at max_worker_slots, frames beyond the message rate are dropped") {
  DispatcherEnv env;
  auto cfg = env.config("d1");
  cfg.max_worker_slots = 2;
  cfg.max_worker_msgs_per_s = 100;
  env.exec("INSERT INTO framefarm.jobs (prompt) SELECT 'p' || g FROM generate_series(1, 10) g");
  RunningDispatcher d(env.ctx, cfg);
  SimWorker w(env.ctx, d.endpoint());
  REQUIRE(w.register_as("greedy", 50));
  int jobs = 0;
  auto count_jobs = [&](std::chrono::milliseconds t) {  // heartbeating: a live, busy worker
    auto end = std::chrono::steady_clock::now() + t;
    while (std::chrono::steady_clock::now() < end) {
      auto m = w.recv(100ms);
      w.send(proto::Heartbeat{0});
      if (m && std::holds_alternative<proto::Job>(*m)) ++jobs;
    }
  };
  count_jobs(1500ms);
  CHECK(jobs == 2);
  CHECK(env.q("SELECT count(*) FROM framefarm.jobs WHERE state = 'leased'") == "2");
  w.send(proto::Credit{1000});  // still capped
  for (int i = 0; i < 3000; ++i) w.send(proto::Heartbeat{0});  // a flood
  count_jobs(1500ms);
  CHECK(jobs == 2);
  CHECK(d.stats().workers_dead_total.load() == 0);
  CHECK(env.wait_for("SELECT (count(*) FILTER (WHERE state = 'leased'))::text FROM framefarm.jobs", "2") == "2");
  auto limited = [&] { return d.stats().frames_rate_limited_total.load(); };
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (limited() == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
  CHECK(limited() > 0);
  CHECK(limited() <= 3001);
}

TEST_CASE("retention: finished jobs older than the setting are deleted in small batches, the rest stay, autovacuum is tuned") {
  DispatcherEnv env;
  env.exec("INSERT INTO framefarm.jobs (prompt, state, finished_at) SELECT 'old ' || g, "
           "(ARRAY['succeeded','dead','cancelled'])[1 + g % 3]::framefarm.job_state, now() - interval '2 days' "
           "FROM generate_series(1, 25) g");
  env.exec("INSERT INTO framefarm.jobs (prompt, state, finished_at) SELECT 'recent ' || g, 'succeeded', "
           "now() - interval '1 hour' FROM generate_series(1, 5) g");
  env.exec("INSERT INTO framefarm.jobs (prompt, state, run_after, created_at) SELECT 'waiting ' || g, 'retry_wait', "
           "now() + interval '1 day', now() - interval '3 days' FROM generate_series(1, 4) g");
  auto cfg = env.config("d1");
  cfg.retention_ms = 86400000;  // 1 day
  cfg.retention_batch = 4;      // 25 old rows: several batches
  RunningDispatcher d(env.ctx, cfg);
  CHECK(env.wait_for("SELECT count(*) FROM framefarm.jobs WHERE prompt LIKE 'old %'", "0") == "0");
  CHECK(env.q("SELECT count(*) FROM framefarm.jobs WHERE prompt LIKE 'recent %'") == "5");
  CHECK(env.q("SELECT count(*) FROM framefarm.jobs WHERE prompt LIKE 'waiting %'") == "4");
  CHECK(d.stats().jobs_deleted_total.load() == 25);
  CHECK(env.q("SELECT array_to_string(reloptions, ',') FROM pg_class WHERE oid = 'framefarm.jobs'::regclass")
            .find("autovacuum_vacuum_scale_factor=0.01") != std::string::npos);
}

TEST_CASE("least-privilege roles: the dispatcher role runs the queue and the CLI, the worker role reaches only the embedding cache") {
  DispatcherEnv env;
  env.exec("CREATE ROLE disp LOGIN IN ROLE framefarm_dispatcher; CREATE ROLE wk LOGIN IN ROLE framefarm_worker");
  int64_t a = env.insert("(prompt) VALUES ('as disp')");
  env.exec("INSERT INTO framefarm.jobs (prompt, state, finished_at) VALUES ('ancient', 'succeeded', now() - interval '30 days')");
  auto cfg = env.config("d1");
  cfg.database_url = env.pg.url("postgres", "disp");
  RunningDispatcher d(env.ctx, cfg);
  SimWorker w(env.ctx, d.endpoint());
  REQUIRE(w.register_as("w1", 1));
  auto j = w.recv_until<proto::Job>(5s);
  REQUIRE(j);
  w.send(proto::Progress{a, j->epoch, "stage1", 1, 2});
  proto::Result ok;
  ok.job_id = a;
  ok.epoch = j->epoch;
  ok.ok = true;
  w.send(ok);
  CHECK(wait_state(env, a, "succeeded") == "succeeded");
  CHECK(env.wait_for("SELECT count(*) FROM framefarm.jobs WHERE prompt = 'ancient'", "0") == "0");  // retention
  CHECK(env.q("SELECT status FROM framefarm.workers WHERE worker_id = 'w1'") == "alive");
  // The operator CLI under the same role: submit, cancel, retry.
  std::ostringstream out, err;
  const std::string url = env.pg.url("postgres", "disp");
  REQUIRE(dispatcher::cli_main({"submit", "from cli", "--delay-ms", "600000", "--database", url}, out, err) == 0);
  const std::string id = env.q("SELECT id FROM framefarm.jobs WHERE prompt = 'from cli'");
  CHECK(dispatcher::cli_main({"cancel", id, "--database", url}, out, err) == 0);
  CHECK(dispatcher::cli_main({"retry", id, "--database", url}, out, err) == 0);
  CHECK(env.q("SELECT state FROM framefarm.jobs WHERE id = " + id) == "queued");
  auto denied = [](const std::string& url, const std::string& sql) {
    pqxx::connection c(url);
    pqxx::nontransaction tx(c);
    try {
      tx.exec(sql);
      return std::string("allowed");
    } catch (const pqxx::insufficient_privilege&) {
      return std::string("denied");
    }
  };
  // The dispatcher role cannot change the cache, the params table or the schema.
  CHECK(denied(url, "DELETE FROM framefarm.prompt_embeddings") == "denied");
  CHECK(denied(url, "UPDATE framefarm.job_param_keys SET doc = ''") == "denied");
  CHECK(denied(url, "ALTER TABLE framefarm.jobs ADD COLUMN x int") == "denied");
  // The worker role: the embedding cache only.
  const std::string wurl = env.pg.url("postgres", "wk");
  CHECK(denied(wurl, "INSERT INTO framefarm.prompt_embeddings (encoder_fingerprint, prompt_sha256, max_length, "
                     "real_tokens, dtype, video_shape, audio_shape, video, audio) VALUES ('fp', sha256('p'), 8, 1, "
                     "'bf16', '{1,2}', '{1,2}', '\\x00', '\\x00')") == "allowed");
  CHECK(denied(wurl, "UPDATE framefarm.prompt_embeddings SET last_used_at = now()") == "allowed");
  CHECK(denied(wurl, "DELETE FROM framefarm.prompt_embeddings") == "allowed");
  CHECK(denied(wurl, "SELECT prompt FROM framefarm.jobs") == "denied");
  CHECK(denied(wurl, "SELECT * FROM framefarm.workers") == "denied");
  CHECK(denied(wurl, "INSERT INTO framefarm.jobs (prompt) VALUES ('x')") == "denied");
}
