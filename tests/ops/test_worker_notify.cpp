// e2e: the real framefarm-worker under a test NOTIFY_SOCKET (as systemd runs a Type=notify unit):
// the notify sequence of a healthy start and stop, and a worker whose engine cannot start (backoff,
// STATUS, exit status 3 instead of restarting forever).
#include <doctest/doctest.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>
#include <zmq.hpp>

#include "common/json_fields.hpp"
#include "common/protocol.hpp"
#include "tests/ops/notify_socket.hpp"
#include "tests/worker/process_harness.hpp"

namespace proto = ff::proto;
namespace json = ff::json;
using namespace std::chrono_literals;

namespace {

// The dispatcher's side, scripted: takes Register, answers Welcome when told, heartbeats.
class MiniDispatcher {
 public:
  MiniDispatcher() : ctx_(1), sock_(ctx_, zmq::socket_type::router) {
    sock_.set(zmq::sockopt::linger, 0);
    sock_.bind("tcp://127.0.0.1:*");
    endpoint_ = sock_.get(zmq::sockopt::last_endpoint);
  }
  const std::string& endpoint() const { return endpoint_; }
  bool registered() const { return !peer_.empty(); }
  void welcome() { send(proto::Welcome{200, 3}); }

  void pump(std::chrono::milliseconds d) {
    const auto end = std::chrono::steady_clock::now() + d;
    do {
      zmq::pollitem_t it{static_cast<void*>(sock_), 0, ZMQ_POLLIN, 0};
      zmq::poll(&it, 1, 10ms);
      zmq::message_t id, body;
      while (sock_.recv(id, zmq::recv_flags::dontwait)) {
        (void)sock_.recv(body, zmq::recv_flags::dontwait);
        auto m = proto::decode(body.to_string_view());
        if (auto* msg = std::get_if<proto::Message>(&m); msg && std::holds_alternative<proto::Register>(*msg))
          peer_ = id.to_string();
      }
      if (!peer_.empty() && std::chrono::steady_clock::now() - last_hb_ > 100ms) {
        send(proto::Heartbeat{});
        last_hb_ = std::chrono::steady_clock::now();
      }
    } while (std::chrono::steady_clock::now() < end);
  }

 private:
  void send(const proto::Message& m) {
    const std::string f = proto::encode(m);
    sock_.send(zmq::buffer(peer_), zmq::send_flags::sndmore);
    sock_.send(zmq::buffer(f), zmq::send_flags::none);
  }
  zmq::context_t ctx_;
  zmq::socket_t sock_;
  std::string endpoint_, peer_;
  std::chrono::steady_clock::time_point last_hb_{};
};

const std::string& model_dir() {
  static ff::test::TempDir dir("ff-ops-model");
  static const bool made = (ff::test::make_tokenizer_model(dir.path()), true);
  (void)made;
  return dir.path();
}

// Writes the harness's test-engine worker config, with `extra` keys set over it.
std::string worker_config(const ff::test::TempDir& dir, const std::string& endpoint, const json::Json& extra) {
  ff::test::WorkerSpec spec;
  spec.endpoint = endpoint;
  spec.worker_id = "notify-worker";
  spec.model_dir = model_dir();
  spec.run_dir = dir.path() + "/run";
  spec.output_root = dir.path() + "/out";
  const std::string path = dir.path() + "/worker.json";
  ff::test::write_worker_config(path, spec);
  json::Json v = json::parse(ff::test::read_file(path), path);
  for (const auto& [k, x] : extra.items()) v[k] = x;
  std::ofstream(path) << v.dump(2);
  return path;
}

bool has_prefix(const std::vector<std::string>& got, const std::string& prefix) {
  for (const auto& g : got)
    if (g.rfind(prefix, 0) == 0) return true;
  return false;
}

}  // namespace

TEST_CASE("notify sequence: STATUS while starting, READY=1 only after Welcome, WATCHDOG=1 pings, STOPPING=1 on SIGTERM") {
  ff::test::TempDir dir("ff-ops-notify");
  ff::test::NotifySocket sock(dir.path() + "/notify");
  MiniDispatcher disp;
  const std::string cfg = worker_config(dir, disp.endpoint(), {});
  std::vector<std::string> got;
  auto drain = [&](std::chrono::milliseconds d) {
    const auto end = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < end) {
      disp.pump(5ms);
      for (std::string m; !(m = sock.recv(1ms)).empty();) got.push_back(m);
    }
  };
  ff::test::Child w({FF_WORKER_BIN, "serve", "--config", cfg},
                    {{"NOTIFY_SOCKET", sock.path()}, {"WATCHDOG_USEC", "300000"}}, dir.path() + "/worker.log");
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!disp.registered() && std::chrono::steady_clock::now() < deadline) drain(20ms);
  INFO(ff::test::read_file(dir.path() + "/worker.log"));
  REQUIRE(disp.registered());
  drain(500ms);  // registered but not welcomed: not ready yet
  REQUIRE_FALSE(got.empty());
  CHECK(got.front() == "STATUS=starting the engine");
  CHECK_FALSE(has_prefix(got, "READY=1"));
  const size_t pings_before = std::count(got.begin(), got.end(), "WATCHDOG=1");
  CHECK(pings_before >= 2);  // 300 ms watchdog: a ping every 150 ms from the loop

  disp.welcome();
  for (int i = 0; i < 100 && !has_prefix(got, "READY=1"); ++i) drain(20ms);
  REQUIRE(has_prefix(got, "READY=1\nSTATUS=serving"));
  CHECK(std::find(got.begin(), got.end(),
                  "READY=1\nSTATUS=serving: engine up, registered with " + disp.endpoint() + " as notify-worker") !=
        got.end());
  drain(400ms);
  CHECK(static_cast<size_t>(std::count(got.begin(), got.end(), "WATCHDOG=1")) >= pings_before + 2);

  w.signal(SIGTERM);
  int status = -1;
  for (int i = 0; i < 250 && (status = w.wait(20ms)) < 0; ++i) drain(1ms);
  drain(50ms);
  CHECK(status == 0);
  CHECK(has_prefix(got, "STOPPING=1\nSTATUS=stopping (signal)"));
  // The order systemd needs: READY before STOPPING, nothing but pings and statuses before READY.
  const auto ready = std::find_if(got.begin(), got.end(), [](auto& m) { return m.rfind("READY=1", 0) == 0; });
  const auto stopping = std::find_if(got.begin(), got.end(), [](auto& m) { return m.rfind("STOPPING=1", 0) == 0; });
  CHECK(ready < stopping);
}

TEST_CASE("an engine that cannot start: waits double, then the worker says so and exits with status 3") {
  ff::test::TempDir dir("ff-ops-giveup");
  ff::test::NotifySocket sock(dir.path() + "/notify");
  MiniDispatcher disp;
  // /bin/false exits 1 at once, like an engine refusing its model files.
  const std::string cfg = worker_config(dir, disp.endpoint(),
                                        {{"engine_command", "/bin/false"},
                                         {"engine_restart_backoff_ms", 100},
                                         {"engine_restart_backoff_max_ms", 400},
                                         {"engine_max_start_failures", 4}});
  const auto t0 = std::chrono::steady_clock::now();
  ff::test::Child w({FF_WORKER_BIN, "serve", "--config", cfg}, {{"NOTIFY_SOCKET", sock.path()}},
                    dir.path() + "/worker.log");
  std::vector<std::string> got;
  int status = -1;
  for (int i = 0; i < 1000 && (status = w.wait(10ms)) < 0; ++i) {
    disp.pump(1ms);
    for (std::string m; !(m = sock.recv(1ms)).empty();) got.push_back(m);
  }
  for (std::string m; !(m = sock.recv(50ms)).empty();) got.push_back(m);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string log = ff::test::read_file(dir.path() + "/worker.log");
  INFO(log);
  CHECK(status == 3);
  CHECK(secs >= 0.7);  // 100 + 200 + 400 ms between the four starts
  CHECK_FALSE(disp.registered());
  // The waits double up to the cap, each said in the log and in the unit's status.
  for (const char* wait : {"restarting in 100 ms", "restarting in 200 ms", "restarting in 400 ms"}) {
    CHECK(log.find(wait) != std::string::npos);
    CHECK(std::find_if(got.begin(), got.end(), [&](auto& m) { return m.find(wait) != std::string::npos; }) !=
          got.end());
  }
  CHECK(log.find("engine cannot start: 4 starts in a row failed, the last: engine process exited with status 1") !=
        std::string::npos);
  CHECK(has_prefix(got, "STOPPING=1\nSTATUS=stopping (engine cannot start: 4 starts in a row failed"));
  CHECK_FALSE(has_prefix(got, "READY=1"));
}
