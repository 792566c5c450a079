#include "common/curve_keys.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <vector>

#include <zmq.h>

namespace ff {

namespace {

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r");
  if (a == std::string::npos) return "";
  size_t b = s.find_last_not_of(" \t\r");
  return s.substr(a, b - a + 1);
}

std::vector<std::string> words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> w;
  std::string x;
  while (in >> x) w.push_back(x);
  return w;
}
}  // namespace

bool curve_available() { return zmq_has("curve") != 0; }

bool valid_z85_key(const std::string& key) {
  if (key.size() != 40) return false;
  uint8_t out[32];
  return zmq_z85_decode(out, key.c_str()) != nullptr;
}

CurveKeyPair generate_curve_keypair() {
  if (!curve_available()) throw std::runtime_error("this libzmq has no CURVE support (built without libsodium)");
  char pub[41] = {0}, sec[41] = {0};
  if (zmq_curve_keypair(pub, sec) != 0)
    throw std::runtime_error(std::string("zmq_curve_keypair failed: ") + zmq_strerror(zmq_errno()));
  return {pub, sec};
}

CurveKeyPair load_curve_keys(const std::filesystem::path& file, bool need_secret) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error("cannot read key file " + file.string());
  CurveKeyPair k;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    auto w = words(line);
    const std::string where = file.string() + ":" + std::to_string(n);
    if (w.size() != 2 || (w[0] != "public" && w[0] != "secret"))
      throw std::runtime_error(where + ": expected 'public <key>' or 'secret <key>'");
    if (!valid_z85_key(w[1])) throw std::runtime_error(where + ": not a 40-character Z85 CURVE key");
    (w[0] == "public" ? k.public_key : k.secret_key) = w[1];
  }
  if (k.public_key.empty()) throw std::runtime_error(file.string() + ": no 'public' line");
  if (need_secret && k.secret_key.empty()) throw std::runtime_error(file.string() + ": no 'secret' line");
  if (!k.secret_key.empty()) {
    char derived[41] = {0};
    if (zmq_curve_public(derived, k.secret_key.c_str()) != 0 || k.public_key != derived)
      throw std::runtime_error(file.string() + ": the public key does not belong to the secret key");
  }
  return k;
}

void write_curve_keys(const std::filesystem::path& file, const CurveKeyPair& keys) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("cannot create " + file.string() + ": " + std::strerror(errno));
  std::string text = "# framefarm CURVE key pair: keep the secret line secret\npublic " + keys.public_key + "\n";
  if (!keys.secret_key.empty()) text += "secret " + keys.secret_key + "\n";
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!ok) throw std::runtime_error("cannot write " + file.string());
}

AuthorizedKeys load_authorized_keys(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error("cannot read authorized keys " + file.string());
  AuthorizedKeys keys;
  std::set<std::string> names;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;  // whole-line comments only: Z85 uses '#'

    auto w = words(line);
    const std::string where = file.string() + ":" + std::to_string(n);
    if (w.size() != 2) throw std::runtime_error(where + ": expected '<Z85 public key> <worker name>'");
    if (!valid_z85_key(w[0])) throw std::runtime_error(where + ": not a 40-character Z85 public key");
    if (w[1].size() > 200) throw std::runtime_error(where + ": worker name longer than 200 bytes");
    if (keys.count(w[0])) throw std::runtime_error(where + ": key listed twice");
    if (!names.insert(w[1]).second) throw std::runtime_error(where + ": worker name '" + w[1] + "' listed twice");
    keys[w[0]] = w[1];
  }
  return keys;
}

}  // namespace ff
