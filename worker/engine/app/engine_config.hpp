// The engine's configuration file (JSON), decoded in one place into a plain struct.
// Example:
//   {"device": "cuda:0",
//    "placements": {"text_encoder": "stream", "stage1_transformer": "resident"},
//    "vram_budget_bytes": 90000000000, "vram_reserve_bytes": 2000000000,
//    "output_root": "/var/lib/framefarm/output", "max_encode_batch": 8}
// Unknown keys (top level and component names) are errors.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "worker/engine/runtime/placement.hpp"

namespace ff::engine {

// The components whose placement can be configured.
inline constexpr std::array<std::string_view, 5> kComponents = {
    "text_encoder", "embeddings_processor", "stage1_transformer", "stage2_transformer",
    "vae_decoder"};

struct EngineConfig {
  std::string device = "cpu";  // "cpu", "cuda" or "cuda:N"
  // Per component; components not named are kAuto, except the stage transformers, which are
  // resident when not named (video_placement_options decides the video components).
  std::map<std::string, rt::Placement> placements;
  int64_t vram_budget_bytes = 0;   // 0: the whole device
  int64_t vram_reserve_bytes = 0;  // kept free inside the budget
  std::string output_root;         // required: videos go to <output_root>/<job_id>.y4m
  int32_t max_encode_batch = 8;    // prompts per encoder pass (advertised to the dispatcher)

  // The placement of `component` (kAuto when not configured; see video_placement.hpp for the stages).
  rt::Placement placement(std::string_view component) const;
};

// Decodes the JSON text; throws std::invalid_argument naming `source` (the file) and the key.
EngineConfig parse_engine_config(std::string_view json_text, const std::string& source);
// Reads and decodes a file; throws std::invalid_argument (unreadable file included).
EngineConfig load_engine_config(const std::string& path);

}  // namespace ff::engine
