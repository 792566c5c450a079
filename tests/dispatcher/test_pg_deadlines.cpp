// pg: per-model default deadlines (schema/010_model_deadlines.sql): the attempt's deadline is the
// job's deadline_ms, else its model's row in framefarm.model_deadlines, else the dispatcher's
// --job-deadline-ms; bad values are refused when written, with a message naming the value.
// Assertions are on states, messages and which jobs get a Cancel (never on durations).
#include <doctest/doctest.h>

#include "tests/dispatcher/dispatcher_env.hpp"
#include "tests/dispatcher/sim_worker.hpp"

using namespace ff;
using namespace std::chrono_literals;
using test::DispatcherEnv;
using test::RunningDispatcher;
using test::SimWorker;

namespace {
}  // namespace

TEST_CASE("deadlines are validated when written: per job and per model, the message names the value and the range") {
  DispatcherEnv env;
  CHECK_THROWS_WITH(env.exec("INSERT INTO framefarm.jobs (prompt, deadline_ms) VALUES ('x', 50)"),
                    doctest::Contains("framefarm.jobs: deadline_ms = 50 is out of range [100, 2592000000] (100 ms .. 30 days)"));
  CHECK_THROWS_WITH(env.exec("INSERT INTO framefarm.jobs (prompt, deadline_ms) VALUES ('x', 2592000001)"),
                    doctest::Contains("deadline_ms = 2592000001 is out of range"));
  int64_t ok = env.insert("(prompt, deadline_ms) VALUES ('x', 100)");
  CHECK_THROWS_WITH(env.exec("UPDATE framefarm.jobs SET deadline_ms = -1 WHERE id = " + std::to_string(ok)),
                    doctest::Contains("deadline_ms = -1 is out of range"));
  CHECK_THROWS_WITH(env.exec("INSERT INTO framefarm.model_deadlines (model, deadline_ms) VALUES ('ltx-2.3', 0)"),
                    doctest::Contains("framefarm.model_deadlines: deadline_ms = 0 for model \"ltx-2.3\" is out of range [100, 2592000000]"));
  CHECK_THROWS_WITH(env.exec("INSERT INTO framefarm.model_deadlines (model, deadline_ms) VALUES ('ltx-2.3', NULL)"),
                    doctest::Contains("deadline_ms"));
  env.exec("INSERT INTO framefarm.model_deadlines (model, deadline_ms) VALUES ('ltx-2.3', 1800000)");
  CHECK_THROWS_WITH(env.exec("UPDATE framefarm.model_deadlines SET deadline_ms = 99 WHERE model = 'ltx-2.3'"),
                    doctest::Contains("deadline_ms = 99 for model \"ltx-2.3\" is out of range"));
  CHECK(env.q("SELECT deadline_ms FROM framefarm.model_deadlines WHERE model = 'ltx-2.3'") == "1800000");
  // A submitter may read the defaults but not change them; the dispatcher role (operators) may.
  CHECK(env.q("SELECT has_table_privilege('framefarm_submitter', 'framefarm.model_deadlines', 'SELECT')") == "t");
  CHECK(env.q("SELECT has_table_privilege('framefarm_submitter', 'framefarm.model_deadlines', 'UPDATE')") == "f");
  CHECK(env.q("SELECT has_table_privilege('framefarm_dispatcher', 'framefarm.model_deadlines', 'UPDATE')") == "t");
}

TEST_CASE("the model's default deadline applies to its jobs, a job's own deadline overrides it, other models keep the dispatcher's") {
  DispatcherEnv env;
  env.exec("INSERT INTO framefarm.model_deadlines (model, deadline_ms) VALUES ('fast-model', 300)");
  auto cfg = env.config("d1");
  cfg.retry_backoff = {50, 50};
  cfg.job_deadline_ms = 0;  // no dispatcher default: only the job's or the model's apply
  // Priorities fix the order in which the one-slot worker gets them.
  int64_t by_model = env.insert("(prompt, model, max_attempts, priority) VALUES ('model default', 'fast-model', 1, 3)");
  int64_t own = env.insert("(prompt, model, deadline_ms, priority) VALUES ('own deadline', 'fast-model', 2592000000, 2)");
  int64_t other = env.insert("(prompt, model, priority) VALUES ('other model', 'slow-model', 1)");
  RunningDispatcher d(env.ctx, cfg);

  SimWorker w(env.ctx, d.endpoint());
  REQUIRE(w.register_as("w-fast", 1, "fast-model"));
  auto j = w.recv_alive<proto::Job>(5s);
  REQUIRE(j);
  CHECK(j->job_id == by_model);
  w.send(proto::Progress{by_model, j->epoch, "stage1", 1, 100});
  auto c = w.recv_alive<proto::Cancel>(10s);  // never finishes: the model's 300 ms apply
  REQUIRE(c);
  CHECK(c->job_id == by_model);
  CHECK(env.wait_for("SELECT state || '/' || error_kind FROM framefarm.jobs WHERE id = " + std::to_string(by_model),
                     "dead/deadline_exceeded") == "dead/deadline_exceeded");
  proto::Result stopped;
  stopped.job_id = by_model;
  stopped.epoch = j->epoch;
  stopped.error_kind = proto::ErrorKind::kCancelled;
  w.send(stopped);
  w.send(proto::Credit{1});

  // The job's own 30 days override the model's 300 ms: no Cancel while it runs.
  auto j2 = w.recv_alive<proto::Job>(5s);
  REQUIRE(j2);
  CHECK(j2->job_id == own);
  w.send(proto::Progress{own, j2->epoch, "stage1", 1, 100});
  CHECK_FALSE(w.recv_alive<proto::Cancel>(1500ms));
  CHECK(env.q("SELECT state FROM framefarm.jobs WHERE id = " + std::to_string(own)) == "running");

  // A model without a row: the dispatcher's default (none here), so no Cancel either.
  SimWorker w2(env.ctx, d.endpoint());
  REQUIRE(w2.register_as("w-slow", 1, "slow-model"));
  auto j3 = w2.recv_alive<proto::Job>(5s);
  REQUIRE(j3);
  CHECK(j3->job_id == other);
  w2.send(proto::Progress{other, j3->epoch, "stage1", 1, 100});
  int cancels = 0;
  for (int i = 0; i < 15; ++i) {  // both workers alive and busy for a while
    for (SimWorker* x : {&w, &w2}) {
      auto m = x->recv(50ms);
      x->send(proto::Heartbeat{0});
      cancels += m && std::holds_alternative<proto::Cancel>(*m);
    }
  }
  CHECK(cancels == 0);
  CHECK(env.q("SELECT state FROM framefarm.jobs WHERE id = " + std::to_string(other)) == "running");
  CHECK(env.q("SELECT state FROM framefarm.jobs WHERE id = " + std::to_string(own)) == "running");
  CHECK(d.stats().deadlines_exceeded_total.load() == 1);
}
