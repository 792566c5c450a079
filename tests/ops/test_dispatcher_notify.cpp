// e2e (PostgreSQL): `framefarm-dispatcher serve` under a test NOTIFY_SOCKET, as systemd runs its
// Type=notify unit: READY=1 only once the database is connected (and the socket bound), WATCHDOG=1
// pings from its loop, STOPPING=1 on SIGTERM, exit 0.
// Without the notify calls in dispatcher/server.cpp Impl::run() it fails: no READY=1, no WATCHDOG=1.
#include <doctest/doctest.h>

#include <algorithm>
#include <csignal>
#include <string>
#include <vector>

#include "tests/ops/notify_socket.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/worker/process_harness.hpp"

using namespace std::chrono_literals;

namespace {

bool has_prefix(const std::vector<std::string>& got, const std::string& prefix) {
  return std::any_of(got.begin(), got.end(), [&](const std::string& g) { return g.rfind(prefix, 0) == 0; });
}

void collect(ff::test::NotifySocket& sock, std::vector<std::string>& got, std::chrono::milliseconds d) {
  const auto end = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < end)
    if (std::string m = sock.recv(10ms); !m.empty()) got.push_back(m);
}

}  // namespace

TEST_CASE("dispatcher: no READY while the database is unreachable, READY=1 once it is, WATCHDOG=1, STOPPING=1 on SIGTERM") {
  ff::test::TempDir dir("ff-ops-disp-notify");
  ff::test::NotifySocket sock(dir.path() + "/notify");
  const int dead_port = ff::test::free_tcp_port();
  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(ff::test::free_tcp_port());
  std::vector<std::string> got;
  {
    // Nothing listens on dead_port: serving workers would be possible, claiming jobs is not.
    ff::test::Child d({FF_DISPATCHER_BIN, "serve", "--database",
                       "postgresql://postgres@127.0.0.1:" + std::to_string(dead_port) + "/postgres", "--bind", endpoint},
                      {{"NOTIFY_SOCKET", sock.path()}, {"WATCHDOG_USEC", "200000"}}, dir.path() + "/down.log");
    collect(sock, got, 1500ms);
    INFO(ff::test::read_file(dir.path() + "/down.log"));
    CHECK_FALSE(has_prefix(got, "READY=1"));
    CHECK(std::count(got.begin(), got.end(), "WATCHDOG=1") >= 3);  // the loop turns and says so
    d.signal(SIGKILL);
  }
  got.clear();
  ff::test::PgCluster pg;
  ff::test::run_command({FF_DISPATCHER_BIN, "migrate", "--database", pg.url(), "--schema-dir", FF_SCHEMA_DIR});
  ff::test::Child d({FF_DISPATCHER_BIN, "serve", "--database", pg.url(), "--bind", endpoint},
                    {{"NOTIFY_SOCKET", sock.path()}, {"WATCHDOG_USEC", "200000"}}, dir.path() + "/up.log");
  for (int i = 0; i < 100 && !has_prefix(got, "READY=1"); ++i) collect(sock, got, 100ms);
  INFO(ff::test::read_file(dir.path() + "/up.log"));
  REQUIRE(has_prefix(got, "READY=1"));
  const auto pings = std::count(got.begin(), got.end(), "WATCHDOG=1");
  collect(sock, got, 1000ms);
  CHECK(std::count(got.begin(), got.end(), "WATCHDOG=1") >= pings + 2);
  d.signal(SIGTERM);
  int status = -1;
  for (int i = 0; i < 100 && (status = d.wait(50ms)) < 0; ++i) collect(sock, got, 1ms);
  collect(sock, got, 50ms);
  CHECK(status == 0);
  CHECK(has_prefix(got, "STOPPING=1"));
}
