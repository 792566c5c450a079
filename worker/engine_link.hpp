// The supervisor's side of the engine link: the ROUTER socket bound at ipc://<run dir>/engine.sock,
// the engine child process, and the link's state.
//
//   kDown --spawn()--> kStarting --EngineHello--> kIdle --send_request()--> kBusy
//   kBusy --EncodeResult/GenerateResult--> kIdle
//   any --death (waitpid) / no EngineHello within start timeout / silence while busy longer than
//         the request timeout--> check() kills the process group, reaps it --> kDown
//
// One request is in flight at a time; EngineCancel and Shutdown are control messages that may be
// sent while busy. Messages from any process other than the current engine are dropped.
// Not thread-safe: the supervisor's loop thread owns it.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "common/protocol.hpp"
#include "worker/engine_process.hpp"

namespace ff::worker {

class EngineLink {
 public:
  using Clock = std::chrono::steady_clock;
  enum class State { kDown, kStarting, kIdle, kBusy };

  // `argv` is the whole engine command line. Binds the ROUTER at `socket_path` (removing a stale
  // socket file first); throws std::runtime_error when binding fails.
  EngineLink(zmq::context_t& ctx, const std::string& socket_path, std::vector<std::string> argv,
             int32_t start_timeout_ms, int32_t request_timeout_ms);
  ~EngineLink();

  // Starts the engine process; state becomes kStarting. Throws when fork fails.
  void spawn();
  // Sends EncodeRequest or GenerateRequest to an idle engine; state becomes kBusy.
  bool send_request(const proto::Message& msg);
  // Sends EngineCancel (or another control message) to the engine, if it is up.
  bool send_control(const proto::Message& msg);
  // Reads every waiting frame; drops malformed frames and frames from other processes.
  std::vector<proto::Message> receive();
  // Detects a dead or hung engine: kills and reaps it, sets kDown, returns why; else nullopt.
  std::optional<std::string> check();
  // Kills the process group and reaps it now; state kDown. `why` is logged.
  void kill_engine(const std::string& why);
  // Sends Shutdown, waits up to grace_ms for the process to exit, then kills it. State kDown.
  void stop(int grace_ms);

  State state() const { return state_; }
  // The EngineHello of the current (or last) engine.
  const std::optional<proto::EngineHello>& hello() const { return hello_; }
  zmq::socket_t& socket() { return socket_; }
  pid_t pid() const { return proc_.pid(); }
  uint64_t restarts() const { return spawns_ > 0 ? spawns_ - 1 : 0; }

 private:
  bool send_frame(const proto::Message& msg);
  zmq::socket_t socket_;
  std::string socket_path_;
  std::vector<std::string> argv_;
  std::chrono::milliseconds start_timeout_, request_timeout_;
  EngineProcess proc_;
  State state_ = State::kDown;
  std::string identity_;  // ROUTER identity of the current engine (after EngineHello)
  std::optional<proto::EngineHello> hello_;
  Clock::time_point deadline_{};
  uint64_t spawns_ = 0;
};

}  // namespace ff::worker
