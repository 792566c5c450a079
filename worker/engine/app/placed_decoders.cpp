#include "worker/engine/app/placed_decoders.hpp"

#include <map>
#include <stdexcept>

#include "worker/engine/ltx2/ltx2_json.hpp"

namespace ff::engine {
namespace {

// Where a loader reads the file's tensors: straight onto the device for a resident component,
// host views of the mapping otherwise (the stream store copies them once).
at::Device load_device(rt::Placement mode, const rt::DeviceBackend& backend) {
  return mode == rt::Placement::kResident ? backend.device() : at::Device(at::kCPU);
}

}  // namespace

std::unique_ptr<PlacedUpsampler> make_placed_upsampler(const ltx2::UpsamplerConfig& c, const layers::TensorFetch& fetch,
                                                       rt::Placement mode, rt::DeviceBackend& backend,
                                                       PlanLimits limits) {
  ltx2::Upsampler skeleton;
  skeleton.config = c;
  return std::make_unique<PlacedUpsampler>(
      "spatial_upsampler", std::move(skeleton),
      [](ltx2::UpsamplerWeights& w, const ltx2::UpsamplerConfig& cfg) { return ltx2::upsampler_slots(w, cfg); },
      ltx2::upsampler_stage_prefixes(c), fetch, mode, backend, limits);
}

std::unique_ptr<PlacedAudioDecoder> make_placed_audio_decoder(const ltx2::AudioDecoderConfig& c,
                                                              const layers::TensorFetch& fetch, rt::Placement mode,
                                                              rt::DeviceBackend& backend, PlanLimits limits) {
  ltx2::AudioDecoderModel skeleton;
  skeleton.config = c;
  return std::make_unique<PlacedAudioDecoder>(
      "audio_decoder", std::move(skeleton),
      [](ltx2::AudioDecoderWeights& w, const ltx2::AudioDecoderConfig& cfg) { return ltx2::audio_decoder_slots(w, cfg); },
      ltx2::audio_decoder_stage_prefixes(c), fetch, mode, backend, limits);
}

std::unique_ptr<PlacedVocoder> make_placed_vocoder(const ltx2::VocoderConfig& c, const layers::TensorFetch& fetch,
                                                   rt::Placement mode, rt::DeviceBackend& backend, PlanLimits limits) {
  ltx2::VocoderModel skeleton;
  skeleton.config = c;
  return std::make_unique<PlacedVocoder>(
      "vocoder", std::move(skeleton),
      [](ltx2::VocoderWeights& w, const ltx2::VocoderConfig& cfg) { return ltx2::vocoder_slots(w, cfg); },
      ltx2::vocoder_stage_prefixes(c), fetch, mode, backend, limits);
}

std::unique_ptr<PlacedUpsampler> load_placed_upsampler(const std::string& path, at::ScalarType dtype, rt::Placement mode,
                                                       rt::DeviceBackend& backend, PlanLimits limits) {
  const auto file = io::SafetensorsFile::open(path);
  const ltx2::UpsamplerConfig c =
      ltx2::upsampler_config_from_json(ltx2::config_from_metadata(file->metadata(), path), path + " config");
  return make_placed_upsampler(c, layers::file_fetch(*file, load_device(mode, backend), dtype), mode, backend, limits);
}

std::unique_ptr<PlacedAudioDecoder> load_placed_audio_decoder(const io::SafetensorsFile& file, at::ScalarType dtype,
                                                              rt::Placement mode, rt::DeviceBackend& backend,
                                                              PlanLimits limits) {
  const json::Json cfg = ltx2::config_from_metadata(file.metadata(), file.path());
  const ltx2::AudioDecoderConfig c = ltx2::audio_decoder_config_from_json(
      ltx2::config_section(cfg, "audio_vae", file.path()), file.path() + " config.audio_vae");
  return make_placed_audio_decoder(c, layers::file_fetch(file, load_device(mode, backend), dtype), mode, backend,
                                   limits);
}

std::unique_ptr<PlacedVocoder> load_placed_vocoder(const io::SafetensorsFile& file, rt::Placement mode,
                                                   rt::DeviceBackend& backend, PlanLimits limits) {
  const json::Json cfg = ltx2::config_from_metadata(file.metadata(), file.path());
  const ltx2::VocoderConfig c = ltx2::vocoder_config_from_json(ltx2::config_section(cfg, "vocoder", file.path()),
                                                               file.path() + " config.vocoder");
  return make_placed_vocoder(c, layers::file_fetch(file, load_device(mode, backend), at::kFloat), mode, backend,
                             limits);
}

layers::TensorFetch fetch_from_slots(const std::vector<layers::WeightSlot>& slots) {
  auto by_name = std::make_shared<std::map<std::string, const at::Tensor*>>();
  for (const auto& s : slots) (*by_name)[s.name] = s.target;
  return [by_name](const std::string& name, const std::vector<int64_t>&) -> at::Tensor {
    auto it = by_name->find(name);
    if (it == by_name->end() || !it->second->defined())
      throw std::out_of_range("fetch_from_slots: no tensor '" + name + "'");
    return *it->second;
  };
}

}  // namespace ff::engine
