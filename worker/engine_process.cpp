#include "worker/engine_process.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <stdexcept>
#include <thread>

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace ff::worker {

EngineProcess::~EngineProcess() {
  if (pid_ > 0) kill_and_reap();
}

void EngineProcess::spawn(const std::vector<std::string>& argv) {
  if (pid_ > 0) throw std::runtime_error("engine process: already running (pid " + std::to_string(pid_) + ")");
  if (argv.empty()) throw std::runtime_error("engine process: empty command");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("engine process: fork failed: ") + strerror(errno));
  if (pid == 0) {
    // Child: own process group (so the whole engine tree is killed together), die with the parent.
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(126);  // parent already gone
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execv(args[0], args.data());
    const char* msg = "framefarm-worker: cannot exec engine: ";
    (void)!write(2, msg, strlen(msg));
    (void)!write(2, args[0], strlen(args[0]));
    (void)!write(2, "\n", 1);
    _exit(127);
  }
  setpgid(pid, pid);  // also from the parent, so the group exists before we might kill it
  pid_ = pid;
  exit_description_.clear();
}

void EngineProcess::record_exit(int status) {
  if (WIFEXITED(status))
    exit_description_ = "exited with status " + std::to_string(WEXITSTATUS(status));
  else if (WIFSIGNALED(status))
    exit_description_ = "killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
                        strsignal(WTERMSIG(status)) + ")";
  else
    exit_description_ = "ended with wait status " + std::to_string(status);
  pid_ = -1;
}

bool EngineProcess::poll_exited() {
  if (pid_ <= 0) return true;
  int status = 0;
  const pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    record_exit(status);
    return true;
  }
  if (r < 0 && errno == ECHILD) {
    exit_description_ = "vanished (no such child)";
    pid_ = -1;
    return true;
  }
  return false;
}

void EngineProcess::kill_and_reap() {
  if (pid_ <= 0) return;
  ::kill(-pid_, SIGKILL);
  ::kill(pid_, SIGKILL);
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &status, 0);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) record_exit(status);
  else pid_ = -1;
}

void EngineProcess::terminate(int grace_ms) {
  if (pid_ <= 0) return;
  ::kill(-pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(grace_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (poll_exited()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill_and_reap();
}

std::string self_exe_dir() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string p(buf, static_cast<size_t>(n));
  const size_t slash = p.rfind('/');
  return slash == std::string::npos ? "." : p.substr(0, slash);
}

std::string find_engine(const std::string& configured) {
  if (!configured.empty()) {
    if (::access(configured.c_str(), X_OK) != 0)
      throw std::runtime_error("engine '" + configured + "' is not an executable file");
    return configured;
  }
  const std::string dir = self_exe_dir();
  for (const std::string& c : {dir + "/framefarm-engine", dir + "/engine/app/framefarm-engine"})
    if (::access(c.c_str(), X_OK) == 0) return c;
  throw std::runtime_error("no framefarm-engine next to " + dir +
                           " (set engine_command in the worker config, or make-model --engine PATH)");
}

}  // namespace ff::worker
