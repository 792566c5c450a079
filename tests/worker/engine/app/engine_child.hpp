// Test helper: a ROUTER standing in for the supervisor, and a framefarm-engine child process.
#pragma once

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "common/protocol.hpp"

extern char** environ;

namespace ff::test {

// Spawns argv[0] with argv; kills (SIGKILL) and reaps it in the destructor if still running.
class ChildProcess {
 public:
  explicit ChildProcess(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    if (posix_spawn(&pid_, args[0], nullptr, nullptr, args.data(), environ) != 0)
      throw std::runtime_error("cannot spawn " + argv[0]);
  }
  ~ChildProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  // Exit status after waiting up to timeout; nullopt when still running.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return std::nullopt;
  }

 private:
  pid_t pid_ = -1;
};

// The supervisor's side of the engine link, reduced to what tests need.
class FakeSupervisor {
 public:
  explicit FakeSupervisor(const std::string& endpoint) : sock_(ctx_, zmq::socket_type::router) {
    sock_.set(zmq::sockopt::linger, 0);
    sock_.bind(endpoint);
  }
  // Next decoded message from the engine, or nullopt after timeout. Remembers the engine identity.
  std::optional<proto::Message> recv(std::chrono::milliseconds timeout) {
    zmq::pollitem_t item{static_cast<void*>(sock_), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, timeout) <= 0) return std::nullopt;
    zmq::message_t id, body;
    (void)sock_.recv(id);
    (void)sock_.recv(body);
    identity_ = id.to_string();
    auto d = proto::decode(std::string_view(static_cast<const char*>(body.data()), body.size()));
    if (auto* e = std::get_if<proto::DecodeError>(&d)) throw std::runtime_error("engine sent a bad frame: " + e->what);
    return std::get<proto::Message>(d);
  }
  // Next message of type T, skipping others (collected in `skipped`); throws on timeout.
  template <class T>
  T expect(std::chrono::milliseconds timeout, std::vector<proto::Message>* skipped = nullptr) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (true) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
      if (left.count() <= 0) throw std::runtime_error("timed out waiting for an engine message");
      auto m = recv(left);
      if (!m) continue;
      if (auto* t = std::get_if<T>(&*m)) return *t;
      if (skipped) skipped->push_back(*m);
    }
  }
  void send(const proto::Message& m) { send_raw(proto::encode(m)); }
  void send_raw(const std::string& frame) {
    sock_.send(zmq::buffer(identity_), zmq::send_flags::sndmore);
    sock_.send(zmq::buffer(frame), zmq::send_flags::none);
  }

 private:
  zmq::context_t ctx_;
  zmq::socket_t sock_;
  std::string identity_;
};

}  // namespace ff::test
