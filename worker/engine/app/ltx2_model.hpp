// The LTX-2.3 model of a worker, loaded once at engine start from the files users download
// (engine config "model", ltx2::ModelFiles): the two stage transformers under their placements,
// the spatial upsampler, the video decoder, the audio decoder and the vocoder, each resident,
// stream or auto (PlacedVideoDecoder; PlacedModel for the staged ones). The text encoder
// and the embeddings processor are the encode session's (encode_entry.hpp).
//
// Stage 2 of two_stages is stage 1's weights plus the distilled LoRA:
//   lora_delta (default): no second copy; the LoRA factors are placed as "stage2_transformer"
//                         and applied at compute over stage 1's blocks (AVStage::lora_delta);
//   fused:                a second copy with W + s*B*A in bf16, as the reference.
// The distilled pipeline runs one transformer for both stages.
// Engine thread only.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "common/protocol.hpp"
#include "worker/engine/app/av_stage.hpp"
#include "worker/engine/app/engine_config.hpp"
#include "worker/engine/app/placed_stages.hpp"
#include "worker/engine/app/placed_video_decoder.hpp"
#include "worker/engine/ltx2/audio_decoder.hpp"
#include "worker/engine/ltx2/model_config.hpp"
#include "worker/engine/ltx2/model_files.hpp"
#include "worker/engine/ltx2/upsampler.hpp"
#include "worker/engine/ltx2/video_decoder.hpp"
#include "worker/engine/ltx2/vocoder.hpp"
#include "worker/engine/runtime/device_backend.hpp"

namespace ff::engine {

struct Ltx2Model {
  ltx2::ModelFiles files;
  ltx2::LtxModelConfig config;
  at::ScalarType dtype = at::kBFloat16;  // compute dtype of the transformer and the decoders

  std::unique_ptr<AVStage> stage1;
  std::unique_ptr<AVStage> stage2;  // null: the distilled pipeline runs stage1 for both stages

  std::unique_ptr<PlacedModel<ltx2::Upsampler>> upsampler;
  std::unique_ptr<PlacedVideoDecoder> video_decoder;  // also holds vae.per_channel_statistics
  std::unique_ptr<PlacedModel<ltx2::AudioDecoderModel>> audio_decoder;
  std::unique_ptr<PlacedModel<ltx2::VocoderModel>> vocoder;  // fp32 weights, as the reference runs it

  AVStage& stage(int k) { return k == 2 && stage2 ? *stage2 : *stage1; }
  // Stats of every component this model owns, by component name.
  std::map<std::string, proto::ComponentStats> stats() const;
};

// Checks every file (ltx2::check_model_files) and loads the model for `config`'s placements on
// `backend`. Throws std::invalid_argument / io::CheckpointError naming the file and key/tensor.
Ltx2Model load_ltx2_model(const EngineConfig& config, rt::DeviceBackend& backend);

}  // namespace ff::engine
