// Random weights in the real formats, for make-weights presets (tests, quickstart, benchmarks):
//   - a Gemma-3 text encoder in HF's sharded layout (config.json in the transformers 4.x dialect
//     as published Gemma-3 checkpoints carry it: model_type "gemma3" + text_config; shards
//     model-0000i-of-0000n.safetensors with names language_model.model.*; the index
//     model.safetensors.index.json). tokenizer.model is the supervisor's (make-model).
//   - the LTX-2.3 embeddings-processor tensors (checkpoint names) and the config.transformer keys
//     describing them, for whoever writes ltx.safetensors.
// Every tensor is drawn from its own generator seeded by (seed, tensor name), so the values do not
// depend on shard layout or write order: same preset + seed = byte-identical files.
// Init by role: Gemma norms N(0, 0.1) (the (1 + w) form), connector q/k norms 1 + N(0, 0.1),
// biases N(0, 0.02), registers U(-1, 1), embeddings N(0, 1/sqrt(hidden)), matrices
// N(0, 1/sqrt(fan_in)). Single-threaded use; files are written to their final names atomically
// per shard (see SafetensorsWriter).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/json_fields.hpp"
#include "worker/engine/io/gemma_config.hpp"
#include "worker/engine/text/embeddings_processor_config.hpp"

namespace ff::text {

struct TextPreset {
  std::string name;
  io::GemmaConfig gemma;
  json::Json transformer_keys;  // LTX config.transformer keys of the embeddings processor (an object)
  at::ScalarType dtype = at::kFloat;
  int64_t shards = 2;             // text-encoder shard files (>= 2)
};

// "tiny" (CPU tests: hidden 64, 6 layers, vocab 512 = the supervisor's tiny tokenizer, fp32,
// processor widths 32 video / 16 audio) or "gemma3-12b" (Gemma-3-12B sizes, LTX-2.3 processor
// 4096 / 2048 with 8-block gated connectors, bf16). Throws std::invalid_argument otherwise.
TextPreset text_preset(const std::string& name);

// One tensor of the given shape, drawn as described above for checkpoint name `name`.
at::Tensor random_tensor(const std::string& name, at::IntArrayRef shape, uint64_t seed, at::ScalarType dtype,
                         bool gemma_norm_form);

// Writes dir/config.json, dir/model-*.safetensors (num_shards >= 2, split by bytes at layer
// boundaries) and dir/model.safetensors.index.json. Creates dir. Throws io::CheckpointError
// naming the file on I/O errors.
void write_random_text_encoder(const std::string& dir, const io::GemmaConfig& c, uint64_t seed,
                               at::ScalarType dtype, int64_t num_shards);

// The processor's tensors (checkpoint names, embeddings_processor_tensor_shapes order).
std::vector<std::pair<std::string, at::Tensor>> random_embeddings_processor(const EmbeddingsProcessorConfig& c,
                                                                            uint64_t seed, at::ScalarType dtype);

struct RandomTextSide {
  std::vector<std::pair<std::string, at::Tensor>> processor_tensors;  // for ltx.safetensors
  json::Json transformer_keys;  // an object: merge into ltx.safetensors config.transformer
  int64_t video_dim = 0;          // video context width (= stage transformer width)
  int64_t audio_dim = 0;
};

// make-weights' text-encoder part: writes model_dir/text_encoder/ for `preset` and returns
// the processor tensors + config keys. Throws std::invalid_argument (preset) or io::CheckpointError.
RandomTextSide write_random_text_side(const std::string& preset, uint64_t seed, const std::string& model_dir);

}  // namespace ff::text
