// Validation of a prompt embedding before it is stored and after it is read back.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/protocol.hpp"

namespace ff::worker {

// Largest feature dimension accepted (LTX-2.3 uses 4096 video / 2048 audio); guards overflow.
inline constexpr int64_t kMaxEmbeddingDim = int64_t(1) << 20;
// The only stored dtype.
inline constexpr const char* kEmbeddingDtype = "bf16";

// Returns nullopt when `emb` is a well-formed cached embedding for prompts padded to max_length:
// both tensors bf16, 2-D [rows, dim], same rows, rows == real_tokens (trimmed) or rows ==
// max_length (full), 1 <= real_tokens <= max_length, 1 <= dim <= kMaxEmbeddingDim, and
// data.size() == rows * dim * 2. Otherwise a sentence naming the first problem. Pure.
std::optional<std::string> validate_embedding(const proto::PromptEmbedding& emb, int32_t max_length);

}  // namespace ff::worker
