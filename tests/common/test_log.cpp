// unit: the one log format (common/log.hpp): logfmt fields, quoting, levels, journald prefixes.
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.hpp"

namespace lg = ff::log;

namespace {
// 2026-11-30T12:36:54.123Z
std::chrono::system_clock::time_point fixed_time() {
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(1796042214123LL));
}

// Runs `body` in a child whose stderr is a fresh file; returns what it wrote.
template <typename F>
std::string child_stderr(F body, const char* journal_stream_mode) {
  char path[] = "/tmp/ff_log_test_XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(fd, 2);
    struct stat st {};
    fstat(2, &st);
    std::string js = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
    if (std::string(journal_stream_mode) == "other") js = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino + 1);
    unsetenv("FF_LOG_JOURNAL");
    if (std::string(journal_stream_mode) == "none") unsetenv("JOURNAL_STREAM");
    else setenv("JOURNAL_STREAM", js.c_str(), 1);
    lg::set_journal_prefix(lg::detect_journal());
    body();
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  close(fd);
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  unlink(path);
  return ss.str();
}
}  // namespace

TEST_CASE("log line: ts level component msg then fields, logfmt quoting") {
  const std::string l = lg::format_line(lg::Level::kWarn, "dispatcher", "worker silent for 3000 ms",
                                        {lg::kv("worker_id", "gpu-1/cuda:0"), lg::kv("job_id", 42),
                                         lg::kv("error", "said \"no\"\nthen=left")},
                                        fixed_time(), false);
  CHECK(l ==
        "ts=2026-11-30T12:36:54.123Z level=warn component=dispatcher msg=\"worker silent for 3000 ms\" "
        "worker_id=gpu-1/cuda:0 job_id=42 error=\"said \\\"no\\\"\\nthen=left\"\n");
  CHECK(lg::format_line(lg::Level::kInfo, "engine", "ready", {lg::kv("empty", "")}, fixed_time(), false) ==
        "ts=2026-11-30T12:36:54.123Z level=info component=engine msg=ready empty=\"\"\n");
}

TEST_CASE("journald priority prefixes: <3> error, <4> warn, <6> info, <7> debug") {
  auto first3 = [](lg::Level l) { return lg::format_line(l, "c", "m", {}, fixed_time(), true).substr(0, 3); };
  CHECK(first3(lg::Level::kError) == "<3>");
  CHECK(first3(lg::Level::kWarn) == "<4>");
  CHECK(first3(lg::Level::kInfo) == "<6>");
  CHECK(first3(lg::Level::kDebug) == "<7>");
  // `journalctl -p warning` shows priorities 0..4: warn and error lines qualify, info does not.
  CHECK(lg::journal_priority(lg::Level::kWarn) <= 4);
  CHECK(lg::journal_priority(lg::Level::kError) <= 4);
  CHECK(lg::journal_priority(lg::Level::kInfo) > 4);
}

TEST_CASE("levels parse, the minimum level filters") {
  CHECK(lg::parse_level("warning") == lg::Level::kWarn);
  CHECK(lg::parse_level("debug") == lg::Level::kDebug);
  CHECK_FALSE(lg::parse_level("loud").has_value());
  const std::string out = child_stderr([] {
    lg::set_min_level(lg::Level::kWarn);
    lg::set_context({lg::kv("worker_id", "w1")});
    lg::info("t", "hidden");
    lg::warn("t", "shown ", 7, lg::kv("job_id", 9));
  }, "none");
  CHECK(out.find("hidden") == std::string::npos);
  CHECK(out.find("level=warn component=t msg=\"shown 7\" job_id=9 worker_id=w1\n") != std::string::npos);
  CHECK(out.rfind("ts=", 0) == 0);  // no journal prefix: stderr is a plain file
}

TEST_CASE("stderr that is the journal stream (JOURNAL_STREAM matches fd 2) gets prefixes") {
  const std::string on = child_stderr([] { lg::error("t", "boom"); lg::info("t", "fine"); }, "same");
  CHECK(on.rfind("<3>ts=", 0) == 0);
  CHECK(on.find("\n<6>ts=") != std::string::npos);
  // JOURNAL_STREAM inherited but stderr redirected elsewhere: no prefix.
  const std::string off = child_stderr([] { lg::warn("t", "x"); }, "other");
  CHECK(off.rfind("ts=", 0) == 0);
}

TEST_CASE("context fields: exported as FF_LOG_CONTEXT for children, inherited at start") {
  const std::string out = child_stderr([] {
    lg::set_context({lg::kv("worker_id", "n1/cuda:0"), lg::kv("spaced", "a b")});
    const char* e = std::getenv("FF_LOG_CONTEXT");
    lg::warn("t", "env=", e ? e : "(none)");
  }, "none");
  CHECK(out.find("msg=\"env=worker_id=n1/cuda:0\" worker_id=n1/cuda:0 spaced=\"a b\"\n") != std::string::npos);
  // A process (the engine) started with FF_LOG_CONTEXT carries its fields on every line.
  const std::string child = child_stderr([] {
    setenv("FF_LOG_CONTEXT", "worker_id=w9 gpu=cuda:1", 1);
    lg::info("engine", "ready");
  }, "none");
  CHECK(child.find("component=engine msg=ready worker_id=w9 gpu=cuda:1\n") != std::string::npos);
}
