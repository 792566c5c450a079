// The prompt-encoding entry point: the placement/streaming pipeline (worker/engine/encode/).
// Every cache-miss prompt of a request is encoded in one pass over the text encoder's blocks,
// placed per call from the engine config's placements, VRAM budget and reserve. A request that
// cannot fit even streamed with one prompt per micro-batch throws rt::VramBudgetError.
#include "worker/engine/app/encode_entry.hpp"

#include <stdexcept>

#include "worker/engine/app/tensor_blob.hpp"
#include "worker/engine/encode/encode_pipeline.hpp"
#include "worker/engine/encode/gemma_ltx_ops.hpp"
#include "worker/engine/encode/gemma_ltx_weights.hpp"

namespace ff::engine {

struct EncodeSession {
  explicit EncodeSession(rt::DeviceBackend& b) : backend(b) {}
  rt::DeviceBackend& backend;
  std::unique_ptr<encode::EncodePipeline> pipeline;
};

std::shared_ptr<EncodeSession> open_encode_session(const std::string& text_encoder_dir, const std::string& checkpoint,
                                                   const EngineConfig& config,
                                                   rt::DeviceBackend& backend) {
  auto s = std::make_shared<EncodeSession>(backend);
  encode::LoadedEncoder loaded = encode::load_gemma_ltx(text_encoder_dir, checkpoint, backend);
  encode::PipelineOptions o;
  o.text_placement = config.placement("text_encoder");
  o.processor_placement = config.placement("embeddings_processor");
  o.budget_bytes = config.vram_budget_bytes;
  o.reserve_bytes = config.vram_reserve_bytes;
  o.max_micro_batch = std::max(1, config.max_encode_batch);
  s->pipeline = std::make_unique<encode::EncodePipeline>(
      std::make_unique<encode::GemmaLtxOps>(loaded.gemma, loaded.processor, loaded.dtype), std::move(loaded.weights),
      backend, o);
  return s;
}

std::vector<proto::PromptEmbedding> encode_prompts(EncodeSession& s, const proto::EncodeRequest& req) {
  if (req.prompts.empty()) throw std::invalid_argument("encode request has no prompts");
  if (req.max_length < 1 || req.max_length > 8192)
    throw std::invalid_argument("encode request max_length must be in 1..8192, got " + std::to_string(req.max_length));
  std::vector<std::vector<int32_t>> ids;
  ids.reserve(req.prompts.size());
  for (const auto& p : req.prompts) ids.push_back(p.ids);
  std::vector<encode::EncodedPrompt> enc = s.pipeline->encode(ids, req.max_length);
  std::vector<proto::PromptEmbedding> out;
  out.reserve(enc.size());
  for (auto& e : enc) {
    // Contexts leave the engine in bf16, the format the embedding cache persists, whatever the
    // model's dtype: a job fed from a cache hit and one fed from a fresh encode see equal bytes.
    proto::PromptEmbedding p;
    p.real_tokens = e.real_tokens;
    p.video = blob_from_tensor(e.video.to(at::kBFloat16));
    p.audio = blob_from_tensor(e.audio.to(at::kBFloat16));
    out.push_back(std::move(p));
  }
  return out;
}

void encode_stats(const EncodeSession& s, proto::EngineStats& stats) {
  for (const auto& [name, c] : s.pipeline->stats()) stats.components[name] = c;
  stats.ooms_avoided_total += s.pipeline->ooms_avoided_total();
}

}  // namespace ff::engine
