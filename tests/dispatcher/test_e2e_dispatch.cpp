// e2e: real `framefarm-dispatcher serve` processes on loopback with simulated workers:
// two dispatchers against one database never dispatch a job twice; garbage frames are logged and
// dropped while the dispatcher keeps serving; SIGTERM exits 0.
#include <doctest/doctest.h>

#include <map>
#include <random>

#include "tests/dispatcher/dispatcher_env.hpp"
#include "tests/dispatcher/process.hpp"
#include "tests/dispatcher/sim_worker.hpp"

using namespace ff;
using namespace std::chrono_literals;

namespace {
std::unique_ptr<test::Process> start_on_free_port(const test::DispatcherEnv& env, const std::string& id,
                                                std::string& endpoint) {
  int port = test::free_tcp_port();
  endpoint = "tcp://127.0.0.1:" + std::to_string(port);
  return std::make_unique<test::Process>(std::vector<std::string>{
      FF_DISPATCHER_BIN, "serve", "--database", env.pg.url(), "--bind", endpoint, "--dispatcher-id", id,
      "--poll-interval-ms", "50", "--heartbeat-interval-ms", "500", "--shutdown-grace-ms", "1000"});
}
}  // namespace

TEST_CASE("two dispatchers against one database never dispatch a job twice") {
  test::DispatcherEnv env;
  std::string ep1, ep2;
  auto d1 = start_on_free_port(env, "dA", ep1);
  auto d2 = start_on_free_port(env, "dB", ep2);
  test::SimOptions opt;
  opt.workers = 3;
  opt.slots = 4;
  opt.work_ms = 2;
  opt.send_progress = true;
  opt.id_prefix = "a";
  test::SimFleet f1(env.ctx, ep1, opt);
  opt.id_prefix = "b";
  test::SimFleet f2(env.ctx, ep2, opt);
  f1.start();
  f2.start();
  env.exec("INSERT INTO framefarm.jobs (prompt, priority) SELECT 'job ' || g, g % 3 FROM generate_series(1, 400) g");
  CHECK(env.wait_for("SELECT count(*) FROM framefarm.jobs WHERE state = 'succeeded'", "400", 45s) == "400");
  f1.stop();
  f2.stop();
  std::map<int64_t, int> times;
  for (auto& r : f1.received()) times[r.job_id]++;
  for (auto& r : f2.received()) times[r.job_id]++;
  CHECK(times.size() == 400);
  int twice = 0;
  for (auto& [id, n] : times) twice += n > 1;
  CHECK(twice == 0);
  CHECK(f1.received().size() > 0);
  CHECK(f2.received().size() > 0);
  CHECK(env.q("SELECT count(*) FROM framefarm.jobs WHERE attempts <> 1") == "0");
  CHECK(env.q("SELECT count(DISTINCT lease_epoch) FROM framefarm.jobs") == "400");
  d1->signal(SIGTERM);
  d2->signal(SIGTERM);
  CHECK(d1->wait(10s) == std::optional<int>(0));
  CHECK(d2->wait(10s) == std::optional<int>(0));
  CHECK(env.q("SELECT count(*) FROM framefarm.workers WHERE status = 'gone'") == "6");
}

TEST_CASE("malformed and garbage frames are logged and dropped, the dispatcher keeps serving") {
  test::DispatcherEnv env;
  std::string ep;
  auto d = start_on_free_port(env, "dG", ep);
  {
    test::SimWorker raw(env.ctx, ep);
    raw.send_raw("");
    raw.send_raw("\xc1\xc1\xc1 not msgpack");
    raw.send_raw(std::string("\x93\x01\x4d\x80", 4));  // [1, 77, {}]: unknown type
    raw.send_raw(std::string("\x93\x09\x01\x80", 4));  // wrong protocol version
    raw.send_raw(std::string("\x92\x01\x01", 3));      // truncated array
    raw.send(proto::Result{});                         // result from an unregistered peer
    proto::Register bad;                               // empty worker_id
    raw.send(bad);
    raw.socket().send(zmq::str_buffer("part1"), zmq::send_flags::sndmore);
    raw.socket().send(zmq::str_buffer("part2"), zmq::send_flags::none);
    REQUIRE(raw.register_as("garbage-sender", 0));
    raw.send(proto::Credit{-5});
    raw.send(proto::Welcome{});                         // wrong direction
    proto::Result forged;                               // a lease it does not hold
    forged.job_id = 1;
    forged.epoch = 1;
    forged.ok = true;
    raw.send(forged);
    std::mt19937 rng(12345);
    for (int i = 0; i < 300; ++i) {
      std::string f(rng() % 200, '\0');
      for (auto& c : f) c = static_cast<char>(rng());
      if (i % 3 == 0 && !f.empty()) f[0] = '\x93';  // looks like our framing
      raw.send_raw(f);
    }
    raw.send_raw(std::string(2 << 20, 'x'));  // over the dispatcher's 1 MiB frame limit
  }
  std::this_thread::sleep_for(300ms);
  CHECK(d->alive());
  test::SimOptions opt;
  opt.workers = 2;
  test::SimFleet fleet(env.ctx, ep, opt);
  fleet.start();
  env.exec("INSERT INTO framefarm.jobs (prompt) SELECT 'after garbage ' || g FROM generate_series(1, 20) g");
  CHECK(env.wait_for("SELECT count(*) FROM framefarm.jobs WHERE state = 'succeeded'", "20", 20s) == "20");
  fleet.stop();
  CHECK(d->alive());
  d->signal(SIGTERM);
  CHECK(d->wait(10s) == std::optional<int>(0));
}

TEST_CASE("serve refuses bad flags with exit code 2") {
  test::Process p({FF_DISPATCHER_BIN, "serve", "--heartbeat-interval-ms", "abc"});
  CHECK(p.wait(10s) == std::optional<int>(2));
  test::Process q({FF_DISPATCHER_BIN, "serve", "--database", "postgresql://u:pw@localhost/db"});
  CHECK(q.wait(10s) == std::optional<int>(2));
}
