// The engine's configuration file (JSON), decoded in one place into a plain struct.
// Example:
//   {"device": "cuda:0",
//    "model": {"checkpoint": "/models/ltx-2.3-22b-dev.safetensors", "text_encoder": "/models/gemma-3-12b-it-qat-q4_0-unquantized",
//              "spatial_upsampler": "/models/ltx-2.3-spatial-upscaler-x2-1.1.safetensors",
//              "distilled_lora": "/models/ltx-2.3-22b-distilled-lora-384-1.1.safetensors",
//              "distilled_lora_strength": 1.0, "pipeline": "two_stages"},
//    "placements": {"text_encoder": "stream", "stage1_transformer": "resident"},
//    "vae_tiling": {"long_side_tile_px": 768, "spatial_overlap_px": 64, "temporal_tile_frames": 80,
//                   "temporal_overlap_frames": 24},
//    "vram_budget_bytes": 90000000000, "vram_reserve_bytes": 2000000000,
//    "output_root": "/var/lib/framefarm/output", "max_encode_batch": 8}
// Unknown keys (top level and component names) are errors.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/components.hpp"
#include "common/json_fields.hpp"
#include "worker/engine/app/block_planning.hpp"
#include "worker/engine/ltx2/video_tiling.hpp"
#include "worker/engine/runtime/placement.hpp"

namespace ff::engine {

// "vae_tiling": how the video decoder cuts the final latent, as ltx-pipelines' default for the
// conv VAE (tiling_config_for_vae -> ltx-core TileSizeConfig.from_long_side): the longer side of
// the video gets tiles of long_side_tile_px, the shorter side a tile scaled by the aspect ratio (in
// latent cells, at least overlap + one cell), both with spatial_overlap_px; time gets tiles of
// temporal_tile_frames with temporal_overlap_frames. The defaults are the reference's (768/64 px,
// 80/24 frames). A size 0 leaves that axis untiled (its overlap must be 0). Sizes are multiples
// of the decoder's cells: 32 px and 8 frames for LTX-2.3 (ltx2::VideoScale{}); each tile is at
// least two cells and its overlap below it. JSON: an object with these keys (missing keys keep the
// defaults), true (the defaults) or false (whole clips, no tiles).
struct VaeTiling {
  bool enabled = true;
  int64_t long_side_tile_px = 768;
  int64_t spatial_overlap_px = 64;
  int64_t temporal_tile_frames = 80;
  int64_t temporal_overlap_frames = 24;

  explicit operator bool() const { return enabled; }
  // The tiles for a video of `height` x `width` pixels on a decoder of `scale`; nullopt when
  // disabled. The layout is checked against `scale` (std::invalid_argument naming the axis).
  std::optional<ltx2::VideoTilingConfig> for_video(int64_t height, int64_t width,
                                                   const ltx2::VideoScale& scale = {}) const;
};

struct EngineConfig {
  std::string device = "cpu";  // "cpu", "cuda" or "cuda:N"
  // The model files as users download them (an object decoded by ltx2::model_files_from_json).
  json::Json model;
  // Per component (common/components.hpp names); see placement() for the defaults.
  std::map<std::string, rt::Placement> placements;
  // How stage 2 of two_stages applies the distilled LoRA: as a low-rank delta over stage 1's
  // weights (no second copy) or fused into a second copy, as the reference.
  enum class LoraMode { kDelta, kFused };
  LoraMode stage2_lora = LoraMode::kDelta;  // "stage2_lora": "lora_delta" | "fused"
  // Weight storage per transformer component: "bf16" (default) or "fp8" (float8_e4m3fn, upcast
  // per layer at compute, as ltx-core's fp8-cast).
  std::map<std::string, std::string> weights;
  VaeTiling vae_tiling;  // the final decode's tiles (default: the reference's)
  int64_t vram_budget_bytes = 0;   // 0: the whole device
  int64_t vram_reserve_bytes = 0;  // kept free inside the budget
  std::string output_root;         // required: videos go to <output_root>/<job_id>.y4m
  int32_t max_encode_batch = 8;    // prompts per encoder pass (advertised to the dispatcher)

  // The placement of `component`: as configured, else kAuto for the text encoder and the
  // embeddings processor (streamed on a cache miss when memory is short) and kResident for the rest.
  rt::Placement placement(std::string_view component) const;
  bool weights_fp8(std::string_view component) const;
  // The limits every placement plan works within: budget, reserve, a 3-slot ring, plans logged.
  PlanLimits plan_limits() const;
};

// Decodes the JSON text; throws std::invalid_argument naming `source` (the file) and the key.
EngineConfig parse_engine_config(std::string_view json_text, const std::string& source);
// Reads and decodes a file; throws std::invalid_argument (unreadable file included).
EngineConfig load_engine_config(const std::string& path);

}  // namespace ff::engine
