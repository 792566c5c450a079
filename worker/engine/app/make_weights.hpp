// `framefarm-engine make-weights --preset P --seed S DIR`: writes a complete random model in the
// real formats (see video_models.hpp and the text owner's text_encoder/ layout):
//   DIR/text_encoder/            written by the text owner's preset writer
//   DIR/ltx.safetensors          embeddings-processor tensors + stage-1 transformer, metadata
//                                "config" = {"transformer": {text keys..., stage keys...},
//                                            "sampler": {...}}
//   DIR/stage2.safetensors       stage-2 transformer, metadata "config" = {"transformer": {...}}
//   DIR/vae_decoder.safetensors  decoder, metadata "config" = {"vae": {...}}
// Same preset and seed give byte-identical files.
#pragma once

#include <cstdint>
#include <string>

namespace ff::engine {

// Throws std::invalid_argument for an unknown preset, io::CheckpointError / std::runtime_error
// naming the file on I/O failures.
void make_weights(const std::string& preset, int64_t seed, const std::string& dir);

}  // namespace ff::engine
