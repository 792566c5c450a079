#include "worker/cache/validate.hpp"

namespace ff::worker {
namespace {

std::optional<std::string> check_tensor(const char* name, const proto::TensorBlob& t) {
  const std::string n(name);
  if (t.dtype != kEmbeddingDtype) return n + ": dtype '" + t.dtype + "', expected 'bf16'";
  if (t.shape.size() != 2)
    return n + ": " + std::to_string(t.shape.size()) + "-D shape, expected 2-D [rows, dim]";
  if (t.shape[0] < 1) return n + ": " + std::to_string(t.shape[0]) + " rows";
  if (t.shape[1] < 1 || t.shape[1] > kMaxEmbeddingDim)
    return n + ": dim " + std::to_string(t.shape[1]) + " out of range [1, " +
           std::to_string(kMaxEmbeddingDim) + "]";
  return std::nullopt;
}

std::optional<std::string> check_bytes(const char* name, const proto::TensorBlob& t) {
  const uint64_t want = uint64_t(t.shape[0]) * uint64_t(t.shape[1]) * 2;
  if (uint64_t(t.data.size()) != want)
    return std::string(name) + ": " + std::to_string(t.data.size()) + " bytes, expected " +
           std::to_string(t.shape[0]) + " x " + std::to_string(t.shape[1]) + " x 2 = " +
           std::to_string(want);
  return std::nullopt;
}

}  // namespace

std::optional<std::string> validate_embedding(const proto::PromptEmbedding& emb,
                                              int32_t max_length) {
  if (max_length < 1) return "max_length " + std::to_string(max_length) + " < 1";
  if (emb.real_tokens < 1 || emb.real_tokens > max_length)
    return "real_tokens " + std::to_string(emb.real_tokens) + " out of range [1, " +
           std::to_string(max_length) + "]";
  if (auto e = check_tensor("video", emb.video)) return e;
  if (auto e = check_tensor("audio", emb.audio)) return e;
  const int64_t rows = emb.video.shape[0];
  if (emb.audio.shape[0] != rows)
    return "video has " + std::to_string(rows) + " rows but audio has " +
           std::to_string(emb.audio.shape[0]);
  if (rows != emb.real_tokens && rows != max_length)
    return std::to_string(rows) + " rows, expected real_tokens (" +
           std::to_string(emb.real_tokens) + ") or max_length (" + std::to_string(max_length) + ")";
  if (auto e = check_bytes("video", emb.video)) return e;
  if (auto e = check_bytes("audio", emb.audio)) return e;
  return std::nullopt;
}

}  // namespace ff::worker
