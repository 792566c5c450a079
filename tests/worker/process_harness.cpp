#include "tests/worker/process_harness.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "common/json_fields.hpp"

namespace fs = std::filesystem;

namespace ff::test {

Child::Child(std::vector<std::string> argv, std::map<std::string, std::string> env,
             std::string log_path)
    : log_path_(std::move(log_path)) {
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    const int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    execv(args[0], args.data());
    _exit(127);
  }
}

Child::~Child() {
  if (running()) {
    ::kill(pid_, SIGKILL);
    wait(std::chrono::milliseconds(5000));
  }
}

void Child::signal(int sig) {
  if (pid_ > 0 && status_ < 0) ::kill(pid_, sig);
}

bool Child::running() {
  if (status_ >= 0) return false;
  int st = 0;
  const pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return false;
  }
  return true;
}

int Child::wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return status_;
}

TempDir::TempDir(const std::string& prefix) {
  std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
  ::chmod(path_.c_str(), 0755);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string run_command(const std::vector<std::string>& argv, int expect_status) {
  int pipefd[2];
  if (pipe(pipefd) != 0) throw std::runtime_error("pipe failed");
  std::vector<std::string> a = argv;
  std::vector<char*> args;
  for (auto& s : a) args.push_back(s.data());
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(pipefd[1], 1);
    dup2(pipefd[1], 2);
    close(pipefd[0]);
    execv(args[0], args.data());
    _exit(127);
  }
  close(pipefd[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(pipefd[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(pipefd[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  const int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  if (code != expect_status) {
    std::string cmd;
    for (const auto& s : argv) cmd += s + " ";
    throw std::runtime_error("command exited " + std::to_string(code) + " (expected " +
                             std::to_string(expect_status) + "): " + cmd + "\n" + out);
  }
  return out;
}

void make_tokenizer_model(const std::string& dir) {
  run_command({FF_WORKER_BIN, "make-model", "--tokenizer-only", dir});
}

void write_worker_config(const std::string& path, const WorkerSpec& s) {
  json::Json engine{{"device", "cpu"}, {"output_root", s.output_root}};
  json::Json o{{"dispatcher_endpoint", s.endpoint},
                 {"worker_id", s.worker_id},
                 {"model_files", json::Json{{"checkpoint", s.model_dir + "/ltx-2.3-22b-dev.safetensors"},
                                              {"text_encoder", s.model_dir + "/gemma-3-12b-it-qat-q4_0-unquantized"}}},
                 {"run_dir", s.run_dir},
                 {"slots", s.slots},
                 {"max_encode_batch", s.max_encode_batch},
                 {"heartbeat_interval_ms", s.heartbeat_interval_ms},
                 {"engine_command", std::string(FF_TEST_ENGINE_BIN)},
                 {"engine_start_timeout_ms", 10000},
                 {"engine_request_timeout_ms", s.engine_request_timeout_ms},
                 {"engine_restart_backoff_ms", 50},
                 {"shutdown_grace_ms", s.shutdown_grace_ms},
                 {"engine", std::move(engine)},
                 {"database_url", s.database_url},
                 {"cache_ram_bytes", 64 << 20}};
  if (!s.metrics_bind.empty()) o["metrics_bind"] = s.metrics_bind;
  if (!s.curve_key_file.empty()) {
    o["curve_key_file"] = s.curve_key_file;
    o["dispatcher_public_key_file"] = s.dispatcher_public_key_file;
  }
  std::ofstream(path) << o.dump(2);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int count_lines(const std::string& path, const std::string& line) {
  std::istringstream in(read_file(path));
  std::string l;
  int n = 0;
  while (std::getline(in, l))
    if (l == line) ++n;
  return n;
}

}  // namespace ff::test
