// The one log format of every framefarm process (dispatcher, worker supervisor, engine):
// logfmt, one line per event on stderr:
//
//   ts=2026-11-30T12:36:54.123Z level=warn component=dispatcher msg="worker silent" worker_id=gpu-1 job_id=42
//
// - ts: UTC, milliseconds. level: debug|info|warn|error. component: dispatcher|worker|engine|...
// - msg: free text; further key=value fields follow (job_id, epoch, attempt, worker_id, ...).
//   A value is written bare unless it is empty or holds a space, '=', '"', '\' or a control
//   character; then it is double-quoted with \" \\ \n \r \t escapes (logfmt).
// - journald: when stderr is the journal (systemd sets JOURNAL_STREAM=<dev>:<ino> of the stream
//   it connected; we compare it with fstat(2)), each line starts with the syslog priority prefix
//   "<3>" error, "<4>" warn, "<6>" info, "<7>" debug, so `journalctl -p warning` selects warnings.
//   FF_LOG_JOURNAL=1|0 forces the prefix on/off.
// - Level: FF_LOG_LEVEL=debug|info|warn|error (default info); the worker passes its environment
//   to the engine, so one setting governs every process of a node. set_min_level() overrides.
//
// Thread-safe: each line is built in memory and written with one write(2).
#pragma once

#include <chrono>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace ff::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// One key=value pair after msg. Build with kv().
struct Field {
  std::string key;
  std::string value;
};

template <typename T>
Field kv(std::string_view key, const T& value) {
  if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    return {std::string(key), std::string(std::string_view(value))};
  } else {
    std::ostringstream os;
    os << value;
    return {std::string(key), os.str()};
  }
}

// "debug" | "info" | "warn" | "warning" | "error" -> level; anything else -> nullopt.
std::optional<Level> parse_level(std::string_view name);
std::string_view level_name(Level l);  // "debug" | "info" | "warn" | "error"
int journal_priority(Level l);         // 7 | 6 | 4 | 3

// Process-wide minimum level: FF_LOG_LEVEL at first use (invalid or unset: info).
Level min_level();
void set_min_level(Level l);
inline bool enabled(Level l) { return l >= min_level(); }

// Whether lines carry the journald "<N>" prefix (see above); computed at first use.
bool journal_prefix();
void set_journal_prefix(bool on);
// The detection itself: FF_LOG_JOURNAL if set, else JOURNAL_STREAM == fstat(2)'s dev:ino.
bool detect_journal();

// Fields appended to every line of this process after the call's own (e.g. worker_id in the
// worker supervisor). Also exported as FF_LOG_CONTEXT="k=v ..." (fields whose value has no
// space, quote or '=') so child processes started later (the engine) carry them too; a process
// starts with the fields of the FF_LOG_CONTEXT it inherited. Call at start-up, before other
// threads start (setenv).
void set_context(std::vector<Field> fields);

// Appends `value` to `out` as a logfmt value (quoted and escaped only where needed).
void append_value(std::string& out, std::string_view value);

// The line (with trailing '\n') for an event at `when`. Pure; used by write() and the tests.
std::string format_line(Level l, std::string_view component, std::string_view msg,
                        const std::vector<Field>& fields, std::chrono::system_clock::time_point when,
                        bool journal);

// Writes one line to stderr if enabled(l). Any thread.
void write(Level l, std::string_view component, std::string_view msg,
           const std::vector<Field>& fields = {});

// ff::log::info("dispatcher", "claimed ", n, " jobs", kv("worker_id", w)): the non-Field
// arguments are concatenated into msg, the Field ones become key=value pairs in order.
namespace detail {
template <typename A>
void add(std::ostringstream& msg, std::vector<Field>& fields, const A& a) {
  if constexpr (std::is_same_v<A, Field>) fields.push_back(a);
  else msg << a;
}
template <typename... A>
void emit(Level l, std::string_view component, const A&... a) {
  if (!enabled(l)) return;
  std::ostringstream msg;
  std::vector<Field> fields;
  (add(msg, fields, a), ...);
  write(l, component, msg.str(), fields);
}
}  // namespace detail

template <typename... A>
std::string cat(const A&... a) {
  std::ostringstream os;
  (os << ... << a);
  return os.str();
}
template <typename... A>
void debug(std::string_view c, const A&... a) { detail::emit(Level::kDebug, c, a...); }
template <typename... A>
void info(std::string_view c, const A&... a) { detail::emit(Level::kInfo, c, a...); }
template <typename... A>
void warn(std::string_view c, const A&... a) { detail::emit(Level::kWarn, c, a...); }
template <typename... A>
void error(std::string_view c, const A&... a) { detail::emit(Level::kError, c, a...); }

}  // namespace ff::log
