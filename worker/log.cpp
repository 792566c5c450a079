#include "worker/log.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

#include <unistd.h>

namespace ff::worker {
namespace {
void write_line(std::string_view level, std::string_view line) {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const int ms = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[40];
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  std::string out;
  out.reserve(line.size() + 64);
  out.append(stamp).append(" worker[").append(std::to_string(getpid())).append("] ");
  out.append(level).append(" ").append(line).append("\n");
  (void)!::write(2, out.data(), out.size());
}
}  // namespace

void log_info(std::string_view line) { write_line("INFO", line); }
void log_warn(std::string_view line) { write_line("WARN", line); }
void log_error(std::string_view line) { write_line("ERROR", line); }

}  // namespace ff::worker
