// e2e: kill -9 of a dispatcher with leased jobs; another dispatcher (a real process, default
// heartbeat settings) takes its leases over once its database heartbeats stop and its session is
// gone (schema/009_dispatchers.sql), long before the lease timeout (120 s here; the test gives up
// after 60 s), and its idle worker runs them. Prints the rescue times (not asserted).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstdio>

#include "tests/dispatcher/dispatcher_env.hpp"
#include "tests/dispatcher/process.hpp"
#include "tests/dispatcher/sim_worker.hpp"

using namespace ff;
using namespace std::chrono_literals;

namespace {
std::unique_ptr<test::Process> start_dispatcher(const test::DispatcherEnv& env, const std::string& id,
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
  auto a = start_dispatcher(env, "disp-a", ep_a);
  auto b = start_dispatcher(env, "disp-b", ep_b);
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
  // own start (dead limit 4 s + reconnect backoff cap 5 s) before it judges other dispatchers.
  test::SimOptions o;
  o.workers = 1;
  o.slots = 2;
  o.id_prefix = "wb";
  test::SimFleet fleet(env.ctx, ep_b, o);
  fleet.start();
  while (std::chrono::steady_clock::now() - b_started < 10s) {
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
