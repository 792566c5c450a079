// The engine child process: spawned with fork/exec in its own process group, killed as a group,
// reaped with waitpid. It is also killed by the kernel when the supervisor dies (PR_SET_PDEATHSIG),
// so a kill -9 of the supervisor leaves no orphaned engine holding the GPU.
#pragma once

#include <string>
#include <sys/types.h>
#include <vector>

namespace ff::worker {

class EngineProcess {
 public:
  EngineProcess() = default;
  ~EngineProcess();  // kills (SIGKILL) and reaps a still-running child
  EngineProcess(const EngineProcess&) = delete;
  EngineProcess& operator=(const EngineProcess&) = delete;

  // Starts `argv[0]` with `argv` (PATH is not searched). Throws std::runtime_error if fork fails
  // or one is already running; an exec failure shows up as the child exiting with status 127.
  void spawn(const std::vector<std::string>& argv);

  // Non-blocking waitpid: true once the child has exited (and was reaped); sets exit_description.
  bool poll_exited();

  // Sends SIGKILL to the child's process group and reaps it (blocking, bounded by the kernel).
  void kill_and_reap();

  // Sends SIGTERM to the group, waits up to `grace_ms` for exit, then SIGKILL. Reaps.
  void terminate(int grace_ms);

  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  // How the last child ended, e.g. "exited with status 3" or "killed by signal 9".
  const std::string& exit_description() const { return exit_description_; }

 private:
  void record_exit(int status);
  pid_t pid_ = -1;
  std::string exit_description_;
};

// Path of the running executable's folder (from /proc/self/exe). Pure apart from the readlink.
std::string self_exe_dir();

// The engine executable: `configured` when set (it must be executable), else framefarm-engine
// next to this binary (installed layout) or in the build tree (engine/app/). Throws
// std::runtime_error naming the path tried. Used by serve, check-model and make-model.
std::string find_engine(const std::string& configured);

}  // namespace ff::worker
