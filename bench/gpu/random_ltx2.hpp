// LTX-2.3 models with random weights built in memory, for the benchmarks at real size (the 22B
// checkpoint would not fit the GPU host's disk, and loading it is not what they measure).
// Every piece is the engine's own type, built from the same slot lists the loader checks
// (av_transformer_slots, upsampler_slots, video_decoder_slots, audio_decoder_slots, vocoder_slots)
// with each slot's random init, and placed by the engine's own classes (AVStage,
// PlacedVideoDecoder), as load_ltx2_model does with the files' tensors.
#pragma once

#include <cstdint>
#include <string>

#include "worker/engine/app/engine_config.hpp"
#include "worker/engine/app/ltx2_model.hpp"
#include "worker/engine/ltx2/lora.hpp"
#include "worker/engine/ltx2/published_presets.hpp"
#include "worker/engine/runtime/device_backend.hpp"

namespace ff::bench {

// Random weights of every transformer slot, allocated in `dtype` on `dev` and drawn there.
// `bytes` grows by their size.
ltx2::AVTransformerWeights random_transformer(const ltx2::AVTransformerConfig& c, at::Device dev, at::ScalarType dtype,
                                              int64_t& bytes);

// A random LoRA over the 28 block Linears the distilled LoRA targets (attention to_q/k/v/out.0,
// ff, audio_ff; not the gate logits), factors on `dev` (A ~ N(0, 1/in), B ~ N(0, 0.01/r)).
ltx2::Lora random_lora(const ltx2::AVTransformerConfig& c, int64_t rank, at::Device dev, at::ScalarType dtype,
                       int64_t& bytes);

// The checkpoint config of `preset` decoded as load_ltx2_model decodes a file's metadata.
ltx2::LtxModelConfig preset_model_config(const ltx2::PublishedPreset& preset);

// The stage-2 transformer of two_stages as load_ltx2_model builds it for config.stage2_lora:
// lora_delta over m.stage1 (factors placed as config.placement("stage2_transformer")) or a
// second random stage with `lora` fused in. Replaces m.stage2.
void attach_stage2(engine::Ltx2Model& m, const engine::EngineConfig& config, const ltx2::Lora& lora,
                   engine::rt::DeviceBackend& backend);

// An Ltx2Model for `pipeline` with every component random, in `dtype`, placed per `config`
// (placements, weights: fp8, stage2_lora). For two_stages, `lora` (random_lora) makes stage 2.
// The files are named "(in memory)". Throws what the engine's constructors throw.
engine::Ltx2Model make_random_ltx2_model(const ltx2::PublishedPreset& preset, ltx2::PipelineKind pipeline,
                                         const engine::EngineConfig& config, const ltx2::Lora* lora,
                                         at::ScalarType dtype, engine::rt::DeviceBackend& backend);

}  // namespace ff::bench
