#include "worker/engine/app/fingerprint.hpp"

#define XXH_INLINE_ALL  // header-only: no runtime library to ship with the engine
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "worker/engine/io/safetensors.hpp"

namespace ff::engine {
namespace {

namespace fs = std::filesystem;

class Hasher {
 public:
  Hasher() : state_(XXH3_createState(), &XXH3_freeState) {
    if (!state_ || XXH3_128bits_reset(state_.get()) != XXH_OK)
      throw std::runtime_error("encoder fingerprint: cannot initialise XXH3");
  }
  void add(const void* p, size_t n) { XXH3_128bits_update(state_.get(), p, n); }
  void add_u64(uint64_t v) { add(&v, sizeof v); }
  // Length-prefixed, so that ("ab", "c") and ("a", "bc") differ.
  void add(std::string_view s) {
    add_u64(s.size());
    add(s.data(), s.size());
  }
  std::string hex() const {
    const XXH128_hash_t h = XXH3_128bits_digest(state_.get());
    char buf[40];
    std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(h.high64),
                  static_cast<unsigned long long>(h.low64));
    return buf;
  }

 private:
  std::unique_ptr<XXH3_state_t, XXH_errorcode (*)(XXH3_state_t*)> state_;
};

// Hashes n bytes that read(offset, len) returns: all of them up to 8 MiB, else 256 evenly spaced
// 4 KiB samples and the tail (a 24 GB encoder is fingerprinted in milliseconds; any re-export
// of other weights changes the sampled bytes).
void hash_sampled(Hasher& h, uint64_t n, const std::function<std::string_view(uint64_t, uint64_t)>& read) {
  constexpr uint64_t kWhole = 8ull << 20, kSample = 4096;
  h.add_u64(n);
  if (n <= kWhole) {
    h.add(read(0, n));
    return;
  }
  const uint64_t stride = n / 256;
  for (int i = 0; i < 256; ++i) h.add(read(i * stride, kSample));
  h.add(read(n - kSample, kSample));
}

void hash_file(Hasher& h, const fs::path& p) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(p.c_str(), "rb"), &std::fclose);
  std::error_code ec;
  const uint64_t size = fs::file_size(p, ec);
  if (!f || ec) throw std::runtime_error("encoder fingerprint: cannot open " + p.string() + ": " + std::strerror(errno));
  std::string buf;
  hash_sampled(h, size, [&](uint64_t offset, uint64_t n) -> std::string_view {
    buf.resize(n);
    if (std::fseek(f.get(), static_cast<long>(offset), SEEK_SET) != 0 || std::fread(buf.data(), 1, n, f.get()) != n)
      throw std::runtime_error("encoder fingerprint: cannot read " + p.string() + " (truncated?)");
    return buf;
  });
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
    h.add(p.filename().string());
    hash_file(h, p);
  }

  const auto ltx = io::SafetensorsFile::open(checkpoint);  // validated header, mapped data
  if (auto it = ltx->metadata().find("config"); it != ltx->metadata().end()) h.add(it->second);
  int tensors = 0;
  for (const auto& t : ltx->tensors()) {
    if (!is_embeddings_processor(t.name)) continue;
    h.add(t.name);
    h.add(t.dtype);
    for (int64_t d : t.shape) h.add_u64(static_cast<uint64_t>(d));
    const auto* bytes = reinterpret_cast<const char*>(ltx->data(t));
    hash_sampled(h, t.end - t.begin, [&](uint64_t offset, uint64_t n) { return std::string_view(bytes + offset, n); });
    ++tensors;
  }
  if (tensors == 0)
    throw std::runtime_error("encoder fingerprint: " + checkpoint + " holds no embeddings-processor tensors");
  return "ff2-" + h.hex();
}

}  // namespace ff::engine
