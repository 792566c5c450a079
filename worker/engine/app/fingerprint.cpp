#include "worker/engine/app/fingerprint.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "common/json.hpp"

namespace ff::engine {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kPrime = 0x100000001b3ull;

struct Hasher {
  uint64_t a = 0xcbf29ce484222325ull;  // FNV-1a offset basis
  uint64_t b = 0x84222325cbf29ce4ull;  // second lane, different basis
  void add(const void* p, size_t n) {
    const auto* s = static_cast<const uint8_t*>(p);
    for (size_t i = 0; i < n; ++i) {
      a = (a ^ s[i]) * kPrime;
      b = (b ^ static_cast<uint8_t>(s[i] + 0x5b)) * kPrime;
    }
  }
  void add(std::string_view s) {
    const uint64_t n = s.size();
    add(&n, sizeof n);
    add(s.data(), s.size());
  }
  std::string hex() const {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(a),
                  static_cast<unsigned long long>(b));
    return buf;
  }
};

class File {
 public:
  explicit File(const fs::path& p) : path_(p.string()), f_(std::fopen(path_.c_str(), "rb")) {
    if (!f_) throw std::runtime_error("encoder fingerprint: cannot open " + path_ + ": " + std::strerror(errno));
    std::error_code ec;
    size_ = fs::file_size(p, ec);
    if (ec) throw std::runtime_error("encoder fingerprint: cannot stat " + path_);
  }
  ~File() { std::fclose(f_); }
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  uint64_t size() const { return size_; }
  std::string read(uint64_t offset, uint64_t n) {
    std::string buf(n, '\0');
    if (std::fseek(f_, static_cast<long>(offset), SEEK_SET) != 0 ||
        std::fread(buf.data(), 1, n, f_) != n)
      throw std::runtime_error("encoder fingerprint: cannot read " + path_ + " (truncated?)");
    return buf;
  }
  // Hashes [begin, end): all of it up to 8 MiB, else 256 evenly spaced 4 KiB samples + the tail.
  void hash_range(Hasher& h, uint64_t begin, uint64_t end) {
    constexpr uint64_t kWhole = 8ull << 20, kSample = 4096;
    const uint64_t n = end - begin;
    h.add(&n, sizeof n);
    if (n <= kWhole) {
      h.add(read(begin, n));
      return;
    }
    const uint64_t stride = n / 256;
    for (int i = 0; i < 256; ++i) h.add(read(begin + i * stride, kSample));
    h.add(read(end - kSample, kSample));
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  FILE* f_;
  uint64_t size_ = 0;
};

// Header length and JSON of a safetensors file.
std::pair<uint64_t, json::Value> safetensors_header(File& f) {
  if (f.size() < 8) throw std::runtime_error("encoder fingerprint: " + f.path() + " is too short for safetensors");
  const std::string len_bytes = f.read(0, 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(len_bytes[i]);
  if (n > f.size() - 8) throw std::runtime_error("encoder fingerprint: " + f.path() + " has a truncated header");
  try {
    return {n, json::parse(f.read(8, n))};
  } catch (const json::ParseError& e) {
    throw std::runtime_error("encoder fingerprint: " + f.path() + " header: " + e.what());
  }
}

bool is_embeddings_processor(std::string_view name) {
  return name.rfind("text_embedding_projection.", 0) == 0 ||
         name.rfind("model.diffusion_model.video_embeddings_connector.", 0) == 0 ||
         name.rfind("model.diffusion_model.audio_embeddings_connector.", 0) == 0;
}

}  // namespace

std::string encoder_fingerprint(const std::string& text_encoder_dir, const std::string& checkpoint) {
  Hasher h;
  const fs::path te = text_encoder_dir;
  std::error_code ec;
  if (!fs::is_directory(te, ec))
    throw std::runtime_error("encoder fingerprint: " + te.string() + " is not a directory");
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(te, ec)) {
    const auto ext = e.path().extension().string();
    if (e.is_regular_file() && (ext == ".safetensors" || ext == ".json" || ext == ".model"))
      files.push_back(e.path());
  }
  if (ec) throw std::runtime_error("encoder fingerprint: cannot list " + te.string());
  std::sort(files.begin(), files.end());
  for (const auto& p : files) {
    File f(p);
    h.add(p.filename().string());
    f.hash_range(h, 0, f.size());
  }

  File ltx(checkpoint);
  auto [header_len, header] = safetensors_header(ltx);
  if (!header.is_object()) throw std::runtime_error("encoder fingerprint: " + ltx.path() + " header is not an object");
  const uint64_t data_start = 8 + header_len;
  int tensors = 0;
  for (const auto& [name, entry] : header.as_object()) {
    if (name == "__metadata__") {
      if (const auto* cfg = entry.find("config"); cfg && cfg->is_string()) h.add(cfg->as_string());
      continue;
    }
    if (!is_embeddings_processor(name)) continue;
    const auto* offsets = entry.find("data_offsets");
    const auto* dtype = entry.find("dtype");
    const auto* shape = entry.find("shape");
    if (!offsets || !offsets->is_array() || offsets->as_array().size() != 2 || !dtype || !shape)
      throw std::runtime_error("encoder fingerprint: " + ltx.path() + ": bad header entry for " + name);
    const uint64_t b = offsets->as_array()[0].as_int(), e = offsets->as_array()[1].as_int();
    if (b > e || data_start + e > ltx.size())
      throw std::runtime_error("encoder fingerprint: " + ltx.path() + ": tensor " + name + " is out of range");
    h.add(name);
    h.add(json::dump(*dtype));
    h.add(json::dump(*shape));
    ltx.hash_range(h, data_start + b, data_start + e);
    ++tensors;
  }
  if (tensors == 0)
    throw std::runtime_error("encoder fingerprint: " + ltx.path() + " holds no embeddings-processor tensors");
  return "ff1-" + h.hex();
}

}  // namespace ff::engine
