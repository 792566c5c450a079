#include "tests/worker/cache/cache_test_support.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace ff::test {

proto::PromptEmbedding make_embedding(int32_t real_tokens, int64_t rows, int64_t vdim,
                                      int64_t adim, uint32_t seed) {
  std::mt19937 rng(seed);
  auto blob = [&](int64_t dim) {
    proto::TensorBlob t;
    t.dtype = "bf16";
    t.shape = {rows, dim};
    t.data.resize(size_t(rows * dim * 2));
    for (auto& c : t.data) c = char(rng() & 0xFF);
    return t;
  };
  proto::PromptEmbedding e;
  e.real_tokens = real_tokens;
  e.video = blob(vdim);
  e.audio = blob(adim);
  return e;
}

std::string source_path(const std::string& rel) { return std::string(FF_SOURCE_DIR) + "/" + rel; }

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + path);
  std::ostringstream os;
  os << f.rdbuf();
  return os.str();
}

CmdResult run_cmd(const std::string& cmd, const std::string& stdin_text) {
  char in_path[] = "/tmp/ff_cache_test_stdin_XXXXXX";
  const int fd = mkstemp(in_path);
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  if (!stdin_text.empty() && write(fd, stdin_text.data(), stdin_text.size()) !=
                                 ssize_t(stdin_text.size()))
    throw std::runtime_error("write failed");
  close(fd);
  const std::string full = "(" + cmd + ") < " + in_path + " 2>&1";
  FILE* p = popen(full.c_str(), "r");
  if (!p) throw std::runtime_error("popen failed: " + cmd);
  CmdResult r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int status = pclose(p);
  unlink(in_path);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::vector<std::string> promql_metric_names(const std::string& expr) {
  std::vector<std::string> out;
  auto ident = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':'; };
  bool in_string = false;
  char quote = 0;
  for (size_t i = 0; i < expr.size(); ++i) {
    const char c = expr[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == quote) in_string = false;
      continue;
    }
    if (c == '"' || c == '\'' || c == '`') {
      in_string = true;
      quote = c;
      continue;
    }
    if (ident(c) && (i == 0 || !ident(expr[i - 1]))) {
      size_t j = i;
      while (j < expr.size() && ident(expr[j])) ++j;
      std::string word = expr.substr(i, j - i);
      if (word.rfind("framefarm_", 0) == 0) out.push_back(word);
      i = j - 1;
    }
  }
  return out;
}

}  // namespace ff::test
