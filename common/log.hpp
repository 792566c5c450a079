// Minimal structured logger shared by every process: one line per event on stderr,
//   2026-11-29T15:30:00.123Z WARN dispatcher: message
// Header-only so any target that includes common/ can use it. Thread-safe (one mutex).
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>

namespace ff::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Process-wide minimum level (default info; FF_LOG_LEVEL=debug|info|warn|error overrides).
inline Level& min_level() {
  static Level level = [] {
    const char* e = std::getenv("FF_LOG_LEVEL");
    std::string_view s = e ? e : "";
    if (s == "debug") return Level::kDebug;
    if (s == "warn") return Level::kWarn;
    if (s == "error") return Level::kError;
    return Level::kInfo;
  }();
  return level;
}

inline std::string_view level_name(Level l) {
  switch (l) {
    case Level::kDebug: return "DEBUG";
    case Level::kInfo: return "INFO";
    case Level::kWarn: return "WARN";
    case Level::kError: return "ERROR";
  }
  return "?";
}

// Writes one line if `l` >= min_level(). Any thread.
inline void write(Level l, std::string_view component, std::string_view msg) {
  if (l < min_level()) return;
  using namespace std::chrono;
  auto now = system_clock::now();
  auto t = system_clock::to_time_t(now);
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char ts[32];
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  std::fprintf(stderr, "%s %s %.*s: %.*s\n", ts, level_name(l).data(),
               static_cast<int>(component.size()), component.data(), static_cast<int>(msg.size()),
               msg.data());
}

// Stream-style helpers: ff::log::info("dispatcher", "claimed ", n, " jobs").
template <typename... A>
inline std::string cat(const A&... a) {
  std::ostringstream os;
  (os << ... << a);
  return os.str();
}
template <typename... A>
inline void debug(std::string_view c, const A&... a) {
  if (Level::kDebug >= min_level()) write(Level::kDebug, c, cat(a...));
}
template <typename... A>
inline void info(std::string_view c, const A&... a) {
  if (Level::kInfo >= min_level()) write(Level::kInfo, c, cat(a...));
}
template <typename... A>
inline void warn(std::string_view c, const A&... a) {
  write(Level::kWarn, c, cat(a...));
}
template <typename... A>
inline void error(std::string_view c, const A&... a) {
  write(Level::kError, c, cat(a...));
}

}  // namespace ff::log
