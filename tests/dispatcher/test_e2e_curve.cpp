// e2e: ZeroMQ CURVE on the worker link with a real `framefarm-dispatcher serve` process: keygen,
// an authorized worker (the real worker/dispatcher_session.hpp) runs a job; an unauthenticated
// client, an unknown key and a valid key claiming another worker's name get nothing; the
// authorized-keys file is reloaded without a restart.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "dispatcher/curve_auth.hpp"
#include "tests/dispatcher/dispatcher_env.hpp"
#include "tests/dispatcher/process.hpp"
#include "tests/dispatcher/sim_worker.hpp"
#include "worker/dispatcher_session.hpp"

using namespace ff;
using namespace std::chrono_literals;

namespace {
std::string read_all(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

TEST_CASE("CURVE: only authorized keys get a session, each only under its own name, keys reload without restart") {
  REQUIRE(ff::curve_available());
  test::DispatcherEnv env;
  const std::string dir = env.pg.dir();
  // keygen writes a 0600 key pair and prints the public key; it refuses to overwrite.
  const std::string key_file = dir + "/dispatcher.key", out_file = dir + "/keygen.out";
  {
    test::Process k({"/bin/sh", "-c", std::string(FF_DISPATCHER_BIN) + " keygen --out " + key_file + " > " + out_file});
    REQUIRE(k.wait(10s) == std::optional<int>(0));
  }
  auto dkeys = ff::load_curve_keys(key_file, true);
  CHECK(read_all(out_file) == dkeys.public_key + "\n");
  CHECK((std::filesystem::status(key_file).permissions() & std::filesystem::perms::group_read) ==
        std::filesystem::perms::none);
  {
    test::Process again({FF_DISPATCHER_BIN, "keygen", "--out", key_file});
    CHECK(again.wait(10s) == std::optional<int>(1));
  }
  auto w1 = ff::generate_curve_keypair();
  auto w2 = ff::generate_curve_keypair();
  auto stranger = ff::generate_curve_keypair();
  const std::string auth = dir + "/authorized_keys";
  {
    std::ofstream a(auth);
    a << "# workers\n" << w1.public_key << " w1\n";
  }
  const std::string ep = "tcp://127.0.0.1:" + std::to_string(test::free_tcp_port());
  test::Process d({FF_DISPATCHER_BIN, "serve", "--database", env.pg.url(), "--bind", ep, "--dispatcher-id", "dC",
                   "--poll-interval-ms", "50", "--heartbeat-interval-ms", "300", "--curve-key-file", key_file,
                   "--authorized-keys", auth, "--handshake-timeout-ms", "1000"});
  int64_t job = std::stoll(env.q("INSERT INTO framefarm.jobs (prompt) VALUES ('secret') RETURNING id"));

  // No CURVE at all: the handshake never completes, nothing reaches the dispatcher's loop.
  test::SimWorker plain(env.ctx, ep);
  plain.send(proto::Register{"w1", "sim", 0, 0, "", 4});
  CHECK_FALSE(plain.recv_until<proto::Welcome>(1500ms));
  // A well-formed key the dispatcher does not know: refused by the ZAP handler.
  test::SimCurve unknown{dkeys.public_key, stranger.public_key, stranger.secret_key};
  test::SimWorker intruder(env.ctx, ep, &unknown);
  intruder.send(proto::Register{"w1", "sim", 0, 0, "", 4});
  CHECK_FALSE(intruder.recv_until<proto::Welcome>(1500ms));
  // w1's key, claiming to be w2: the register is rejected.
  test::SimCurve w1c{dkeys.public_key, w1.public_key, w1.secret_key};
  test::SimWorker impostor(env.ctx, ep, &w1c);
  impostor.send(proto::Register{"w2", "sim", 0, 0, "", 4});
  CHECK_FALSE(impostor.recv_until<proto::Welcome>(1500ms));
  CHECK(env.q("SELECT state || '/' || attempts FROM framefarm.jobs WHERE id = " + std::to_string(job)) == "queued/0");
  CHECK(env.q("SELECT count(*) FROM framefarm.workers") == "0");

  // The authorized worker, through the real session: registered, gets the prompt, finishes it.
  worker::DispatcherSession s(env.ctx, ep, 100);
  s.set_curve({dkeys.public_key, w1.public_key, w1.secret_key});
  proto::Register reg;
  reg.worker_id = "w1";
  reg.gpu_name = "sim";
  reg.free_slots = 1;
  s.connect(reg);
  std::optional<proto::Job> got;
  auto deadline = std::chrono::steady_clock::now() + 15s;
  while (!got && std::chrono::steady_clock::now() < deadline) {
    zmq::pollitem_t it{static_cast<void*>(s.socket()), 0, ZMQ_POLLIN, 0};
    zmq::poll(&it, 1, std::chrono::milliseconds(20));
    for (auto& m : s.receive())
      if (auto* j = std::get_if<proto::Job>(&m)) got = *j;
    s.tick();
  }
  REQUIRE(got);
  CHECK(got->prompt == "secret");
  proto::Result r;
  r.job_id = job;
  r.epoch = got->epoch;
  r.ok = true;
  s.send(r);
  CHECK(env.wait_for("SELECT state FROM framefarm.jobs WHERE id = " + std::to_string(job), "succeeded") == "succeeded");
  // The unauthenticated peers could not complete it either way, nor did they become workers.
  CHECK(env.q("SELECT string_agg(worker_id, ',') FROM framefarm.workers") == "w1");

  // w2 is added to the file: a new connection with its key registers, without a restart.
  {
    std::ofstream a(auth, std::ios::app);
    a << w2.public_key << " w2\n";
  }
  test::SimCurve w2c{dkeys.public_key, w2.public_key, w2.secret_key};
  bool welcomed = false;
  for (int attempt = 0; attempt < 10 && !welcomed; ++attempt) {  // the reload is checked each second
    test::SimWorker late(env.ctx, ep, &w2c);
    late.send(proto::Register{"w2", "sim", 0, 0, "", 0});
    welcomed = late.recv_until<proto::Welcome>(1000ms).has_value();
  }
  CHECK(welcomed);
  d.signal(SIGTERM);
  CHECK(d.wait(10s) == std::optional<int>(0));
}

TEST_CASE("without keys the dispatcher binds loopback only and says so, a non-loopback address is refused") {
  dispatcher::ServeConfig c;
  std::string note;
  c.bind_endpoint = "tcp://*:5555";
  CHECK(dispatcher::secure_bind_endpoint(c, note) == "tcp://127.0.0.1:5555");
  CHECK(note.find("loopback only") != std::string::npos);
  c.bind_endpoint = "tcp://0.0.0.0:7000";
  CHECK(dispatcher::secure_bind_endpoint(c, note) == "tcp://127.0.0.1:7000");
  c.bind_endpoint = "tcp://127.0.0.1:7000";
  CHECK(dispatcher::secure_bind_endpoint(c, note) == "tcp://127.0.0.1:7000");
  CHECK(note.empty());
  c.bind_endpoint = "tcp://10.1.2.3:7000";
  CHECK_THROWS_WITH(dispatcher::secure_bind_endpoint(c, note), doctest::Contains("not loopback"));
  c.insecure_bind = true;
  CHECK(dispatcher::secure_bind_endpoint(c, note) == "tcp://10.1.2.3:7000");
  c.insecure_bind = false;
  c.curve_secret_key = "x";
  c.bind_endpoint = "tcp://*:5555";
  CHECK(dispatcher::secure_bind_endpoint(c, note) == "tcp://*:5555");
  // The serve command: a non-loopback bind without keys exits 2 with the reason.
  test::Process p({FF_DISPATCHER_BIN, "serve", "--bind", "tcp://10.1.2.3:7000", "--database", "postgresql://nobody@127.0.0.1:1/x"});
  CHECK(p.wait(10s) == std::optional<int>(2));
}
