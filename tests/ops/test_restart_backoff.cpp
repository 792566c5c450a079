// unit: the engine restart backoff (worker/restart_backoff.hpp) and its config keys.
#include <doctest/doctest.h>

#include <string>

#include "worker/restart_backoff.hpp"
#include "worker/worker_config.hpp"

using namespace std::chrono_literals;
using ff::worker::RestartBackoff;
using ff::worker::RestartPolicy;
using Clock = RestartBackoff::Clock;

TEST_CASE("the wait doubles from the initial value up to the cap") {
  RestartBackoff b(RestartPolicy{1000, 60000, 0});
  const Clock::time_point t0{};
  std::vector<long> waits;
  for (int i = 0; i < 9; ++i) waits.push_back(b.failed(t0 + std::chrono::seconds(i)).count());
  CHECK(waits == std::vector<long>{1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000});
  CHECK_FALSE(b.exhausted());  // max_start_failures 0: never gives up
  CHECK(b.start_failures() == 9);
}

TEST_CASE("an engine that stayed up for the cap starts over from the initial wait, a short run does not") {
  RestartBackoff b(RestartPolicy{1000, 8000, 3});
  Clock::time_point t{};
  CHECK(b.failed(t) == 1000ms);  // start failure 1
  b.started(t += 2s);            // EngineHello: the start-failure streak ends
  CHECK(b.start_failures() == 0);
  CHECK(b.failed(t += 1s) == 2000ms);  // crashed after 1 s up: still backing off
  b.started(t += 3s);
  CHECK(b.failed(t += 1s) == 4000ms);
  b.started(t += 5s);
  CHECK(b.failed(t += 8s) == 1000ms);  // up for the cap (8 s): a rare crash, restart at once
  CHECK(b.next_delay() == 2000ms);
  CHECK_FALSE(b.exhausted());
}

TEST_CASE("max_start_failures failures before EngineHello in a row exhaust it, crashes after hello do not count") {
  RestartBackoff b(RestartPolicy{10, 40, 3});
  Clock::time_point t{};
  b.failed(t);
  b.failed(t);
  CHECK_FALSE(b.exhausted());
  b.started(t);
  b.failed(t);  // crash after hello: not a start failure
  CHECK(b.start_failures() == 0);
  b.failed(t);
  b.failed(t);
  CHECK_FALSE(b.exhausted());
  b.failed(t);
  CHECK(b.exhausted());
  CHECK(b.start_failures() == 3);
}

TEST_CASE("a zero initial wait restarts at once, then still backs off") {
  RestartBackoff b(RestartPolicy{0, 100, 0});
  Clock::time_point t{};
  CHECK(b.failed(t) == 0ms);
  CHECK(b.failed(t) == 1ms);
  CHECK(b.failed(t) == 2ms);
}

TEST_CASE("worker config: backoff keys, their defaults and ranges") {
  const std::string base = R"("dispatcher_endpoint": "tcp://h:1", "worker_id": "w",
      "model_files": {"checkpoint": "/m/c.safetensors", "text_encoder": "/m/g"})";
  const auto c = ff::worker::decode_worker_config("{" + base + "}");
  CHECK(c.engine_restart_backoff_ms == 1000);
  CHECK(c.engine_restart_backoff_max_ms == 60000);
  CHECK(c.engine_max_start_failures == 5);
  const auto d = ff::worker::decode_worker_config(
      "{" + base + R"(, "engine_restart_backoff_max_ms": 30000, "engine_max_start_failures": 0})");
  CHECK(d.engine_restart_backoff_max_ms == 30000);
  CHECK(d.engine_max_start_failures == 0);
  auto err = [&](const std::string& extra) {
    try {
      ff::worker::decode_worker_config("{" + base + ", " + extra + "}");
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(err(R"("engine_max_start_failures": -1)").find("'engine_max_start_failures'") != std::string::npos);
  CHECK(err(R"("engine_restart_backoff_max_ms": "1s")").find("'engine_restart_backoff_max_ms'") != std::string::npos);
}
