// The prompt-encoding entry point of the engine: the one place the serve loop calls to turn token
// ids into prompt embeddings (the placement/streaming pipeline, worker/engine/encode/); the serve
// loop only sees these three functions and the opaque session.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/protocol.hpp"
#include "worker/engine/app/engine_config.hpp"
#include "worker/engine/runtime/device_backend.hpp"

namespace ff::engine {

// Everything loaded once for encoding (weights, plans); defined in encode_entry.cpp.
struct EncodeSession;

// Loads the text encoder (the Gemma-3 HF folder) and the embeddings processor (from the LTX-2.3
// checkpoint)
// for `config`'s placements on `backend`'s device. Engine thread. Throws io::CheckpointError /
// std::exception naming the problem. The session keeps a reference to `backend`.
std::shared_ptr<EncodeSession> open_encode_session(const std::string& text_encoder_dir, const std::string& checkpoint,
                                                   const EngineConfig& config,
                                                   rt::DeviceBackend& backend);

// Encodes every prompt of `req` (all in one pass where the implementation can) and returns one
// PromptEmbedding per prompt, in order. Engine thread. Throws std::invalid_argument for bad
// requests (empty prompt, ids out of the vocabulary, more tokens than max_length), and torch
// errors (c10::OutOfMemoryError) as they come.
std::vector<proto::PromptEmbedding> encode_prompts(EncodeSession& session,
                                                   const proto::EncodeRequest& req);

// Adds the session's components ("text_encoder", "embeddings_processor") to `stats`.
void encode_stats(const EncodeSession& session, proto::EngineStats& stats);

}  // namespace ff::engine
