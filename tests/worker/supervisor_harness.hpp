// Shared by the supervisor e2e tests: a scripted dispatcher (a ZeroMQ ROUTER in the test
// process) and a real framefarm-worker process with the test engine wired to it. Test thread only.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "common/protocol.hpp"
#include "tests/worker/process_harness.hpp"

namespace ff::test::supervisor {

namespace proto = ff::proto;
using namespace std::chrono_literals;

struct Received {
  std::string from;
  proto::Message msg;
};

// A scripted dispatcher: records every non-heartbeat message, heartbeats the worker.
class FakeDispatcher {
 public:
  FakeDispatcher() : ctx_(1), sock_(ctx_, zmq::socket_type::router) {
    sock_.set(zmq::sockopt::linger, 0);
    sock_.bind("tcp://127.0.0.1:*");
    endpoint_ = sock_.get(zmq::sockopt::last_endpoint);
  }
  const std::string& endpoint() const { return endpoint_; }

  void send(const proto::Message& m) { send_to(peer_, m); }
  void send_raw(const std::string& frame) {
    sock_.send(zmq::buffer(peer_), zmq::send_flags::sndmore);
    sock_.send(zmq::buffer(frame), zmq::send_flags::none);
  }
  void send_to(const std::string& id, const proto::Message& m) {
    const std::string f = proto::encode(m);
    sock_.send(zmq::buffer(id), zmq::send_flags::sndmore);
    sock_.send(zmq::buffer(f), zmq::send_flags::none);
  }

  // Receives for up to `ms`, heartbeating the current peer every 100 ms unless silenced.
  void pump(int ms) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    do {
      zmq::pollitem_t it{static_cast<void*>(sock_), 0, ZMQ_POLLIN, 0};
      zmq::poll(&it, 1, 20ms);
      zmq::message_t id, body;
      while (sock_.recv(id, zmq::recv_flags::dontwait)) {
        (void)sock_.recv(body, zmq::recv_flags::dontwait);
        auto d = proto::decode(body.to_string_view());
        REQUIRE(std::holds_alternative<proto::Message>(d));
        auto& m = std::get<proto::Message>(d);
        if (std::holds_alternative<proto::Register>(m)) peer_ = id.to_string();
        if (std::holds_alternative<proto::Heartbeat>(m)) continue;
        log_.push_back({id.to_string(), std::move(m)});
      }
      const auto now = std::chrono::steady_clock::now();
      if (heartbeats && !peer_.empty() && now - last_hb_ > 100ms) {
        send(proto::Heartbeat{});
        last_hb_ = now;
      }
    } while (std::chrono::steady_clock::now() < end);
  }

  template <class Pred>
  bool wait(Pred pred, std::chrono::milliseconds timeout = 15000ms) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
      if (std::chrono::steady_clock::now() > end) return false;
      pump(20);
    }
    return true;
  }

  template <class T>
  std::vector<T> all() const {
    std::vector<T> out;
    for (const auto& r : log_)
      if (auto* t = std::get_if<T>(&r.msg)) out.push_back(*t);
    return out;
  }
  template <class T>
  std::optional<T> result_of(int64_t job_id) const {
    for (const auto& r : log_)
      if (auto* t = std::get_if<T>(&r.msg); t && t->job_id == job_id) return *t;
    return std::nullopt;
  }
  // Index in the log of the first message of type T (or -1).
  template <class T>
  int index_of() const {
    for (size_t i = 0; i < log_.size(); ++i)
      if (std::holds_alternative<T>(log_[i].msg)) return static_cast<int>(i);
    return -1;
  }
  const std::vector<Received>& log() const { return log_; }
  const std::string& peer() const { return peer_; }

  bool heartbeats = true;

 private:
  zmq::context_t ctx_;
  zmq::socket_t sock_;
  std::string endpoint_;
  std::string peer_;
  std::vector<Received> log_;
  std::chrono::steady_clock::time_point last_hb_{};
};

// One model dir for the whole test process (tokenizer only: the test engine needs no weights).
inline const std::string& model_dir() {
  static ff::test::TempDir dir("ff-worker-model");
  static const bool made = (ff::test::make_tokenizer_model(dir.path()), true);
  (void)made;
  return dir.path();
}

// A worker process wired to `fake`, with the test engine configured by `env`.
struct WorkerRun {
  ff::test::TempDir dir{"ff-worker-run"};
  std::string engine_log = dir.path() + "/engine.log";
  std::unique_ptr<ff::test::Child> child;

  WorkerRun(FakeDispatcher& fake, std::map<std::string, std::string> env,
            ff::test::WorkerSpec spec = {}) {
    spec.endpoint = fake.endpoint();
    spec.worker_id = "test-worker";
    spec.model_dir = model_dir();
    spec.run_dir = dir.path() + "/run";
    spec.output_root = dir.path() + "/out";
    const std::string cfg = dir.path() + "/worker.json";
    ff::test::write_worker_config(cfg, spec);
    env["FF_TEST_ENGINE_LOG"] = engine_log;
    child = std::make_unique<ff::test::Child>(std::vector<std::string>{FF_WORKER_BIN, "serve", "--config", cfg},
                                    env, dir.path() + "/worker.log");
  }
  std::string log() const { return ff::test::read_file(dir.path() + "/worker.log"); }
};

inline proto::Job job(int64_t id, std::string prompt, std::string negative = "") {
  proto::Job j;
  j.job_id = id;
  j.epoch = 1000 + id;
  j.prompt = std::move(prompt);
  j.negative_prompt = std::move(negative);
  j.params.num_inference_steps = 30;
  return j;
}

inline proto::Register registered(FakeDispatcher& fake, WorkerRun& w) {
  const bool ok = fake.wait([&] { return !fake.all<proto::Register>().empty(); });
  INFO(w.log());
  REQUIRE(ok);
  fake.send(proto::Welcome{200, 3});
  return fake.all<proto::Register>().front();
}

inline int encoded_prompts(const std::string& engine_log) {
  std::istringstream in(ff::test::read_file(engine_log));
  std::string l;
  int n = 0;
  while (std::getline(in, l))
    if (l.rfind("encode ", 0) == 0) n += std::stoi(l.substr(7));
  return n;
}

}  // namespace ff::test::supervisor
