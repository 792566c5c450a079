// ZeroMQ CURVE key files, shared by the dispatcher (its key pair, the authorized workers) and the
// worker (its key pair, the dispatcher's public key).
//
// Key file (written by `framefarm-dispatcher keygen`, mode 0600): two lines
//     public <40-char Z85 public key>
//     secret <40-char Z85 secret key>
// A public-key file has only the first line (what a worker is given of the dispatcher).
// Authorized keys: one worker per line, `<Z85 public key> <worker name>`; a line starting with
// '#' is a comment (not '#' elsewhere: it is a Z85 character), blank lines are ignored; a key or
// a name listed twice is an error naming the line.
#pragma once

#include <filesystem>
#include <map>
#include <string>

namespace ff {

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

}  // namespace ff
