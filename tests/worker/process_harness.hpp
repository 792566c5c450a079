// Test helpers for the worker e2e tests: child processes, temp dirs, worker configs, tiny models.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include <sys/types.h>

namespace ff::test {

// A child process started with fork/exec; stdout+stderr go to `log_path`. The destructor sends
// SIGKILL and reaps it if it is still running.
class Child {
 public:
  Child(std::vector<std::string> argv, std::map<std::string, std::string> env,
        std::string log_path);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  void signal(int sig);
  // Waits up to `timeout` for exit; returns the exit status (or 128+signal), -1 on timeout.
  int wait(std::chrono::milliseconds timeout);
  bool running();
  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  std::string log_path_;
};

// A mkdtemp directory removed (recursively) by the destructor.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "ff-worker-test");
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Runs argv to completion (stdout captured and returned); throws with the output if the exit
// status differs from `expect_status`.
std::string run_command(const std::vector<std::string>& argv, int expect_status = 0);

// Writes DIR/gemma-3-12b-it-qat-q4_0-unquantized/tokenizer.model via `framefarm-worker make-model --tokenizer-only`.
void make_tokenizer_model(const std::string& dir);

// Writes a worker config JSON for the test engine to `path`.
struct WorkerSpec {
  std::string endpoint, worker_id, model_dir, run_dir, output_root, database_url;
  int slots = 2;
  int max_encode_batch = 8;
  int heartbeat_interval_ms = 200;
  int engine_request_timeout_ms = 5000;
  int shutdown_grace_ms = 10000;
  std::string metrics_bind;  // "" = no /metrics endpoint
  std::string curve_key_file, dispatcher_public_key_file;  // "" = plaintext link
};
void write_worker_config(const std::string& path, const WorkerSpec& spec);

// Reads a whole file ("" if missing).
std::string read_file(const std::string& path);
// Counts lines of `path` equal to `line`.
int count_lines(const std::string& path, const std::string& line);

// Polls `pred` every 20 ms until true or `timeout`; returns its last value.
template <class F>
bool eventually(F pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    struct timespec ts{0, 20 * 1000 * 1000};
    nanosleep(&ts, nullptr);
  }
  return pred();
}

}  // namespace ff::test
