// ZeroMQ CURVE on the dispatcher<->worker link: the ZAP handler that checks every connecting
// worker's public key against the authorized-keys list (file formats: common/curve_keys.hpp).
// The worker name is the worker's identity: a worker must register with worker_id = that name, so
// a worker with a valid key cannot take another worker's identity.
// The ZAP handler answers ZeroMQ's authentication requests (inproc://zeromq.zap.01, one per
// context) for connections to sockets with zap_domain "framefarm"; it reloads the authorized
// keys when the file changes (checked at most once a second), so keys are added and revoked
// without a restart (a revoked key's open connections stay until they drop; new ones fail).
// A bad file on reload keeps the previous list and logs why.
//
// Threads: ZapHandler is used by one thread (the link thread) after construction.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <zmq.hpp>

#include "common/curve_keys.hpp"

namespace ff::dispatcher {

inline constexpr const char* kZapDomain = "framefarm";

class ZapHandler {
 public:
  // Binds inproc://zeromq.zap.01 in `ctx` and loads `authorized_keys_file` (throws on a bad file
  // or if another handler is bound in this context).
  ZapHandler(zmq::context_t& ctx, std::filesystem::path authorized_keys_file);
  // For zmq::poll (ZMQ_POLLIN = requests waiting).
  zmq::socket_t& socket() { return rep_; }
  // Answers every waiting request; reloads the file first when it changed.
  void handle_pending();
  int64_t accepted() const { return accepted_; }
  int64_t rejected() const { return rejected_; }
  size_t size() const { return keys_.size(); }

 private:
  void maybe_reload();
  zmq::socket_t rep_;
  std::filesystem::path file_;
  AuthorizedKeys keys_;
  std::optional<std::filesystem::file_time_type> mtime_;
  uintmax_t size_ = 0;
  std::chrono::steady_clock::time_point next_check_{};
  int64_t accepted_ = 0, rejected_ = 0;
};

}  // namespace ff::dispatcher
