// unit: the sd_notify protocol (common/sd_notify.hpp) against a real AF_UNIX datagram socket.
#include <doctest/doctest.h>

#include <cstdlib>
#include <string>
#include <thread>

#include <unistd.h>

#include "common/sd_notify.hpp"
#include "tests/ops/notify_socket.hpp"

using namespace std::chrono_literals;
using ff::test::NotifySocket;

namespace {

std::string temp_socket_path(const char* name) {
  return "/tmp/ff-notify-" + std::to_string(::getpid()) + "-" + name;
}

// Sets (or unsets, for nullptr) the notify variables for one test, restoring them after.
struct NotifyEnv {
  NotifyEnv(const char* sock, const char* usec, const char* pid) {
    set("NOTIFY_SOCKET", sock);
    set("WATCHDOG_USEC", usec);
    set("WATCHDOG_PID", pid);
  }
  ~NotifyEnv() {
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("WATCHDOG_PID");
  }
  static void set(const char* k, const char* v) {
    if (v) ::setenv(k, v, 1);
    else ::unsetenv(k);
  }
};

}  // namespace

TEST_CASE("send_notify delivers one datagram to a path socket and to an abstract one") {
  NotifySocket path(temp_socket_path("a"));
  CHECK(ff::sd::send_notify(path.path(), "READY=1\nSTATUS=x"));
  CHECK(path.recv(2000ms) == "READY=1\nSTATUS=x");

  NotifySocket abstract("@ff-notify-" + std::to_string(::getpid()));
  CHECK(ff::sd::send_notify(abstract.path(), "WATCHDOG=1"));
  CHECK(abstract.recv(2000ms) == "WATCHDOG=1");

  // Unusable addresses are refused, not crashed on.
  CHECK_FALSE(ff::sd::send_notify("", "READY=1"));
  CHECK_FALSE(ff::sd::send_notify("relative/path", "READY=1"));
  CHECK_FALSE(ff::sd::send_notify("/nonexistent/dir/notify", "READY=1"));
  CHECK_FALSE(ff::sd::send_notify("/" + std::string(200, 'x'), "READY=1"));
}

TEST_CASE("watchdog interval: WATCHDOG_USEC, only for the process WATCHDOG_PID names") {
  {
    NotifyEnv e(nullptr, "30000000", nullptr);
    CHECK(ff::sd::watchdog_interval_from_env(1234) == 30s);
  }
  {
    NotifyEnv e(nullptr, "30000000", "1234");
    CHECK(ff::sd::watchdog_interval_from_env(1234) == 30s);
    CHECK(ff::sd::watchdog_interval_from_env(99) == 0us);  // meant for another process
  }
  for (const char* bad : {"", "0", "abc", "12x"}) {
    NotifyEnv e(nullptr, bad, nullptr);
    CHECK(ff::sd::watchdog_interval_from_env(1234) == 0us);
  }
  NotifyEnv e(nullptr, nullptr, nullptr);
  CHECK(ff::sd::watchdog_interval_from_env(1234) == 0us);
}

TEST_CASE("Notifier: READY once with its status, STATUS deduplicated, STOPPING, watchdog pings") {
  NotifySocket sock(temp_socket_path("n"));
  const std::string pid = std::to_string(::getpid());
  NotifyEnv env(sock.path().c_str(), "200000", pid.c_str());  // 200 ms watchdog
  ff::sd::Notifier n;
  REQUIRE(n.enabled());
  CHECK(n.watchdog_interval() == 200ms);

  n.status("starting the engine");
  CHECK(sock.recv(1000ms) == "STATUS=starting the engine");
  n.status("starting the engine");  // same status: not sent again
  CHECK(sock.recv(100ms) == "");
  n.ready("serving");
  CHECK(sock.recv(1000ms) == "READY=1\nSTATUS=serving");
  CHECK(n.is_ready());
  n.ready("serving again");  // READY is said once; later calls are plain status updates
  CHECK(sock.recv(1000ms) == "STATUS=serving again");

  n.watchdog_tick();  // first tick pings at once
  CHECK(sock.recv(1000ms) == "WATCHDOG=1");
  n.watchdog_tick();  // within half the interval: no ping
  CHECK(sock.recv(50ms) == "");
  std::this_thread::sleep_for(110ms);
  n.watchdog_tick();
  CHECK(sock.recv(1000ms) == "WATCHDOG=1");

  n.stopping("stopping (signal)");
  CHECK(sock.recv(1000ms) == "STOPPING=1\nSTATUS=stopping (signal)");
  CHECK(n.sent() == 6);
}

TEST_CASE("Notifier without NOTIFY_SOCKET does nothing, without WATCHDOG_USEC never pings") {
  {
    NotifyEnv env(nullptr, "200000", nullptr);
    ff::sd::Notifier n;
    CHECK_FALSE(n.enabled());
    n.ready("serving");
    n.watchdog_tick();
    CHECK(n.sent() == 0);
  }
  NotifySocket sock(temp_socket_path("w"));
  NotifyEnv env(sock.path().c_str(), nullptr, nullptr);
  ff::sd::Notifier n;
  n.watchdog_tick();
  CHECK(sock.recv(100ms) == "");
  CHECK(n.sent() == 0);
}
