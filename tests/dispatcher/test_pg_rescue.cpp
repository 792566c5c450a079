// pg: rescue, in-process against a real PostgreSQL and real ZeroMQ: a silent worker is dead
// (started jobs retried at once in their place, unstarted ones back unused), expired leases of a
// dead dispatcher, stop (the SIGTERM path), a database restart.
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

TEST_CASE("a worker silent for 3 heartbeat intervals is dead: started jobs retried at once in their place, unstarted ones back unused, dead at max") {
  DispatcherEnv env;
  auto cfg = env.config("d1");
  cfg.heartbeat_interval_ms = 100;
  cfg.retry_backoff = {60000, 60000};  // a backoff would hold the job back for a minute
  int64_t a = env.insert("(prompt, max_attempts, priority) VALUES ('x', 2, 1)");
  int64_t b = env.insert("(prompt, max_attempts, priority) VALUES ('y', 2, 0)");
  RunningDispatcher d(env.ctx, cfg);
  SimWorker w1(env.ctx, d.endpoint());
  REQUIRE(w1.register_as("w1", 2));
  auto j = w1.recv_until<proto::Job>(5s);
  REQUIRE(j);
  REQUIRE(w1.recv_until<proto::Job>(5s));
  proto::Job ja = *j;
  if (ja.job_id != a) ja.job_id = a, ja.epoch = std::stoll(env.q("SELECT lease_epoch FROM framefarm.jobs WHERE id = " + std::to_string(a)));
  w1.send(proto::Progress{a, ja.epoch, "stage1", 1, 10});  // a started, b did not
  CHECK(env.wait_state(a, "running", 5s) == "running");
  // w1 now says nothing: after ~300 ms it is dead. The fault was the worker's: no backoff.
  CHECK(env.wait_state(a, "retry_wait", 5s) == "retry_wait");
  CHECK(env.q("SELECT attempts || '/' || error_kind || '/' || (run_after > now()) FROM framefarm.jobs WHERE id = " +
              std::to_string(a)) == "1/worker_lost/false");
  CHECK(env.q("SELECT state || '/' || attempts FROM framefarm.jobs WHERE id = " + std::to_string(b)) == "queued/0");
  CHECK(d.stats().workers_dead_total.load() == 1);
  CHECK(env.wait_for("SELECT status FROM framefarm.workers WHERE worker_id = 'w1'", "dead") == "dead");
  // A late result from the dead worker's session is dropped (its epoch is no longer leased).
  proto::Result late;
  late.job_id = a;
  late.epoch = ja.epoch;
  late.ok = true;
  w1.send(late);
  // A job of the same priority inserted now queues behind a: a kept its place.
  int64_t c = env.insert("(prompt, priority) VALUES ('z', 1)");
  SimWorker w2(env.ctx, d.endpoint());
  REQUIRE(w2.register_as("w2", 1));
  auto j2 = w2.recv_until<proto::Job>(5s);
  REQUIRE(j2);
  CHECK(j2->job_id == a);
  CHECK(j2->attempt == 2);
  CHECK(env.state_of(a) == "leased");
  CHECK(env.state_of(c) == "queued");
  // w2 starts it and dies as well: max_attempts reached -> dead.
  w2.send(proto::Progress{a, j2->epoch, "stage1", 1, 10});
  CHECK(env.wait_state(a, "dead", 5s) == "dead");
  CHECK(env.q("SELECT error_kind FROM framefarm.jobs WHERE id = " + std::to_string(a)) == "worker_lost");
}

TEST_CASE("expired leases of a dispatcher that died are requeued by another dispatcher") {
  DispatcherEnv env;
  int64_t a = env.insert("(prompt) VALUES ('orphan')");
  env.exec("UPDATE framefarm.jobs SET state = 'leased', attempts = 1, lease_owner = 'ghost', "
           "lease_epoch = nextval('framefarm.lease_epoch_seq'), lease_expires_at = now() - interval '1 second' "
           "WHERE id = " + std::to_string(a));
  RunningDispatcher d(env.ctx, env.config("d2"));
  SimWorker w(env.ctx, d.endpoint());
  REQUIRE(w.register_as("w1", 1));
  auto j = w.recv_until<proto::Job>(5s);
  REQUIRE(j);
  CHECK(j->job_id == a);
  CHECK(j->attempt == 2);
  CHECK(env.q("SELECT lease_owner FROM framefarm.jobs WHERE id = " + std::to_string(a)) == "d2");
}

TEST_CASE("stop (SIGTERM path): unstarted jobs handed back unused, running ones finish within grace") {
  DispatcherEnv env;
  int64_t a = env.insert("(prompt, priority) VALUES ('a', 2)");
  int64_t b = env.insert("(prompt, priority) VALUES ('b', 1)");
  auto cfg = env.config("d1");
  cfg.shutdown_grace_ms = 5000;
  auto d = std::make_unique<RunningDispatcher>(env.ctx, cfg);
  SimWorker w(env.ctx, d->endpoint());
  REQUIRE(w.register_as("w1", 2));
  auto j1 = w.recv_until<proto::Job>(5s);
  auto j2 = w.recv_until<proto::Job>(5s);
  REQUIRE(j1);
  REQUIRE(j2);
  proto::Job ja = j1->job_id == a ? *j1 : *j2;
  proto::Job jb = j1->job_id == a ? *j2 : *j1;
  w.send(proto::Progress{a, ja.epoch, "stage1", 1, 2});
  CHECK(env.wait_state(a, "running") == "running");
  std::thread stopper([&] { d->stop(); });
  auto c = w.recv_until<proto::Cancel>(5s);  // the unstarted job must not start
  REQUIRE(c);
  CHECK(c->job_id == b);
  CHECK(env.wait_state(b, "queued") == "queued");
  CHECK(env.q("SELECT attempts FROM framefarm.jobs WHERE id = " + std::to_string(b)) == "0");
  proto::Result ok;
  ok.job_id = a;
  ok.epoch = ja.epoch;
  ok.ok = true;
  w.send(ok);
  stopper.join();
  CHECK(env.state_of(a) == "succeeded");
  CHECK(env.q("SELECT status FROM framefarm.workers WHERE worker_id = 'w1'") == "gone");
}

TEST_CASE("a database restart loses and duplicates nothing") {
  DispatcherEnv env;
  auto cfg = env.config("d1");
  RunningDispatcher d(env.ctx, cfg);
  test::SimOptions opt;
  opt.workers = 3;
  opt.slots = 4;
  opt.work_ms = 5;
  opt.send_progress = true;
  test::SimFleet fleet(env.ctx, d.endpoint(), opt);
  fleet.start();
  env.exec("INSERT INTO framefarm.jobs (prompt) SELECT 'p' || g FROM generate_series(1, 150) g");
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (fleet.results_sent() < 40 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  env.pg.restart();
  env.exec("INSERT INTO framefarm.jobs (prompt) SELECT 'q' || g FROM generate_series(1, 100) g");
  CHECK(env.wait_for("SELECT count(*) FROM framefarm.jobs WHERE state = 'succeeded'", "250", 30s) == "250");
  fleet.stop();
  auto got = fleet.received();
  std::map<int64_t, int> times;
  for (auto& r : got) times[r.job_id]++;
  CHECK(times.size() == 250);
  int dup = 0;
  for (auto& [id, n] : times) dup += n > 1;
  CHECK(dup == 0);
  CHECK(env.q("SELECT count(*) FROM framefarm.jobs WHERE attempts <> 1") == "0");
  CHECK(d.stats().db_reconnects_total.load() >= 1);
}
