#include "common/log.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>

#include <sys/stat.h>
#include <unistd.h>

namespace ff::log {
namespace {

Level level_from_env() {
  const char* e = std::getenv("FF_LOG_LEVEL");
  if (!e) return Level::kInfo;
  return parse_level(e).value_or(Level::kInfo);
}

std::atomic<int>& level_store() {
  static std::atomic<int> level{static_cast<int>(level_from_env())};
  return level;
}

// systemd sets JOURNAL_STREAM="<st_dev>:<st_ino>" of the stream it connected to the journal;
// stderr is the journal when fd 2 is that very file (not merely inherited env of a redirect).
}  // namespace

bool detect_journal() {
  if (const char* f = std::getenv("FF_LOG_JOURNAL")) return std::string_view(f) == "1";
  const char* js = std::getenv("JOURNAL_STREAM");
  if (!js) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  if (::fstat(2, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev &&
         static_cast<unsigned long long>(st.st_ino) == ino;
}

namespace {
std::atomic<int>& journal_store() {
  static std::atomic<int> on{detect_journal() ? 1 : 0};
  return on;
}

bool needs_quotes(std::string_view v) {
  if (v.empty()) return true;
  for (unsigned char c : v)
    if (c <= ' ' || c == '=' || c == '"' || c == '\\' || c == 0x7f) return true;
  return false;
}

}  // namespace

std::optional<Level> parse_level(std::string_view s) {
  if (s == "debug") return Level::kDebug;
  if (s == "info") return Level::kInfo;
  if (s == "warn" || s == "warning") return Level::kWarn;
  if (s == "error") return Level::kError;
  return std::nullopt;
}

std::string_view level_name(Level l) {
  switch (l) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

int journal_priority(Level l) {
  switch (l) {
    case Level::kDebug: return 7;
    case Level::kInfo: return 6;
    case Level::kWarn: return 4;
    case Level::kError: return 3;
  }
  return 6;
}

Level min_level() { return static_cast<Level>(level_store().load(std::memory_order_relaxed)); }
void set_min_level(Level l) { level_store().store(static_cast<int>(l)); }
bool journal_prefix() { return journal_store().load(std::memory_order_relaxed) != 0; }
void set_journal_prefix(bool on) { journal_store().store(on ? 1 : 0); }

void append_value(std::string& out, std::string_view v) {
  if (!needs_quotes(v)) {
    out.append(v);
    return;
  }
  out.push_back('"');
  for (unsigned char c : v) {
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      default:
        if (c < ' ' || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", c);
          out.append(buf);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

std::string format_line(Level l, std::string_view component, std::string_view msg,
                        const std::vector<Field>& fields, std::chrono::system_clock::time_point when,
                        bool journal) {
  using namespace std::chrono;
  const std::time_t t = system_clock::to_time_t(when);
  const auto ms = duration_cast<milliseconds>(when.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char ts[40];
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  std::string out;
  out.reserve(96 + msg.size() + fields.size() * 24);
  if (journal) {
    out.push_back('<');
    out.push_back(static_cast<char>('0' + journal_priority(l)));
    out.push_back('>');
  }
  out.append("ts=").append(ts);
  out.append(" level=").append(level_name(l));
  out.append(" component=");
  append_value(out, component);
  out.append(" msg=");
  append_value(out, msg);
  for (const auto& f : fields) {
    if (f.key.empty()) continue;
    out.push_back(' ');
    out.append(f.key).push_back('=');
    append_value(out, f.value);
  }
  out.push_back('\n');
  return out;
}

namespace {
std::mutex& context_mu() {
  static std::mutex mu;
  return mu;
}
// FF_LOG_CONTEXT: "k=v k2=v2" (no quoting: set_context exports only plain values).
std::vector<Field> context_from_env() {
  std::vector<Field> out;
  const char* e = std::getenv("FF_LOG_CONTEXT");
  std::string_view s = e ? e : "";
  while (!s.empty()) {
    const size_t sp = s.find(' ');
    const std::string_view pair = s.substr(0, sp);
    const size_t eq = pair.find('=');
    if (eq != std::string_view::npos && eq > 0)
      out.push_back({std::string(pair.substr(0, eq)), std::string(pair.substr(eq + 1))});
    if (sp == std::string_view::npos) break;
    s.remove_prefix(sp + 1);
  }
  return out;
}
std::vector<Field>& context_store() {
  static std::vector<Field> fields = context_from_env();
  return fields;
}
}  // namespace

void set_context(std::vector<Field> fields) {
  std::string env;
  for (const auto& f : fields) {
    const bool plain = !f.key.empty() && !f.value.empty() &&
                       f.value.find_first_of(" \t\n\"=\\") == std::string::npos &&
                       f.key.find_first_of(" =") == std::string::npos;
    if (!plain) continue;
    if (!env.empty()) env.push_back(' ');
    env += f.key + "=" + f.value;
  }
  ::setenv("FF_LOG_CONTEXT", env.c_str(), 1);
  std::lock_guard lk(context_mu());
  context_store() = std::move(fields);
}

void write(Level l, std::string_view component, std::string_view msg, const std::vector<Field>& fields) {
  if (!enabled(l)) return;
  std::vector<Field> all = fields;
  {
    std::lock_guard lk(context_mu());
    all.insert(all.end(), context_store().begin(), context_store().end());
  }
  const std::string line =
      format_line(l, component, msg, all, std::chrono::system_clock::now(), journal_prefix());
  // One write(2) per line: lines of concurrent threads/processes do not interleave (< PIPE_BUF
  // for typical lines; longer ones may, which only affects oversized messages).
  (void)!::write(2, line.data(), line.size());
}

}  // namespace ff::log
