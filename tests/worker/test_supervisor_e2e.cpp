// e2e: the real framefarm-worker with the test engine, against a scripted dispatcher
// (supervisor_harness.hpp). Covers the session (Register/Welcome/Credit/Heartbeat, re-registration
// after a silent dispatcher), batched deduplicated encoding, progress/result relay, engine
// crash/hang/OOM handling, cancel, and SIGTERM (hand back, finish, Goodbye, exit 0). The MP4
// output and /metrics: test_supervisor_output_e2e.cpp.
#include <doctest/doctest.h>

#include <csignal>
#include <set>
#include <string>
#include <vector>

#include "tests/worker/supervisor_harness.hpp"

using namespace std::chrono_literals;
using namespace ff::test::supervisor;
using ff::test::Child;
using ff::test::eventually;

TEST_CASE("register, run jobs with one deduplicated encode of the misses, relay progress, return credit") {
  FakeDispatcher fake;
  ff::test::WorkerSpec spec;
  spec.slots = 4;
  WorkerRun w(fake, {}, spec);
  const auto reg = registered(fake, w);
  CHECK(reg.worker_id == "test-worker");
  CHECK(reg.encoder_fingerprint == "test-engine-v1");
  CHECK(reg.free_slots == 4);
  CHECK(reg.max_encode_batch == 8);
  CHECK(reg.model == "ltx-2.3");
  CHECK(reg.gpu_name == "test-engine");

  fake.send(job(1, "a cat on a sofa"));
  fake.send(job(2, "a dog in the rain"));
  fake.send(job(3, "a cat on a sofa", "blurry"));
  fake.send(job(4, "  a bird over the sea  "));
  const bool done = fake.wait([&] { return fake.all<proto::Result>().size() == 4; });
  INFO(w.log());
  REQUIRE(done);
  for (int64_t id = 1; id <= 4; ++id) {
    auto r = fake.result_of<proto::Result>(id);
    REQUIRE(r);
    CHECK(r->ok);
    CHECK(r->epoch == 1000 + id);
    CHECK(r->error_kind == proto::ErrorKind::kNone);
    CHECK(ff::test::read_file(r->output_path).rfind("YUV4MPEG2", 0) == 0);
    auto p = fake.result_of<proto::Progress>(id);
    REQUIRE(p);
    CHECK(p->epoch == 1000 + id);
    CHECK(p->total_steps == 3);
  }
  // Distinct prompts: 3 positives + "" + "blurry" = 5, each encoded exactly once.
  CHECK(encoded_prompts(w.engine_log) == 5);
  int credit = 0;
  for (const auto& c : fake.all<proto::Credit>()) credit += c.slots;
  CHECK(credit == 4);
  CHECK(ff::test::count_lines(w.engine_log, "result 1") == 1);
}

TEST_CASE("an engine crash fails the running job with engine_crash, the engine restarts, the session stays") {
  FakeDispatcher fake;
  WorkerRun w(fake, {{"FF_TEST_ENGINE_CRASH_PROMPT", "boom"}});
  registered(fake, w);
  fake.send(job(1, "boom"));
  REQUIRE(fake.wait([&] { return fake.result_of<proto::Result>(1).has_value(); }));
  auto r = *fake.result_of<proto::Result>(1);
  CHECK_FALSE(r.ok);
  CHECK(r.error_kind == proto::ErrorKind::kEngineCrash);
  CHECK(r.error_message.find("signal 6") != std::string::npos);
  fake.send(job(2, "fine"));
  REQUIRE(fake.wait([&] { return fake.result_of<proto::Result>(2).has_value(); }));
  CHECK(fake.result_of<proto::Result>(2)->ok);
  CHECK(ff::test::count_lines(w.engine_log, "result 2") == 1);
  CHECK(fake.all<proto::Register>().size() == 1);  // never re-registered
  CHECK(w.child->running());
}

TEST_CASE("a hung engine is killed after the request timeout, its job fails, the next one runs") {
  FakeDispatcher fake;
  ff::test::WorkerSpec spec;
  spec.engine_request_timeout_ms = 800;
  WorkerRun w(fake, {{"FF_TEST_ENGINE_HANG_PROMPT", "stuck"}}, spec);
  registered(fake, w);
  fake.send(job(1, "stuck"));
  fake.send(job(2, "fine afterwards"));
  REQUIRE(fake.wait([&] { return fake.all<proto::Result>().size() == 2; }));
  auto r1 = *fake.result_of<proto::Result>(1);
  CHECK_FALSE(r1.ok);
  CHECK(r1.error_kind == proto::ErrorKind::kEngineCrash);
  CHECK(r1.error_message.find("hung") != std::string::npos);
  CHECK(fake.result_of<proto::Result>(2)->ok);
  CHECK(fake.all<proto::Register>().size() == 1);
}

TEST_CASE("an OOM in the engine fails the job with out_of_memory and the engine keeps serving") {
  FakeDispatcher fake;
  WorkerRun w(fake, {{"FF_TEST_ENGINE_OOM_PROMPT", "huge"}});
  registered(fake, w);
  fake.send(job(1, "huge"));
  fake.send(job(2, "small"));
  REQUIRE(fake.wait([&] { return fake.all<proto::Result>().size() == 2; }));
  auto r1 = *fake.result_of<proto::Result>(1);
  CHECK_FALSE(r1.ok);
  CHECK(r1.error_kind == proto::ErrorKind::kOutOfMemory);
  CHECK(r1.error_message.find("out of memory") != std::string::npos);
  CHECK(fake.result_of<proto::Result>(2)->ok);
  std::istringstream in(ff::test::read_file(w.engine_log));
  int hellos = 0;
  for (std::string l; std::getline(in, l);) hellos += l.rfind("hello ", 0) == 0;
  CHECK(hellos == 1);  // no restart
}

TEST_CASE("a crash while encoding a batch: prompts are retried one by one, only the culprit's job fails") {
  FakeDispatcher fake;
  WorkerRun w(fake, {{"FF_TEST_ENGINE_ENCODE_CRASH_PROMPT", "poison"}});
  registered(fake, w);
  fake.send(job(1, "antidote"));
  fake.send(job(2, "poison"));
  fake.send(job(3, "placebo"));
  REQUIRE(fake.wait([&] { return fake.all<proto::Result>().size() == 3; }));
  CHECK(fake.result_of<proto::Result>(1)->ok);
  CHECK(fake.result_of<proto::Result>(2)->error_kind == proto::ErrorKind::kEngineCrash);
  CHECK(fake.result_of<proto::Result>(2)->error_message.find("encoding") != std::string::npos);
  CHECK(fake.result_of<proto::Result>(3)->ok);
  fake.send(job(4, "later"));
  REQUIRE(fake.wait([&] { return fake.result_of<proto::Result>(4).has_value(); }));
  CHECK(fake.result_of<proto::Result>(4)->ok);
}

TEST_CASE("cancel stops a running job at a step boundary and an unstarted one at once") {
  FakeDispatcher fake;
  WorkerRun w(fake, {{"FF_TEST_ENGINE_STEPS", "30"}, {"FF_TEST_ENGINE_STEP_MS", "100"}});
  registered(fake, w);
  fake.send(job(1, "long running"));
  fake.send(job(2, "waiting its turn"));
  REQUIRE(fake.wait([&] { return fake.result_of<proto::Progress>(1).has_value(); }));
  fake.send(proto::Cancel{2, 1002});
  fake.send(proto::Cancel{1, 1001});
  REQUIRE(fake.wait([&] { return fake.all<proto::Result>().size() == 2; }));
  CHECK(fake.result_of<proto::Result>(1)->error_kind == proto::ErrorKind::kCancelled);
  CHECK(fake.result_of<proto::Result>(2)->error_kind == proto::ErrorKind::kCancelled);
  CHECK(ff::test::count_lines(w.engine_log, "cancelled 1") == 1);
  CHECK(ff::test::count_lines(w.engine_log, "result 1") == 0);
}

TEST_CASE("SIGTERM hands back unstarted jobs, finishes the running one, says goodbye, exits 0") {
  FakeDispatcher fake;
  ff::test::WorkerSpec spec;
  spec.slots = 3;
  WorkerRun w(fake, {{"FF_TEST_ENGINE_STEPS", "5"}, {"FF_TEST_ENGINE_STEP_MS", "100"}}, spec);
  registered(fake, w);
  fake.send(job(1, "first"));
  fake.send(job(2, "second"));
  fake.send(job(3, "third"));
  REQUIRE(fake.wait([&] { return !fake.all<proto::Progress>().empty(); }));
  const int64_t running = fake.all<proto::Progress>().front().job_id;
  w.child->signal(SIGTERM);
  REQUIRE(fake.wait([&] { return fake.index_of<proto::Goodbye>() >= 0; }));
  CHECK(w.child->wait(10000ms) == 0);
  std::set<int64_t> handed;
  for (const auto& h : fake.all<proto::HandBack>()) {
    handed.insert(h.job_id);
    CHECK(h.epoch == 1000 + h.job_id);
  }
  CHECK(handed.size() == 2);
  CHECK_FALSE(handed.count(running));
  auto r = fake.result_of<proto::Result>(running);
  REQUIRE(r);
  CHECK(r->ok);
  CHECK(fake.all<proto::Result>().size() == 1);
  CHECK(fake.index_of<proto::Result>() < fake.index_of<proto::Goodbye>());
}

TEST_CASE("a silent dispatcher is presumed dead: the worker registers again from a new connection") {
  FakeDispatcher fake;
  WorkerRun w(fake, {});
  registered(fake, w);
  const std::string first_peer = fake.peer();
  fake.heartbeats = false;
  REQUIRE(fake.wait([&] { return fake.all<proto::Register>().size() >= 2; }, 10000ms));
  CHECK(fake.peer() != first_peer);
  fake.heartbeats = true;
  fake.send(proto::Welcome{200, 3});
  fake.send(job(7, "after reconnect"));
  REQUIRE(fake.wait([&] { return fake.result_of<proto::Result>(7).has_value(); }));
  CHECK(fake.result_of<proto::Result>(7)->ok);
}

TEST_CASE("a malformed frame from the dispatcher is dropped and the worker keeps serving") {
  FakeDispatcher fake;
  WorkerRun w(fake, {});
  registered(fake, w);
  fake.send_raw("this is not msgpack");
  fake.send_raw(std::string("\x93\x01\x05\xc0", 4));  // [1, job, nil]: bad body
  fake.send(job(1, "still fine"));
  REQUIRE(fake.wait([&] { return fake.result_of<proto::Result>(1).has_value(); }));
  CHECK(fake.result_of<proto::Result>(1)->ok);
  CHECK(w.log().find("dropped malformed frame") != std::string::npos);
}
