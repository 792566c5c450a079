#include "common/sd_notify.hpp"

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace ff::sd {

bool send_notify(const std::string& socket_path, std::string_view state) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  // "@name" is the abstract namespace: a leading NUL byte, and the length counts only the name.
  const bool abstract = !socket_path.empty() && socket_path[0] == '@';
  if (socket_path.empty() || (socket_path[0] != '/' && !abstract) ||
      socket_path.size() >= sizeof addr.sun_path) {
    errno = EINVAL;
    return false;
  }
  std::memcpy(addr.sun_path, socket_path.data(), socket_path.size());
  if (abstract) addr.sun_path[0] = '\0';
  const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_path.size() +
                                               (abstract ? 0 : 1));
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  ssize_t n;
  do {
    n = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr), len);
  } while (n < 0 && errno == EINTR);
  const int saved = errno;
  ::close(fd);
  errno = saved;
  return n == static_cast<ssize_t>(state.size());
}

std::chrono::microseconds watchdog_interval_from_env(pid_t pid) {
  const char* usec = std::getenv("WATCHDOG_USEC");
  if (!usec || !*usec) return std::chrono::microseconds(0);
  if (const char* wpid = std::getenv("WATCHDOG_PID"); wpid && *wpid) {
    char* end = nullptr;
    const long long p = std::strtoll(wpid, &end, 10);
    if (*end != '\0' || p != static_cast<long long>(pid)) return std::chrono::microseconds(0);
  }
  char* end = nullptr;
  const unsigned long long v = std::strtoull(usec, &end, 10);
  if (*end != '\0' || v == 0) return std::chrono::microseconds(0);
  return std::chrono::microseconds(static_cast<int64_t>(v));
}

Notifier::Notifier() {
  if (const char* s = std::getenv("NOTIFY_SOCKET"); s && *s) socket_ = s;
  watchdog_ = watchdog_interval_from_env(::getpid());
}

void Notifier::send(const std::string& state) {
  if (socket_.empty()) return;
  if (send_notify(socket_, state)) ++sent_;
}

void Notifier::ready(std::string_view status) {
  if (ready_) return this->status(status);
  ready_ = true;
  last_status_ = std::string(status);
  send("READY=1\nSTATUS=" + last_status_);
}

void Notifier::status(std::string_view status) {
  if (status == last_status_) return;
  last_status_ = std::string(status);
  send("STATUS=" + last_status_);
}

void Notifier::stopping(std::string_view status) {
  last_status_ = std::string(status);
  send("STOPPING=1\nSTATUS=" + last_status_);
}

void Notifier::watchdog_tick() {
  if (watchdog_.count() == 0 || socket_.empty()) return;
  const auto now = std::chrono::steady_clock::now();
  if (last_ping_ != std::chrono::steady_clock::time_point{} && now - last_ping_ < watchdog_ / 2) return;
  last_ping_ = now;
  send("WATCHDOG=1");
}

}  // namespace ff::sd
