#include "worker/media/part_file.hpp"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <fcntl.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace ff::media {
namespace {

constexpr const char* kPartTag = ".part-";

std::string hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  std::string h(buf);
  for (char& c : h)
    if (c == '/' || c == '\n') c = '_';
  return h;
}

bool process_alive(long pid) {
  if (pid <= 0) return true;  // unparsable: leave it alone
  if (::kill(static_cast<pid_t>(pid), 0) == 0) return true;
  return errno != ESRCH;
}

}  // namespace

std::string part_path_for(const std::string& final_path) {
  static std::atomic<unsigned long> seq{0};
  const fs::path p(final_path);
  const std::string name = "." + p.filename().string() + kPartTag + hostname() + "-" +
                           std::to_string(::getpid()) + "-" + std::to_string(seq.fetch_add(1));
  return (p.parent_path() / name).string();
}

std::vector<std::string> remove_stale_parts(const std::string& dir) {
  std::vector<std::string> removed;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) return removed;
  const std::string host = hostname();
  for (const auto& e : it) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name[0] != '.') continue;
    const size_t tag = name.rfind(kPartTag);
    if (tag == std::string::npos) continue;
    // <host>-<pid>-<seq>: parsed from the right (host names may contain '-').
    const std::string rest = name.substr(tag + std::strlen(kPartTag));
    const size_t d2 = rest.rfind('-');
    if (d2 == std::string::npos || d2 == 0) continue;
    const size_t d1 = rest.rfind('-', d2 - 1);
    if (d1 == std::string::npos) continue;
    if (rest.substr(0, d1) != host) continue;
    long pid = 0;
    try {
      pid = std::stol(rest.substr(d1 + 1, d2 - d1 - 1));
    } catch (...) {
      continue;
    }
    if (process_alive(pid)) continue;
    if (fs::remove(e.path(), ec)) removed.push_back(name);
  }
  return removed;
}

PartFile::PartFile(std::string final_path) : final_(std::move(final_path)), part_(part_path_for(final_)) {}

PartFile::~PartFile() { discard(); }

void PartFile::commit() {
  if (done_) throw MediaError("rename " + part_ + ": already committed or discarded");
  // The job is reported done once the file has its final name: its bytes reach the disk first.
  const int fd = ::open(part_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    const std::string why = std::strerror(errno);
    if (fd >= 0) ::close(fd);
    discard();
    throw MediaError("fsync " + part_ + ": " + why);
  }
  ::close(fd);
  if (std::rename(part_.c_str(), final_.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    discard();
    throw MediaError("rename " + part_ + " to " + final_ + ": " + why);
  }
  done_ = true;
}

void PartFile::discard() {
  if (done_) return;
  ::unlink(part_.c_str());
  done_ = true;
}

}  // namespace ff::media
