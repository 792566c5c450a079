// e2e: a dispatcher's kill -9 and restart on the same endpoint loses no finished work. The worker
// side is the real worker/dispatcher_session.hpp (driven by hand, as the supervisor drives it);
// the dispatchers are real `framefarm-dispatcher serve` processes.
#include <doctest/doctest.h>

#include <set>

#include "tests/dispatcher/dispatcher_env.hpp"
#include "tests/dispatcher/process.hpp"
#include "tests/dispatcher/sim_worker.hpp"
#include "worker/dispatcher_session.hpp"

using namespace ff;
using namespace std::chrono_literals;

namespace {
std::unique_ptr<test::Process> start_quick_beats(const test::DispatcherEnv& env, const std::string& id,
                                                const std::string& endpoint,
                                                std::vector<std::string> extra = {}) {
  std::vector<std::string> argv{FF_DISPATCHER_BIN, "serve", "--database", env.pg.url(), "--bind", endpoint,
                                "--poll-interval-ms", "50", "--heartbeat-interval-ms", "300",
                                "--shutdown-grace-ms", "500"};
  if (!id.empty()) argv.insert(argv.end(), {"--dispatcher-id", id});  // "" = the default id
  argv.insert(argv.end(), extra.begin(), extra.end());
  return std::make_unique<test::Process>(argv);
}

// What the supervisor does each turn with its session: read, and register again on silence.
struct Pump {
  worker::DispatcherSession& s;
  proto::Register reg;
  std::vector<proto::Job> jobs;
  std::vector<proto::Cancel> cancels;
  int presumed_dead = 0;
  void once() {
    zmq::pollitem_t it{static_cast<void*>(s.socket()), 0, ZMQ_POLLIN, 0};
    zmq::poll(&it, 1, std::chrono::milliseconds(20));
    for (auto& m : s.receive()) {
      if (auto* j = std::get_if<proto::Job>(&m)) jobs.push_back(*j);
      if (auto* c = std::get_if<proto::Cancel>(&m)) cancels.push_back(*c);
    }
    if (s.tick()) {
      ++presumed_dead;
      proto::Register r = reg;
      r.free_slots = static_cast<int32_t>(std::max<int64_t>(0, s.credit()));
      s.connect(r);
    }
  }
  template <typename Pred>
  bool until(Pred p, std::chrono::milliseconds t) {
    auto deadline = std::chrono::steady_clock::now() + t;
    while (std::chrono::steady_clock::now() < deadline) {
      once();
      if (p()) return true;
    }
    return false;
  }
};
}  // namespace

TEST_CASE("kill -9 of a dispatcher, restarted on the same endpoint: held jobs kept, finished results applied, nothing run twice") {
  test::DispatcherEnv env;
  const std::string ep = "tcp://127.0.0.1:" + std::to_string(test::free_tcp_port());
  auto d1 = start_quick_beats(env, "d-first", ep);
  int64_t a = std::stoll(env.q("INSERT INTO framefarm.jobs (prompt, priority) VALUES ('a', 2) RETURNING id"));
  int64_t b = std::stoll(env.q("INSERT INTO framefarm.jobs (prompt, priority) VALUES ('b', 1) RETURNING id"));
  worker::DispatcherSession s(env.ctx, ep, 100);
  Pump pump{s, {}, {}, {}, 0};
  pump.reg.worker_id = "w1";
  pump.reg.gpu_name = "sim";
  pump.reg.free_slots = 2;
  s.connect(pump.reg);
  REQUIRE(pump.until([&] { return pump.jobs.size() == 2; }, 15s));
  for (const auto& j : pump.jobs) s.send(proto::Progress{j.job_id, j.epoch, "stage1", 1, 10});
  CHECK(env.wait_for("SELECT count(*) FROM framefarm.jobs WHERE state = 'running'", "2") == "2");
  CHECK(s.held().size() == 2);

  d1->signal(SIGKILL);
  d1->wait(5s);
  // Job a finishes while no dispatcher runs; its Result waits in the socket (or is re-sent).
  const proto::Job ja = pump.jobs[0].job_id == a ? pump.jobs[0] : pump.jobs[1];
  const proto::Job jb = pump.jobs[0].job_id == a ? pump.jobs[1] : pump.jobs[0];
  proto::Result ra;
  ra.job_id = a;
  ra.epoch = ja.epoch;
  ra.ok = true;
  ra.output_path = "/out/a.mp4";
  s.send(ra);
  CHECK(s.held().size() == 1);
  auto d2 = start_quick_beats(env, "d-second", ep);
  // The restarted dispatcher does not know the connection: it asks the session to register
  // again; the session re-announces b and re-sends a's result.
  REQUIRE(pump.until([&] {
    return env.q("SELECT state || '/' || coalesce(lease_owner, '') FROM framefarm.jobs WHERE id = " +
                 std::to_string(a)) == "succeeded/" &&
           env.q("SELECT lease_owner FROM framefarm.jobs WHERE id = " + std::to_string(b)) == "d-second";
  }, 20s));
  CHECK(env.q("SELECT result->>'output_path' FROM framefarm.jobs WHERE id = " + std::to_string(a)) == "/out/a.mp4");
  CHECK(env.q("SELECT state FROM framefarm.jobs WHERE id = " + std::to_string(b)) == "running");
  // b finishes under its original epoch and is accepted by the new dispatcher.
  proto::Result rb;
  rb.job_id = b;
  rb.epoch = jb.epoch;
  rb.ok = true;
  s.send(rb);
  REQUIRE(pump.until([&] { return env.q("SELECT state FROM framefarm.jobs WHERE id = " + std::to_string(b)) == "succeeded"; }, 10s));
  CHECK(env.q("SELECT count(*) FROM framefarm.jobs WHERE attempts <> 1") == "0");
  CHECK(pump.cancels.empty());
  CHECK(pump.jobs.size() == 2);  // nothing leased again
  CHECK(s.registrations() >= 2);

  // Another worker announcing a finished job as held is told to cancel it, and its forged
  // result for w1's running job is not applied (fenced by the job's lease_worker).
  int64_t c = std::stoll(env.q("INSERT INTO framefarm.jobs (prompt) VALUES ('c') RETURNING id"));
  s.send(proto::Credit{1});
  REQUIRE(pump.until([&] { return pump.jobs.size() == 3; }, 10s));
  const proto::Job jc = pump.jobs[2];
  CHECK(jc.job_id == c);
  s.send(proto::Progress{c, jc.epoch, "stage1", 1, 10});
  CHECK(env.wait_for("SELECT state FROM framefarm.jobs WHERE id = " + std::to_string(c), "running") == "running");
  test::SimWorker other(env.ctx, ep);
  proto::Register r2;
  r2.worker_id = "w2";
  r2.held = {proto::HeldLease{a, ja.epoch, true}};
  other.send(r2);
  auto cancel = other.recv_until<proto::Cancel>(10s);
  REQUIRE(cancel);
  CHECK(cancel->job_id == a);
  proto::Result forged;
  forged.job_id = c;
  forged.epoch = jc.epoch;
  forged.ok = true;
  forged.output_path = "/forged";
  other.send(forged);
  pump.until([] { return false; }, 500ms);
  CHECK(env.q("SELECT state FROM framefarm.jobs WHERE id = " + std::to_string(c)) == "running");
  proto::Result rc;
  rc.job_id = c;
  rc.epoch = jc.epoch;
  rc.ok = true;
  rc.output_path = "/out/c.mp4";
  s.send(rc);
  REQUIRE(pump.until([&] { return env.q("SELECT state FROM framefarm.jobs WHERE id = " + std::to_string(c)) == "succeeded"; }, 10s));
  CHECK(env.q("SELECT result->>'output_path' FROM framefarm.jobs WHERE id = " + std::to_string(c)) == "/out/c.mp4");
  d2->signal(SIGTERM);
  CHECK(d2->wait(10s) == std::optional<int>(0));
}

TEST_CASE("kill -9 of a dispatcher with the default id (host:port, stable): its restart releases leases no worker re-announces, without waiting for expiry") {
  test::DispatcherEnv env;
  const std::string ep = "tcp://127.0.0.1:" + std::to_string(test::free_tcp_port());
  const std::vector<std::string> slow_expiry{"--lease-timeout-ms", "600000"};  // 10 minutes
  auto d1 = start_quick_beats(env, "", ep, slow_expiry);
  int64_t a = std::stoll(env.q("INSERT INTO framefarm.jobs (prompt) VALUES ('orphan') RETURNING id"));
  {
    test::SimWorker gone(env.ctx, ep);
    REQUIRE(gone.register_as("w-gone", 1));
    REQUIRE(gone.recv_until<proto::Job>(10s));
  }  // the worker is gone with its connection, and so is its dispatcher:
  d1->signal(SIGKILL);
  d1->wait(5s);
  const std::string port = ep.substr(ep.rfind(':'));
  const std::string owner = env.q("SELECT lease_owner FROM framefarm.jobs WHERE id = " + std::to_string(a));
  CHECK(owner.size() > port.size());
  CHECK(owner.substr(owner.size() - port.size()) == port);  // <hostname>:<port>
  CHECK(env.q("SELECT state FROM framefarm.jobs WHERE id = " + std::to_string(a)) == "leased");
  auto d2 = start_quick_beats(env, "", ep, slow_expiry);
  test::SimOptions opt;
  opt.workers = 1;
  opt.slots = 1;
  opt.heartbeat_interval_ms = 100;
  test::SimFleet fleet(env.ctx, ep, opt);
  fleet.start();
  // Released after one silence window of the new process (not after the 10-minute lease), and
  // without using an attempt: it runs once more with attempts = 1.
  CHECK(env.wait_for("SELECT state || '/' || attempts FROM framefarm.jobs WHERE id = " + std::to_string(a),
                     "succeeded/1", 60s) == "succeeded/1");
  fleet.stop();
  d2->signal(SIGTERM);
  CHECK(d2->wait(10s) == std::optional<int>(0));
}
