// e2e: kill -9 of a dispatcher with leased jobs; another dispatcher (a real process, default
// heartbeat settings) takes its leases over once its database heartbeats stop and its session is
// gone (schema/009_dispatchers.sql), long before the lease timeout (120 s here; the test gives up
// after 60 s), and its idle worker runs them. Prints the rescue times (not asserted). A worker
// that knows both dispatchers (the real worker/dispatcher_session.hpp) fails over to the live one
// first, which adopts its running job: it keeps running and is not run again.
#include <doctest/doctest.h>

#include <cstdio>

#include "tests/dispatcher/dispatcher_env.hpp"
#include "tests/dispatcher/process.hpp"
#include "tests/dispatcher/sim_worker.hpp"
#include "worker/dispatcher_session.hpp"

using namespace ff;
using namespace std::chrono_literals;

namespace {
std::unique_ptr<test::Process> start_default_beats(const test::DispatcherEnv& env, const std::string& id,
                                                const std::string& endpoint) {
  // Default heartbeat interval and misses; only the lease timeout is raised, so that nothing in
  // this test can be explained by an expiring lease.
  return std::make_unique<test::Process>(std::vector<std::string>{
      FF_DISPATCHER_BIN, "serve", "--database", env.pg.url(), "--bind", endpoint, "--dispatcher-id", id,
      "--lease-timeout-ms", "120000", "--poll-interval-ms", "50"});
}
}  // namespace

TEST_CASE("kill -9 of a dispatcher: its leased jobs run again on another dispatcher's worker, unstarted ones without using an attempt") {
  test::DispatcherEnv env;
  const std::string ep_a = "tcp://127.0.0.1:" + std::to_string(test::free_tcp_port());
  const std::string ep_b = "tcp://127.0.0.1:" + std::to_string(test::free_tcp_port());
  auto a = start_default_beats(env, "disp-a", ep_a);
  auto b = start_default_beats(env, "disp-b", ep_b);
  const auto b_started = std::chrono::steady_clock::now();

  test::SimWorker wa(env.ctx, ep_a);
  REQUIRE(wa.register_as("wa", 2));
  const int64_t started = std::stoll(env.q("INSERT INTO framefarm.jobs (prompt, priority) VALUES ('s', 2) RETURNING id"));
  const int64_t unstarted = std::stoll(env.q("INSERT INTO framefarm.jobs (prompt, priority) VALUES ('u', 1) RETURNING id"));
  std::vector<proto::Job> got;
  for (auto end = std::chrono::steady_clock::now() + 10s; got.size() < 2 && std::chrono::steady_clock::now() < end;) {
    auto m = wa.recv(50ms);
    wa.send(proto::Heartbeat{0});
    if (m && std::holds_alternative<proto::Job>(*m)) got.push_back(std::get<proto::Job>(*m));
  }
  REQUIRE(got.size() == 2);
  for (const auto& j : got)
    if (j.job_id == started) wa.send(proto::Progress{j.job_id, j.epoch, "stage1", 1, 10});
  CHECK(env.wait_for("SELECT state FROM framefarm.jobs WHERE id = " + std::to_string(started), "running") == "running");

  // An idle worker on the other dispatcher, which has been up for longer than it waits after its
  // own start (dead limit 5 s + reconnect backoff cap 5 s) before it judges other dispatchers.
  test::SimOptions o;
  o.workers = 1;
  o.slots = 2;
  o.id_prefix = "wb";
  test::SimFleet fleet(env.ctx, ep_b, o);
  fleet.start();
  while (std::chrono::steady_clock::now() - b_started < 11s) {
    wa.recv(50ms);
    wa.send(proto::Heartbeat{0});
  }
  CHECK(env.q("SELECT lease_owner FROM framefarm.jobs WHERE id = " + std::to_string(started)) == "disp-a");

  a->signal(SIGKILL);
  const auto killed = std::chrono::steady_clock::now();
  REQUIRE(a->wait(5s));
  CHECK(env.wait_for("SELECT count(*) FROM framefarm.jobs WHERE state = 'succeeded'", "2", 60s) == "2");
  CHECK(env.q("SELECT attempts FROM framefarm.jobs WHERE id = " + std::to_string(unstarted)) == "1");
  CHECK(env.q("SELECT attempts FROM framefarm.jobs WHERE id = " + std::to_string(started)) == "2");
  CHECK(env.q("SELECT lease_worker FROM framefarm.jobs WHERE id = " + std::to_string(started)) == "wb-0");
  CHECK(env.q("SELECT count(*) FROM framefarm.dispatchers WHERE dispatcher_id = 'disp-a'") == "0");
  auto rx = fleet.received();
  CHECK(rx.size() == 2);
  for (const auto& r : rx)
    std::printf("dispatcher kill -9 -> job %lld (%s) sent to another dispatcher's worker after %.2f s\n",
                static_cast<long long>(r.job_id), r.job_id == started ? "started" : "unstarted",
                std::chrono::duration<double>(r.at - killed).count());
  fleet.stop();
}

TEST_CASE("kill -9 of a dispatcher: a worker that knows another dispatcher fails over, its running job is adopted there and not run again") {
  test::DispatcherEnv env;
  const std::string ep_a = "tcp://127.0.0.1:" + std::to_string(test::free_tcp_port());
  const std::string ep_b = "tcp://127.0.0.1:" + std::to_string(test::free_tcp_port());
  auto a = start_default_beats(env, "disp-a", ep_a);
  auto b = start_default_beats(env, "disp-b", ep_b);
  const auto b_started = std::chrono::steady_clock::now();
  worker::DispatcherSession s(env.ctx, std::vector<std::string>{ep_a, ep_b}, 1000);
  proto::Register reg;
  reg.worker_id = "w1";
  reg.gpu_name = "sim";
  reg.free_slots = 1;
  s.connect(reg);
  std::vector<proto::Job> jobs;
  std::vector<proto::Cancel> cancels;
  int failovers = 0;
  // What the supervisor does each turn: read; on a dispatcher presumed dead, the next endpoint.
  auto pump = [&](auto done, std::chrono::milliseconds t) {
    for (auto end = std::chrono::steady_clock::now() + t; std::chrono::steady_clock::now() < end;) {
      zmq::pollitem_t it{static_cast<void*>(s.socket()), 0, ZMQ_POLLIN, 0};
      zmq::poll(&it, 1, std::chrono::milliseconds(20));
      for (auto& m : s.receive()) {
        if (auto* j = std::get_if<proto::Job>(&m)) jobs.push_back(*j);
        if (auto* c = std::get_if<proto::Cancel>(&m)) cancels.push_back(*c);
      }
      if (s.tick()) {
        ++failovers;
        s.next_endpoint();
        proto::Register r = reg;
        r.free_slots = static_cast<int32_t>(std::max<int64_t>(0, s.credit()));
        s.connect(r);
      }
      if (done()) return true;
    }
    return false;
  };
  const int64_t job = std::stoll(env.q("INSERT INTO framefarm.jobs (prompt) VALUES ('long') RETURNING id"));
  REQUIRE(pump([&] { return jobs.size() == 1; }, 10s));
  s.send(proto::Progress{job, jobs[0].epoch, "stage1", 1, 10});
  CHECK(env.wait_for("SELECT state || '/' || lease_owner FROM framefarm.jobs WHERE id = " + std::to_string(job),
                     "running/disp-a") == "running/disp-a");
  // Let disp-b settle (it judges other dispatchers only after its own beats went through a while).
  pump([] { return false; }, std::chrono::duration_cast<std::chrono::milliseconds>(11s - (std::chrono::steady_clock::now() - b_started)));

  a->signal(SIGKILL);
  REQUIRE(a->wait(5s));
  // The worker presumes disp-a dead, registers with disp-b and announces the job it runs.
  REQUIRE(pump([&] {
    return env.q("SELECT lease_owner FROM framefarm.jobs WHERE id = " + std::to_string(job)) == "disp-b";
  }, 30s));
  CHECK(failovers >= 1);
  CHECK(s.endpoint() == ep_b);
  // Past the takeover limit: nothing of disp-a's is left to take, the job is still this attempt.
  pump([] { return false; }, 7s);
  CHECK(env.q("SELECT state || '/' || attempts || '/' || lease_epoch FROM framefarm.jobs WHERE id = " + std::to_string(job)) ==
        "running/1/" + std::to_string(jobs[0].epoch));
  CHECK(cancels.empty());
  proto::Result r;
  r.job_id = job;
  r.epoch = jobs[0].epoch;
  r.ok = true;
  r.output_path = "/out/long.mp4";
  s.send(r);
  REQUIRE(pump([&] {
    return env.q("SELECT state FROM framefarm.jobs WHERE id = " + std::to_string(job)) == "succeeded";
  }, 10s));
  CHECK(env.q("SELECT attempts FROM framefarm.jobs WHERE id = " + std::to_string(job)) == "1");
  CHECK(jobs.size() == 1);  // never sent again
  CHECK(env.q("SELECT count(*) FROM framefarm.dispatchers WHERE dispatcher_id = 'disp-a'") == "0");
}
