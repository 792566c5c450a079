// The encoder fingerprint: identifies the weights that turn token ids into prompt embeddings
// (text encoder + tokenizer + embeddings processor), so that cached embeddings are reused only
// by workers whose encoder would compute the same values.
//
// It hashes (XXH3-128, libxxhash): the text encoder folder's config.json, tokenizer.model and
// every *.safetensors / *.json / *.model file there (name, size and data: whole files up to
// 8 MiB, else 4 KiB samples at 256 evenly spaced offsets plus the tail); and from the LTX-2.3
// checkpoint the "config" metadata plus the header entries and data (same sampling per tensor)
// of the embeddings-processor tensors only, so retraining a stage transformer keeps the
// fingerprint. The prefix names the scheme: a new scheme gets a new prefix, so rows cached under
// another scheme are simply never looked up.
#pragma once

#include <string>

namespace ff::engine {

// "ff2-<32 hex digits>". Throws std::runtime_error naming the file that is missing or unreadable
// (ff::io::CheckpointError, a runtime_error, for a malformed checkpoint).
std::string encoder_fingerprint(const std::string& text_encoder_dir, const std::string& checkpoint);

}  // namespace ff::engine
