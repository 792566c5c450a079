// ZeroMQ CURVE on the dispatcher<->worker link: key files, the authorized-keys list and the ZAP
// handler that checks every connecting worker's public key against it.
//
// Key file (written by `framefarm-dispatcher keygen`, mode 0600): two lines
//     public <40-char Z85 public key>
//     secret <40-char Z85 secret key>
// A public-key file has only the first line (what a worker is given of the dispatcher).
// Authorized keys: one worker per line, `<Z85 public key> <worker name>`; a line starting with
// '#' is a comment (not '#' elsewhere: it is a Z85 character),
// blank lines are ignored; a key or a name listed twice is an error naming the line. The worker
// name is the worker's identity: a worker must register with worker_id = that name, so a worker
// with a valid key cannot take another worker's identity.
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
#include <map>
#include <optional>
#include <string>

#include <zmq.hpp>

namespace ff::dispatcher {

inline constexpr const char* kZapDomain = "framefarm";

struct CurveKeyPair {
  std::string public_key;  // Z85, 40 chars
  std::string secret_key;  // Z85, 40 chars ("" in a public-key file)
};

// Whether this libzmq was built with CURVE (libsodium).
bool curve_available();
// A fresh key pair (throws std::runtime_error without CURVE support).
CurveKeyPair generate_curve_keypair();
// Reads a key file; `need_secret` requires the secret line. Throws std::runtime_error naming
// the file and line.
CurveKeyPair load_curve_keys(const std::filesystem::path& file, bool need_secret);
// Writes a key pair file with mode 0600 (refuses to overwrite an existing file).
void write_curve_keys(const std::filesystem::path& file, const CurveKeyPair& keys);
// True for a well-formed Z85 key (40 chars of the Z85 alphabet that decode to 32 bytes).
bool valid_z85_key(const std::string& key);

// Public key (Z85) -> worker name.
using AuthorizedKeys = std::map<std::string, std::string>;
// Parses an authorized-keys file; throws std::runtime_error naming the file and line.
AuthorizedKeys load_authorized_keys(const std::filesystem::path& file);

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
