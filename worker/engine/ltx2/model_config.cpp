#include "worker/engine/ltx2/model_config.hpp"

#include <cctype>
#include <stdexcept>

#include "worker/engine/ltx2/ltx2_json.hpp"

namespace ff::ltx2 {
namespace {

std::string version_string(const std::vector<int64_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "." : "") + std::to_string(v[i]);
  return s.empty() ? "()" : s;
}

// LTX-2 (19B) uses the V1 feature extractor: none of the four caption_* keys. ltx-core refuses a
// partial V2 set and other values; so do we, here, before anything else reads the section.
void check_feature_extractor(const json::Json& transformer, const std::string& where) {
  const std::pair<const char*, bool> markers[] = {{"caption_proj_before_connector", true},
                                                  {"caption_projection_first_linear", false},
                                                  {"caption_proj_input_norm", false},
                                                  {"caption_projection_second_linear", false}};
  int present = 0;
  for (const auto& [key, want] : markers) {
    auto v = transformer.find(key);
    if (v == transformer.end()) continue;
    ++present;
    if (!v->is_boolean() || v->get<bool>() != want)
      throw std::invalid_argument(where + ": key '" + key + "': expected " + (want ? "true" : "false") +
                                  " (LTX-2.3's V2 feature extractor); other text projections are not implemented");
  }
  if (present == 0)
    throw std::invalid_argument(where + ": key 'caption_proj_before_connector': absent, so this is an LTX-2 (19B) "
                                "checkpoint with the V1 feature extractor, which is not implemented (LTX-2.3 only)");
  if (present != 4)
    throw std::invalid_argument(where + ": keys 'caption_proj*': partial V2 feature-extractor config (need all four)");
}

}  // namespace

std::vector<int64_t> parse_model_version(const std::string& version) {
  std::string s = version;
  for (char& ch : s)
    if (ch == '-') ch = '.';
  std::vector<int64_t> out;
  size_t pos = 0;
  while (pos <= s.size() && !s.empty()) {
    const size_t dot = s.find('.', pos);
    const std::string part = s.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
    if (part.empty() || part.size() > 9) break;
    bool digits = true;
    for (char ch : part) digits = digits && std::isdigit(static_cast<unsigned char>(ch));
    if (!digits) break;
    out.push_back(std::stoll(part));
    if (dot == std::string::npos) break;
    pos = dot + 1;
  }
  return out;
}

LtxModelConfig ltx_model_config_from_metadata(const std::map<std::string, std::string>& metadata,
                                              const std::string& file) {
  LtxModelConfig c;
  // Generation first: everything else is only meaningful for 2.3.
  auto mv = metadata.find("model_version");
  if (mv == metadata.end())
    throw std::invalid_argument(file + ": metadata key 'model_version': absent; ltx-pipelines would treat this "
                                "checkpoint as LTX-2.0 (its defaults); only LTX-2.3 (model_version 2.3.x) is supported");
  c.model_version = mv->second;
  c.version = parse_model_version(c.model_version);
  const std::vector<int64_t> since{kSupportedMajor, kSupportedMinor}, until{kSupportedMajor, kSupportedMinor + 1};
  if (c.version < since)
    throw std::invalid_argument(file + ": metadata key 'model_version': '" + c.model_version + "' (parsed " +
                                version_string(c.version) + ") is older than 2.3; only LTX-2.3 is supported");
  if (!(c.version < until))
    throw std::invalid_argument(file + ": metadata key 'model_version': '" + c.model_version + "' (parsed " +
                                version_string(c.version) + ") is newer than 2.3 (LTX-2.4+/2.5: other pipeline "
                                "defaults, Gemma-4 text encoder); only LTX-2.3 is supported");
  if (metadata.count("gemma_source_checkpoint"))
    throw std::invalid_argument(file + ": metadata key 'gemma_source_checkpoint': present, so the checkpoint expects "
                                "a Gemma-4 text encoder (LTX-2.5); only Gemma-3 (LTX-2.3) is supported");

  c.config = config_from_metadata(metadata, file);
  for (const auto& [key, _] : c.config.items())
    if (key != "transformer" && key != "vae" && key != "audio_vae" && key != "vocoder" && key != "scheduler")
      throw std::invalid_argument(file + ": config key '" + key + "': unknown section (known: transformer, vae, "
                                  "audio_vae, vocoder, scheduler)");
  const json::Json& tr = config_section(c.config, "transformer", file);
  check_feature_extractor(tr, file + ": config.transformer");
  c.transformer = av_transformer_config_from_json(tr, file + ": config.transformer");

  const json::Json& vae = config_section(c.config, "vae", file);
  auto cls = vae.find("_class_name");
  if (cls != vae.end() && *cls != "CausalVideoAutoencoder")
    throw std::invalid_argument(file + ": config.vae._class_name: '" +
                                (cls->is_string() ? cls->get<std::string>() : cls->dump()) +
                                "' is a diffusion VAE decoder, which is not implemented (CausalVideoAutoencoder only)");
  c.video_decoder = video_decoder_config_from_json(vae, file + ": config.vae");
  c.video_encoder = video_encoder_config_from_json(vae, file + ": config.vae");
  if (c.video_encoder.latent_channels != c.video_decoder.latent_channels)
    throw std::invalid_argument(file + ": config.vae: key 'latent_channels': encoder and decoder disagree");

  const json::Json& avae = config_section(c.config, "audio_vae", file);
  c.audio_decoder = audio_decoder_config_from_json(avae, file + ": config.audio_vae");
  c.audio_encoder = audio_encoder_config_from_json(avae, file + ": config.audio_vae");

  c.vocoder = vocoder_config_from_json(config_section(c.config, "vocoder", file), file + ": config.vocoder");
  if (auto s = c.config.find("scheduler"); s != c.config.end()) c.scheduler = *s;

  // Cross-section consistency the pipeline relies on.
  if (c.transformer.in_channels != c.video_decoder.latent_channels)
    throw std::invalid_argument(file + ": config.transformer: key 'in_channels': " +
                                std::to_string(c.transformer.in_channels) + " != the VAE's latent_channels " +
                                std::to_string(c.video_decoder.latent_channels));
  return c;
}

text::EmbeddingsProcessorConfig processor_config(const LtxModelConfig& c, const io::GemmaConfig& gemma,
                                                 const std::string& file) {
  return text::parse_embeddings_processor_config(c.config, gemma, file);
}

}  // namespace ff::ltx2
