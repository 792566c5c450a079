#include "worker/engine/app/make_weights.hpp"

#include <filesystem>
#include <stdexcept>

#include "worker/engine/ltx2/published_writer.hpp"

namespace ff::engine {

void make_weights(const std::string& preset, int64_t seed, const std::string& dir) {
  const ltx2::PublishedPreset p = ltx2::published_preset(preset);  // validates the name first
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw std::runtime_error("make-weights: cannot create " + dir + ": " + ec.message());
  ltx2::write_published_model(p, static_cast<uint64_t>(seed), dir);
}

}  // namespace ff::engine
