// pg: the dispatcher against a real PostgreSQL and real ZeroMQ, in-process: claim/lease/epoch
// fencing, progress, results, hand-back, cancel, retry. (Rescue: test_pg_rescue.cpp; routing,
// the embedding cache, the workers table, CLI and media: test_pg_routing.cpp.)
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

TEST_CASE("jobs are claimed in priority order, leased under fresh epochs, results fenced") {
  DispatcherEnv env;
  int64_t low = env.insert("(prompt, priority) VALUES ('low', 0)");
  int64_t high = env.insert("(prompt, priority, params) VALUES ('high', 9, '{\"width\": 256, \"seed\": 5}')");
  int64_t mid = env.insert("(prompt, priority) VALUES ('mid', 5)");
  RunningDispatcher d(env.ctx, env.config("d1"));
  SimWorker w(env.ctx, d.endpoint());
  REQUIRE(w.register_as("w1", 2));
  auto j1 = w.recv_until<proto::Job>(5s);
  auto j2 = w.recv_until<proto::Job>(5s);
  REQUIRE(j1);
  REQUIRE(j2);
  std::set<int64_t> got{j1->job_id, j2->job_id};
  CHECK(got == std::set<int64_t>{high, mid});
  proto::Job jh = j1->job_id == high ? *j1 : *j2;
  proto::Job jm = j1->job_id == high ? *j2 : *j1;
  CHECK(jh.prompt == "high");
  CHECK(jh.params.width == 256);
  CHECK(jh.params.height == 1024);  // default (LTX-2.3)
  CHECK(jh.params.seed == 5);
  CHECK(jh.attempt == 1);
  CHECK(jh.epoch != jm.epoch);
  CHECK(jh.enqueued_unix_us > 0);
  CHECK(env.state_of(high) == "leased");
  CHECK(env.q("SELECT lease_owner FROM framefarm.jobs WHERE id = " + std::to_string(high)) == "d1");
  CHECK(env.q("SELECT lease_epoch FROM framefarm.jobs WHERE id = " + std::to_string(high)) == std::to_string(jh.epoch));
  CHECK(env.state_of(low) == "queued");  // no credit left

  w.send(proto::Progress{jh.job_id, jh.epoch, "stage1", 3, 10});
  CHECK(env.wait_state(high, "running") == "running");
  CHECK(env.q("SELECT lease_worker || '/' || phase || '/' || step FROM framefarm.jobs WHERE id = " + std::to_string(high)) ==
        "w1/stage1/3");

  // A result under a wrong epoch is discarded; the right one applies.
  proto::Result bad;
  bad.job_id = jm.job_id;
  bad.epoch = jm.epoch + 1000;
  bad.ok = true;
  w.send(bad);
  proto::Result ok;
  ok.job_id = jh.job_id;
  ok.epoch = jh.epoch;
  ok.ok = true;
  ok.output_path = "/out/high.y4m";
  ok.timings_s["stage1"] = 1.5;
  ok.peak_vram_bytes["stage1"] = 1234;
  w.send(ok);
  CHECK(env.wait_state(high, "succeeded") == "succeeded");
  CHECK(env.q("SELECT result->>'output_path' FROM framefarm.jobs WHERE id = " + std::to_string(high)) == "/out/high.y4m");
  CHECK(env.q("SELECT result->'peak_vram_bytes'->>'stage1' FROM framefarm.jobs WHERE id = " + std::to_string(high)) == "1234");
  CHECK(env.state_of(mid) == "leased");
  CHECK(d.stats().results_discarded_total.load() >= 1);
  // The same result again (duplicate) is discarded too.
  w.send(ok);
  w.send(proto::Credit{1});
  auto j3 = w.recv_until<proto::Job>(5s);
  REQUIRE(j3);
  CHECK(j3->job_id == low);
  CHECK(env.state_of(high) == "succeeded");
}

TEST_CASE("failed results: retryable with backoff, non-retryable dead, max_attempts dead") {
  DispatcherEnv env;
  int64_t a = env.insert("(prompt, max_attempts) VALUES ('oom', 2)");
  RunningDispatcher d(env.ctx, env.config("d1"));
  SimWorker w(env.ctx, d.endpoint());
  REQUIRE(w.register_as("w1", 1));
  auto j = w.recv_until<proto::Job>(5s);
  REQUIRE(j);
  proto::Result r;
  r.job_id = a;
  r.epoch = j->epoch;
  r.error_kind = proto::ErrorKind::kOutOfMemory;
  r.error_message = "CUDA out of memory";
  w.send(r);
  CHECK(env.wait_state(a, "retry_wait") == "retry_wait");
  CHECK(env.q("SELECT error_kind || ':' || error FROM framefarm.jobs WHERE id = " + std::to_string(a)) ==
        "out_of_memory:CUDA out of memory");
  w.send(proto::Credit{1});
  auto j2 = w.recv_until<proto::Job>(5s);  // after the backoff (50..100 ms)
  REQUIRE(j2);
  CHECK(j2->job_id == a);
  CHECK(j2->attempt == 2);
  CHECK(j2->epoch > j->epoch);
  r.epoch = j2->epoch;
  w.send(r);
  CHECK(env.wait_state(a, "dead") == "dead");
  CHECK(env.q("SELECT error FROM framefarm.jobs WHERE id = " + std::to_string(a)).find("attempt 2 of 2") != std::string::npos);

  int64_t b = env.insert("(prompt) VALUES ('bad input')");
  w.send(proto::Credit{1});
  auto j3 = w.recv_until<proto::Job>(5s);
  REQUIRE(j3);
  CHECK(j3->job_id == b);
  proto::Result bi;
  bi.job_id = b;
  bi.epoch = j3->epoch;
  bi.error_kind = proto::ErrorKind::kBadInput;
  bi.error_message = std::string("bad \xff bytes\0!", 13);  // sanitised, not fatal to the batch
  w.send(bi);
  CHECK(env.wait_state(b, "dead") == "dead");
  CHECK(env.q("SELECT error FROM framefarm.jobs WHERE id = " + std::to_string(b)) == "bad \xEF\xBF\xBD bytes\xEF\xBF\xBD!");
}

TEST_CASE("hand-back requeues without using an attempt") {
  DispatcherEnv env;
  int64_t a = env.insert("(prompt) VALUES ('x')");
  RunningDispatcher d(env.ctx, env.config("d1"));
  SimWorker w(env.ctx, d.endpoint());
  REQUIRE(w.register_as("w1", 1));
  auto j = w.recv_until<proto::Job>(5s);
  REQUIRE(j);
  w.send(proto::HandBack{a, j->epoch});
  w.send(proto::Credit{1});
  auto j2 = w.recv_until<proto::Job>(5s);
  REQUIRE(j2);
  CHECK(j2->job_id == a);
  CHECK(j2->attempt == 1);  // the hand-back did not use an attempt
  CHECK(j2->epoch != j->epoch);
  // A result for the handed-back epoch is late: discarded.
  proto::Result late;
  late.job_id = a;
  late.epoch = j->epoch;
  late.ok = true;
  w.send(late);
  std::this_thread::sleep_for(200ms);
  CHECK(env.state_of(a) == "leased");
}

TEST_CASE("cancel: queued at once, running via a Cancel message and a cancelled result") {
  DispatcherEnv env;
  int64_t q = env.insert("(prompt, run_after) VALUES ('later', now() + interval '1 hour')");
  std::ostringstream out, err;
  CHECK(dispatcher::cli_main({"cancel", std::to_string(q), "--database", env.pg.url()}, out, err) == dispatcher::kExitOk);
  CHECK(env.state_of(q) == "cancelled");
  CHECK(dispatcher::cli_main({"cancel", std::to_string(q), "--database", env.pg.url()}, out, err) == dispatcher::kExitOk);
  int64_t done = env.insert("(prompt, state) VALUES ('done', 'succeeded')");
  CHECK(dispatcher::cli_main({"cancel", std::to_string(done), "--database", env.pg.url()}, out, err) ==
        dispatcher::kExitRejected);
  CHECK(err.str().find("already ended as succeeded") != std::string::npos);
  CHECK(dispatcher::cli_main({"cancel", "999999", "--database", env.pg.url()}, out, err) == dispatcher::kExitNotFound);

  int64_t r = env.insert("(prompt) VALUES ('run')");
  RunningDispatcher d(env.ctx, env.config("d1"));
  SimWorker w(env.ctx, d.endpoint());
  REQUIRE(w.register_as("w1", 1));
  auto j = w.recv_until<proto::Job>(5s);
  REQUIRE(j);
  w.send(proto::Progress{r, j->epoch, "stage1", 1, 30});
  CHECK(env.wait_state(r, "running") == "running");
  std::ostringstream out2, err2;
  CHECK(dispatcher::cli_main({"cancel", std::to_string(r), "--json", "--database", env.pg.url()}, out2, err2) ==
        dispatcher::kExitOk);
  CHECK(out2.str().find("\"cancel_requested\":true") != std::string::npos);
  auto c = w.recv_until<proto::Cancel>(5s);
  REQUIRE(c);
  CHECK(c->job_id == r);
  CHECK(c->epoch == j->epoch);
  proto::Result res;
  res.job_id = r;
  res.epoch = j->epoch;
  res.error_kind = proto::ErrorKind::kCancelled;
  res.error_message = "cancelled at step 2";
  w.send(res);
  CHECK(env.wait_state(r, "cancelled") == "cancelled");
}

TEST_CASE("retry requeues dead/cancelled jobs with attempts reset, refuses others") {
  DispatcherEnv env;
  int64_t a = env.insert("(prompt, state, attempts, error) VALUES ('x', 'dead', 3, 'boom')");
  int64_t s = env.insert("(prompt, state) VALUES ('y', 'succeeded')");
  std::ostringstream out, err;
  CHECK(dispatcher::cli_main({"retry", std::to_string(a), "--database", env.pg.url()}, out, err) == dispatcher::kExitOk);
  CHECK(env.q("SELECT state || '/' || attempts || '/' || coalesce(error, '-') FROM framefarm.jobs WHERE id = " +
              std::to_string(a)) == "queued/0/-");
  CHECK(dispatcher::cli_main({"retry", std::to_string(s), "--database", env.pg.url()}, out, err) == dispatcher::kExitRejected);
  CHECK(err.str().find("only dead, cancelled or retry_wait jobs can be retried") != std::string::npos);
  RunningDispatcher d(env.ctx, env.config("d1"));
  SimWorker w(env.ctx, d.endpoint());
  REQUIRE(w.register_as("w1", 1));
  auto j = w.recv_until<proto::Job>(5s);
  REQUIRE(j);
  CHECK(j->job_id == a);
  CHECK(j->attempt == 1);
}
