// Output files that appear whole or not at all: each output is written under a hidden "part" name
// in its final directory and renamed into place once complete (rename within one directory is
// atomic). A part name records who writes it, so parts left by a killed process can be told
// apart from parts another live process (maybe another worker sharing output_root) is writing:
//   <dir>/.<final name>.part-<hostname>-<pid>-<sequence>
// Torch-free; no shared state apart from an atomic sequence number (thread-safe).
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace ff::media {

// Every media error: the message names the step that failed and the file ("open libx264: ...").
class MediaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A fresh part name for `final_path` (nothing is created).
std::string part_path_for(const std::string& final_path);

// Removes the part files in `dir` written by processes of this host that are no longer running
// (a worker killed mid-mux). Parts of live processes and of other hosts stay. Returns the names
// removed. Missing or unreadable `dir`: nothing removed.
std::vector<std::string> remove_stale_parts(const std::string& dir);

// Owns one part file: the destructor removes it unless commit() renamed it into place.
class PartFile {
 public:
  explicit PartFile(std::string final_path);
  ~PartFile();
  PartFile(const PartFile&) = delete;
  PartFile& operator=(const PartFile&) = delete;

  const std::string& path() const { return part_; }         // where to write
  const std::string& final_path() const { return final_; }
  // fsyncs the part and renames it to the final name (replacing an older file there); throws
  // MediaError (then the part is removed).
  void commit();
  // Removes the part now (idempotent).
  void discard();

 private:
  std::string final_, part_;
  bool done_ = false;
};

}  // namespace ff::media
