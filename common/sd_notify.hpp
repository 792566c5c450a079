// The systemd notification protocol (sd_notify(3)) for Type=notify services, without libsystemd:
// one datagram of newline-separated KEY=VALUE lines ("READY=1", "STATUS=...", "WATCHDOG=1",
// "STOPPING=1") sent to the AF_UNIX socket named by $NOTIFY_SOCKET (a file path, or "@name" for
// the abstract namespace). The protocol is one sendto(); a library for it would be one more
// dependency to stage on every GPU host.
//
// Without $NOTIFY_SOCKET (not under systemd, or Type=simple) every call is a no-op, so the
// binaries behave the same from a shell. Errors are never fatal: a lost notification is logged by
// the caller at most. Not thread-safe: one thread (the main loop) owns a Notifier.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include <sys/types.h>

namespace ff::sd {

// Sends `state` once to `socket_path` ("/run/..." or "@abstract"). Returns false (errno set) when
// the address is unusable or sendto fails. Pure apart from the socket.
bool send_notify(const std::string& socket_path, std::string_view state);

// The watchdog interval the service manager expects pings within: $WATCHDOG_USEC when it is a
// positive number and $WATCHDOG_PID is unset or equals `pid`; zero otherwise (no watchdog).
std::chrono::microseconds watchdog_interval_from_env(pid_t pid);

class Notifier {
 public:
  // Reads $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID once (the environment is left as is).
  Notifier();

  bool enabled() const { return !socket_.empty(); }
  std::chrono::microseconds watchdog_interval() const { return watchdog_; }

  // "READY=1\nSTATUS=<status>": startup is complete (at most once; later calls send STATUS only).
  void ready(std::string_view status);
  // "STATUS=<status>" (shown by `systemctl status`); repeated identical statuses are sent once.
  void status(std::string_view status);
  // "STOPPING=1\nSTATUS=<status>": shutdown has begun.
  void stopping(std::string_view status);
  // Call from every turn of the main loop: sends "WATCHDOG=1" when half the watchdog interval has
  // passed since the last ping (systemd's advice), so a loop that stops turning is killed.
  void watchdog_tick();

  bool is_ready() const { return ready_; }
  uint64_t sent() const { return sent_; }  // datagrams sent successfully (for tests and logs)

 private:
  void send(const std::string& state);
  std::string socket_;
  std::chrono::microseconds watchdog_{0};
  std::chrono::steady_clock::time_point last_ping_{};
  std::string last_status_;
  bool ready_ = false;
  uint64_t sent_ = 0;
};

}  // namespace ff::sd
