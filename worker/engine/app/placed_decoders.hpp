// The staged decode-side components of Ltx2Model under their placements (PlacedModel over the
// stages of the ltx2 forwards): "spatial_upsampler" (ltx2::upsample_video_latent), "audio_decoder"
// (ltx2::decode_audio_latent) and "vocoder" (ltx2::vocode, fp32 weights as the reference runs it).
// Each is built from any TensorFetch (the published files, or weights made in memory) and runs
// resident, stream or auto with the same results bit for bit. Engine thread only.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "worker/engine/app/placed_stages.hpp"
#include "worker/engine/io/safetensors.hpp"
#include "worker/engine/layers/weight_spec.hpp"
#include "worker/engine/ltx2/audio_decoder.hpp"
#include "worker/engine/ltx2/upsampler.hpp"
#include "worker/engine/ltx2/vocoder.hpp"

namespace ff::engine {

using PlacedUpsampler = PlacedModel<ltx2::Upsampler>;
using PlacedAudioDecoder = PlacedModel<ltx2::AudioDecoderModel>;
using PlacedVocoder = PlacedModel<ltx2::VocoderModel>;

// From `fetch` (the tensors of each slot in the names of upsampler_slots / audio_decoder_slots /
// vocoder_slots with their default prefixes): host tensors for stream/auto, any device for resident.
std::unique_ptr<PlacedUpsampler> make_placed_upsampler(const ltx2::UpsamplerConfig& c, const layers::TensorFetch& fetch,
                                                       rt::Placement mode, rt::DeviceBackend& backend, PlanLimits limits);
std::unique_ptr<PlacedAudioDecoder> make_placed_audio_decoder(const ltx2::AudioDecoderConfig& c,
                                                              const layers::TensorFetch& fetch, rt::Placement mode,
                                                              rt::DeviceBackend& backend, PlanLimits limits);
std::unique_ptr<PlacedVocoder> make_placed_vocoder(const ltx2::VocoderConfig& c, const layers::TensorFetch& fetch,
                                                   rt::Placement mode, rt::DeviceBackend& backend, PlanLimits limits);

// From the published files (the upsampler's own file; the checkpoint's audio_vae / vocoder
// sections), in `dtype` (the vocoder always fp32). Throws std::invalid_argument (config) or
// io::CheckpointError naming file and tensor.
std::unique_ptr<PlacedUpsampler> load_placed_upsampler(const std::string& path, at::ScalarType dtype, rt::Placement mode,
                                                       rt::DeviceBackend& backend, PlanLimits limits);
std::unique_ptr<PlacedAudioDecoder> load_placed_audio_decoder(const io::SafetensorsFile& file, at::ScalarType dtype,
                                                              rt::Placement mode, rt::DeviceBackend& backend,
                                                              PlanLimits limits);
std::unique_ptr<PlacedVocoder> load_placed_vocoder(const io::SafetensorsFile& file, rt::Placement mode,
                                                   rt::DeviceBackend& backend, PlanLimits limits);

// A fetch over slots whose targets already hold the tensors (e.g. random weights made in memory
// with the same *_slots list); throws std::out_of_range naming a name it does not hold. The slots'
// targets must outlive the fetch.
layers::TensorFetch fetch_from_slots(const std::vector<layers::WeightSlot>& slots);

}  // namespace ff::engine
