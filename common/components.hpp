// The one table of component names: placement, metrics, the wire protocol and the engine config
// all use these spellings. Torch-free.
#pragma once

#include <array>
#include <string_view>

namespace ff {

enum class Component {
  kTextEncoder, kEmbeddingsProcessor, kStage1Transformer, kStage2Transformer,
  kSpatialUpsampler, kVaeDecoder, kAudioDecoder, kVocoder,
};

inline constexpr std::array<std::string_view, 8> kComponentNames = {
    "text_encoder",       "embeddings_processor", "stage1_transformer", "stage2_transformer",
    "spatial_upsampler",  "vae_decoder",          "audio_decoder",      "vocoder",
};

constexpr std::string_view component_name(Component c) { return kComponentNames[static_cast<size_t>(c)]; }

// True when `name` is one of kComponentNames.
constexpr bool is_component_name(std::string_view name) {
  for (auto n : kComponentNames)
    if (n == name) return true;
  return false;
}

}  // namespace ff
