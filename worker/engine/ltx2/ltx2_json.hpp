// Reading the LTX-2 configs that the published files carry in their safetensors metadata
// ("config" = JSON with sections transformer, vae, audio_vae, vocoder, scheduler; the upsampler
// and LoRA files carry their own). Torch-free.
#pragma once

#include <map>
#include <string>

#include "common/json_fields.hpp"

namespace ff::ltx2 {

// The parsed "config" metadata of a safetensors file. Throws std::invalid_argument naming `file`
// when the key is absent or not a JSON object.
json::Json config_from_metadata(const std::map<std::string, std::string>& metadata, const std::string& file);

// The object `section` of `config`; throws std::invalid_argument naming file and section.
const json::Json& config_section(const json::Json& config, const std::string& section, const std::string& file);

}  // namespace ff::ltx2
