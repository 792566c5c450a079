// pg: the dispatcher against a real PostgreSQL and real ZeroMQ, in-process: claim/lease/epoch
// fencing, progress, hand-back, cancel, retry, worker death, lease expiry rescue, stop (SIGTERM
// path), reconnect after a database restart, cache-aware grouping, the workers table and CLI.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <map>
#include <set>
#include <sstream>

#include "common/json.hpp"
#include "dispatcher/cli.hpp"
#include "tests/dispatcher/dispatcher_env.hpp"
#include "tests/dispatcher/sim_worker.hpp"

using namespace ff;
using namespace std::chrono_literals;
using test::DispatcherEnv;
using test::RunningDispatcher;
using test::SimWorker;

namespace {
std::string state_of(const DispatcherEnv& env, int64_t id) {
  return env.q("SELECT state FROM framefarm.jobs WHERE id = " + std::to_string(id));
}
std::string wait_state(const DispatcherEnv& env, int64_t id, const std::string& want,
                       std::chrono::milliseconds t = 10s) {
  return env.wait_for("SELECT state FROM framefarm.jobs WHERE id = " + std::to_string(id), want, t);
}
int64_t insert(const DispatcherEnv& env, const std::string& values_sql) {
  return std::stoll(env.q("INSERT INTO framefarm.jobs " + values_sql + " RETURNING id"));
}
}  // namespace

TEST_CASE("jobs are claimed in priority order, leased under fresh epochs, results fenced") {
  DispatcherEnv env;
  int64_t low = insert(env, "(prompt, priority) VALUES ('low', 0)");
  int64_t high = insert(env, "(prompt, priority, params) VALUES ('high', 9, '{\"width\": 256, \"seed\": 5}')");
  int64_t mid = insert(env, "(prompt, priority) VALUES ('mid', 5)");
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
  CHECK(state_of(env, high) == "leased");
  CHECK(env.q("SELECT lease_owner FROM framefarm.jobs WHERE id = " + std::to_string(high)) == "d1");
  CHECK(env.q("SELECT lease_epoch FROM framefarm.jobs WHERE id = " + std::to_string(high)) == std::to_string(jh.epoch));
  CHECK(state_of(env, low) == "queued");  // no credit left

  w.send(proto::Progress{jh.job_id, jh.epoch, "stage1", 3, 10});
  CHECK(wait_state(env, high, "running") == "running");
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
  CHECK(wait_state(env, high, "succeeded") == "succeeded");
  CHECK(env.q("SELECT result->>'output_path' FROM framefarm.jobs WHERE id = " + std::to_string(high)) == "/out/high.y4m");
  CHECK(env.q("SELECT result->'peak_vram_bytes'->>'stage1' FROM framefarm.jobs WHERE id = " + std::to_string(high)) == "1234");
  CHECK(state_of(env, mid) == "leased");
  CHECK(d.stats().results_discarded_total.load() >= 1);
  // The same result again (duplicate) is discarded too.
  w.send(ok);
  w.send(proto::Credit{1});
  auto j3 = w.recv_until<proto::Job>(5s);
  REQUIRE(j3);
  CHECK(j3->job_id == low);
  CHECK(state_of(env, high) == "succeeded");
}

TEST_CASE("failed results: retryable with backoff, non-retryable dead, max_attempts dead") {
  DispatcherEnv env;
  int64_t a = insert(env, "(prompt, max_attempts) VALUES ('oom', 2)");
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
  CHECK(wait_state(env, a, "retry_wait") == "retry_wait");
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
  CHECK(wait_state(env, a, "dead") == "dead");
  CHECK(env.q("SELECT error FROM framefarm.jobs WHERE id = " + std::to_string(a)).find("attempt 2 of 2") != std::string::npos);

  int64_t b = insert(env, "(prompt) VALUES ('bad input')");
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
  CHECK(wait_state(env, b, "dead") == "dead");
  CHECK(env.q("SELECT error FROM framefarm.jobs WHERE id = " + std::to_string(b)) == "bad \xEF\xBF\xBD bytes\xEF\xBF\xBD!");
}

TEST_CASE("hand-back requeues without using an attempt") {
  DispatcherEnv env;
  int64_t a = insert(env, "(prompt) VALUES ('x')");
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
  CHECK(state_of(env, a) == "leased");
}

TEST_CASE("cancel: queued at once, running via a Cancel message and a cancelled result") {
  DispatcherEnv env;
  int64_t q = insert(env, "(prompt, run_after) VALUES ('later', now() + interval '1 hour')");
  std::ostringstream out, err;
  CHECK(dispatcher::cli_main({"cancel", std::to_string(q), "--database", env.pg.url()}, out, err) == dispatcher::kExitOk);
  CHECK(state_of(env, q) == "cancelled");
  CHECK(dispatcher::cli_main({"cancel", std::to_string(q), "--database", env.pg.url()}, out, err) == dispatcher::kExitOk);
  int64_t done = insert(env, "(prompt, state) VALUES ('done', 'succeeded')");
  CHECK(dispatcher::cli_main({"cancel", std::to_string(done), "--database", env.pg.url()}, out, err) ==
        dispatcher::kExitRejected);
  CHECK(err.str().find("already ended as succeeded") != std::string::npos);
  CHECK(dispatcher::cli_main({"cancel", "999999", "--database", env.pg.url()}, out, err) == dispatcher::kExitNotFound);

  int64_t r = insert(env, "(prompt) VALUES ('run')");
  RunningDispatcher d(env.ctx, env.config("d1"));
  SimWorker w(env.ctx, d.endpoint());
  REQUIRE(w.register_as("w1", 1));
  auto j = w.recv_until<proto::Job>(5s);
  REQUIRE(j);
  w.send(proto::Progress{r, j->epoch, "stage1", 1, 30});
  CHECK(wait_state(env, r, "running") == "running");
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
  CHECK(wait_state(env, r, "cancelled") == "cancelled");
}

TEST_CASE("retry requeues dead/cancelled jobs with attempts reset, refuses others") {
  DispatcherEnv env;
  int64_t a = insert(env, "(prompt, state, attempts, error) VALUES ('x', 'dead', 3, 'boom')");
  int64_t s = insert(env, "(prompt, state) VALUES ('y', 'succeeded')");
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

TEST_CASE("a worker silent for 3 heartbeat intervals is dead: started jobs retried at once in their place, unstarted ones back unused, dead at max") {
  DispatcherEnv env;
  auto cfg = env.config("d1");
  cfg.heartbeat_interval_ms = 100;
  cfg.retry_backoff = {60000, 60000};  // a backoff would hold the job back for a minute
  int64_t a = insert(env, "(prompt, max_attempts, priority) VALUES ('x', 2, 1)");
  int64_t b = insert(env, "(prompt, max_attempts, priority) VALUES ('y', 2, 0)");
  RunningDispatcher d(env.ctx, cfg);
  SimWorker w1(env.ctx, d.endpoint());
  REQUIRE(w1.register_as("w1", 2));
  auto j = w1.recv_until<proto::Job>(5s);
  REQUIRE(j);
  REQUIRE(w1.recv_until<proto::Job>(5s));
  proto::Job ja = *j;
  if (ja.job_id != a) ja.job_id = a, ja.epoch = std::stoll(env.q("SELECT lease_epoch FROM framefarm.jobs WHERE id = " + std::to_string(a)));
  w1.send(proto::Progress{a, ja.epoch, "stage1", 1, 10});  // a started, b did not
  CHECK(wait_state(env, a, "running", 5s) == "running");
  // w1 now says nothing: after ~300 ms it is dead. The fault was the worker's: no backoff.
  CHECK(wait_state(env, a, "retry_wait", 5s) == "retry_wait");
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
  int64_t c = insert(env, "(prompt, priority) VALUES ('z', 1)");
  SimWorker w2(env.ctx, d.endpoint());
  REQUIRE(w2.register_as("w2", 1));
  auto j2 = w2.recv_until<proto::Job>(5s);
  REQUIRE(j2);
  CHECK(j2->job_id == a);
  CHECK(j2->attempt == 2);
  CHECK(state_of(env, a) == "leased");
  CHECK(state_of(env, c) == "queued");
  // w2 starts it and dies as well: max_attempts reached -> dead.
  w2.send(proto::Progress{a, j2->epoch, "stage1", 1, 10});
  CHECK(wait_state(env, a, "dead", 5s) == "dead");
  CHECK(env.q("SELECT error_kind FROM framefarm.jobs WHERE id = " + std::to_string(a)) == "worker_lost");
}

TEST_CASE("expired leases of a dispatcher that died are requeued by another dispatcher") {
  DispatcherEnv env;
  int64_t a = insert(env, "(prompt) VALUES ('orphan')");
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
  int64_t a = insert(env, "(prompt, priority) VALUES ('a', 2)");
  int64_t b = insert(env, "(prompt, priority) VALUES ('b', 1)");
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
  CHECK(wait_state(env, a, "running") == "running");
  std::thread stopper([&] { d->stop(); });
  auto c = w.recv_until<proto::Cancel>(5s);  // the unstarted job must not start
  REQUIRE(c);
  CHECK(c->job_id == b);
  CHECK(wait_state(env, b, "queued") == "queued");
  CHECK(env.q("SELECT attempts FROM framefarm.jobs WHERE id = " + std::to_string(b)) == "0");
  proto::Result ok;
  ok.job_id = a;
  ok.epoch = ja.epoch;
  ok.ok = true;
  w.send(ok);
  stopper.join();
  CHECK(state_of(env, a) == "succeeded");
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

TEST_CASE("embedding cache: cached jobs marked, misses grouped for one encoder pass") {
  DispatcherEnv env;
  env.exec("INSERT INTO framefarm.prompt_embeddings (encoder_fingerprint, prompt_sha256, max_length, real_tokens, "
           "dtype, video_shape, audio_shape, video, audio) SELECT 'fpX', sha256(convert_to(p, 'UTF8')), 1024, 3, "
           "'bf16', '{3,4}', '{3,2}', '\\x00', '\\x00' FROM unnest(ARRAY['seen prompt', '']) p");
  int64_t cached = insert(env, "(prompt, negative_prompt) VALUES ('seen prompt', '')");
  insert(env, "(prompt) VALUES ('new 1')");
  insert(env, "(prompt) VALUES ('new 2')");
  insert(env, "(prompt) VALUES ('new 3')");
  RunningDispatcher d(env.ctx, env.config("d1"));
  SimWorker w(env.ctx, d.endpoint());
  REQUIRE(w.register_as("w1", 4, "", "fpX", 3));
  std::vector<proto::Job> jobs;
  for (int i = 0; i < 4; ++i) {
    auto j = w.recv_until<proto::Job>(5s);
    REQUIRE(j);
    jobs.push_back(*j);
  }
  std::set<int64_t> groups;
  for (auto& j : jobs) {
    if (j.job_id == cached) {
      CHECK(j.embedding_cached);
      CHECK(j.encode_group == 0);
    } else {
      CHECK(!j.embedding_cached);
      CHECK(j.encode_group != 0);
      groups.insert(j.encode_group);
    }
  }
  CHECK(groups.size() == 1);  // three misses, max_encode_batch 3: one group
}

TEST_CASE("workers table and CLI: workers, submit --wait, status, list") {
  DispatcherEnv env;
  RunningDispatcher d(env.ctx, env.config("d1"));
  test::SimOptions opt;
  opt.workers = 2;
  opt.id_prefix = "gpu";
  test::SimFleet fleet(env.ctx, d.endpoint(), opt);
  fleet.start();
  CHECK(env.wait_for("SELECT count(*) FROM framefarm.workers WHERE status = 'alive'", "2") == "2");
  std::ostringstream out, err;
  CHECK(dispatcher::cli_main({"workers", "--json", "--database", env.pg.url()}, out, err) == dispatcher::kExitOk);
  CHECK(out.str().find("\"worker_id\":\"gpu-0\"") != std::string::npos);
  CHECK(out.str().find("\"dispatcher_id\":\"d1\"") != std::string::npos);
  std::ostringstream o2, e2;
  CHECK(dispatcher::cli_main({"submit", "a lighthouse at dusk", "--steps", "4", "--wait", "--wait-timeout-ms", "20000",
                              "--json", "--database", env.pg.url()}, o2, e2) == dispatcher::kExitOk);
  CHECK(o2.str().find("\"state\":\"succeeded\"") != std::string::npos);
  CHECK(o2.str().find("\"num_inference_steps\":4") != std::string::npos);
  std::ostringstream o3, e3;
  CHECK(dispatcher::cli_main({"submit", "same", "--idempotency-key", "k", "--json", "--database", env.pg.url()}, o3, e3) == 0);
  std::ostringstream o4, e4;
  CHECK(dispatcher::cli_main({"submit", "same", "--idempotency-key", "k", "--json", "--database", env.pg.url()}, o4, e4) == 0);
  CHECK(o4.str().find("\"existing\":true") != std::string::npos);
  std::ostringstream o5, e5;
  CHECK(dispatcher::cli_main({"list", "--state", "succeeded", "--database", env.pg.url()}, o5, e5) == 0);
  CHECK(o5.str().find("a lighthouse at dusk") != std::string::npos);
  std::ostringstream o6, e6;
  CHECK(dispatcher::cli_main({"list", "--state", "done", "--database", env.pg.url()}, o6, e6) == dispatcher::kExitUsage);
  CHECK(e6.str().find("'done' is not a job state") != std::string::npos);
  std::ostringstream o7, e7;
  CHECK(dispatcher::cli_main({"status", "424242", "--database", env.pg.url()}, o7, e7) == dispatcher::kExitNotFound);
  std::ostringstream o8, e8;
  CHECK(dispatcher::cli_main({"submit", "x", "--database", "postgresql://postgres@127.0.0.1:1/none"}, o8, e8) ==
        dispatcher::kExitError);
  CHECK(e8.str().find("cannot connect to the database") != std::string::npos);
  fleet.stop();
}

TEST_CASE("jobs go only to workers serving their model, model '' to any") {
  DispatcherEnv env;
  int64_t other = insert(env, "(prompt, model, priority) VALUES ('for other', 'other-model', 9)");
  int64_t any = insert(env, "(prompt) VALUES ('for anyone')");
  int64_t mine = insert(env, "(prompt, model) VALUES ('for ltx', 'ltx')");
  RunningDispatcher d(env.ctx, env.config("d1"));
  SimWorker w(env.ctx, d.endpoint());
  REQUIRE(w.register_as("w1", 4, "ltx"));
  std::set<int64_t> got;
  for (int i = 0; i < 2; ++i) {
    auto j = w.recv_until<proto::Job>(5s);
    REQUIRE(j);
    got.insert(j->job_id);
  }
  CHECK(got == std::set<int64_t>{any, mine});
  CHECK(!w.recv_until<proto::Job>(300ms));
  CHECK(state_of(env, other) == "queued");
  CHECK(env.q("SELECT attempts FROM framefarm.jobs WHERE id = " + std::to_string(other)) == "0");
}

TEST_CASE("a result with an MP4 records its media under result.media, status prints it") {
  DispatcherEnv env;
  const int64_t id = insert(env, "(prompt) VALUES ('a fox with sound')");
  RunningDispatcher d(env.ctx, env.config("d1"));
  SimWorker w(env.ctx, d.endpoint());
  REQUIRE(w.register_as("w1", 1));
  auto j = w.recv_until<proto::Job>(5s);
  REQUIRE(j);
  proto::Result r;
  r.job_id = j->job_id;
  r.epoch = j->epoch;
  r.ok = true;
  r.output_path = "/out/" + std::to_string(id) + ".mp4";
  r.timings_s["mux"] = 0.25;
  r.media.mp4_path = r.output_path;
  r.media.poster_path = "/out/" + std::to_string(id) + ".png";
  r.media.duration_s = 17.0 / 24;
  r.media.frames = 17;
  r.media.fps = 24;
  r.media.width = 64;
  r.media.height = 96;
  r.media.audio_sample_rate = 48000;
  r.media.audio_channels = 2;
  r.media.bytes = 12345;
  w.send(r);
  REQUIRE(wait_state(env, id, "succeeded") == "succeeded");
  auto media = [&](const std::string& k) {
    return env.q("SELECT result->'media'->>'" + k + "' FROM framefarm.jobs WHERE id = " + std::to_string(id));
  };
  CHECK(media("mp4_path") == r.output_path);
  CHECK(media("poster_path") == r.media.poster_path);
  CHECK(std::stod(media("duration_s")) == doctest::Approx(17.0 / 24));
  CHECK(media("frames") == "17");
  CHECK(std::stod(media("fps")) == 24.0);
  CHECK(media("width") == "64");
  CHECK(media("height") == "96");
  CHECK(media("audio_sample_rate") == "48000");
  CHECK(media("audio_channels") == "2");
  CHECK(media("bytes") == "12345");
  CHECK(env.q("SELECT result->'timings_s'->>'mux' FROM framefarm.jobs WHERE id = " + std::to_string(id)) == "0.25");

  std::ostringstream out, err;
  REQUIRE(dispatcher::cli_main({"status", std::to_string(id), "--database", env.pg.url()}, out, err) == 0);
  CHECK(out.str().find("mp4: /out/" + std::to_string(id) + ".mp4\n") != std::string::npos);
  CHECK(out.str().find("poster: /out/" + std::to_string(id) + ".png\n") != std::string::npos);
  CHECK(out.str().find("video: 64x96, 17 frames at 24 fps, 0.708 s, 12345 bytes\n") != std::string::npos);
  CHECK(out.str().find("audio: AAC 48000 Hz, 2 channels\n") != std::string::npos);
  std::ostringstream oj, ej;
  REQUIRE(dispatcher::cli_main({"status", std::to_string(id), "--json", "--database", env.pg.url()}, oj, ej) == 0);
  const json::Value v = json::parse(oj.str());
  CHECK(v["result"]["media"]["frames"].as_int() == 17);
  CHECK(v["result"]["media"]["audio_channels"].as_int() == 2);
  CHECK(v["result"]["media"]["mp4_path"].as_string() == r.output_path);

  // A result without an MP4 (a stand-in engine's Y4M) has no media and no media lines.
  const int64_t id2 = insert(env, "(prompt) VALUES ('no mp4')");
  w.send(proto::Credit{1});
  auto j2 = w.recv_until<proto::Job>(5s);
  REQUIRE(j2);
  proto::Result r2;
  r2.job_id = j2->job_id;
  r2.epoch = j2->epoch;
  r2.ok = true;
  r2.output_path = "/out/x.y4m";
  w.send(r2);
  REQUIRE(wait_state(env, id2, "succeeded") == "succeeded");
  CHECK(env.q("SELECT result ? 'media' FROM framefarm.jobs WHERE id = " + std::to_string(id2)) == "f");
  std::ostringstream o2, e2;
  REQUIRE(dispatcher::cli_main({"status", std::to_string(id2), "--database", env.pg.url()}, o2, e2) == 0);
  CHECK(o2.str().find("mp4:") == std::string::npos);
}
