// Test helper: temporary files in a fresh directory under /tmp, removed with unlink/rmdir when the
// object dies. Not std::filesystem::remove_all (tests/engine/temp_dir.hpp): linked against the pip
// libtorch 2.11 on the GPU host, that symbol resolves into libtorch.so and crashes.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

namespace ff::test {

class TempFiles {
 public:
  TempFiles() {
    std::string tmpl = "/tmp/ff-ltx2-test-XXXXXX";
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
  }
  ~TempFiles() {
    for (const auto& f : files_) ::unlink(f.c_str());
    ::rmdir(dir_.c_str());
  }
  TempFiles(const TempFiles&) = delete;
  TempFiles& operator=(const TempFiles&) = delete;
  std::string file(const std::string& name) {
    files_.push_back(dir_ + "/" + name);
    return files_.back();
  }

 private:
  std::string dir_;
  std::vector<std::string> files_;
};

}  // namespace ff::test
