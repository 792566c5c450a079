// The supervisor's embedding cache: the one place lookups and stores go through, and its
// periodic maintenance. The cache exists from the first EngineHello on (its key includes the
// engine's encoder_fingerprint).
#include <chrono>

#include "worker/log.hpp"
#include "worker/supervisor_impl.hpp"

namespace ff::worker {

void SupervisorImpl::replace_cache() {
  const bool replacing = cache_ != nullptr;
  EmbeddingCacheConfig cc;
  cc.encoder_fingerprint = fingerprint_;
  cc.max_length = cfg_.max_length;
  cc.ram_capacity_bytes = static_cast<uint64_t>(cfg_.cache_ram_bytes);
  cc.database_url = cfg_.database_url;
  cc.retention_max_rows = cfg_.cache_retention_max_rows;
  cc.retention_max_age_s = cfg_.cache_retention_max_age_s;
  cache_ = std::make_unique<EmbeddingCache>(cc, [](const std::string& l) { log_info("cache: " + l); });
  if (replacing && metrics_) metrics_->note_cache_replaced();
}

void SupervisorImpl::lookup_embeddings(const proto::Job& job) {
  std::vector<std::string> prompts;
  for (const std::string* p : {&job.prompt, &job.negative_prompt})
    if (!book_.has_embedding(*p)) prompts.push_back(*p);
  if (prompts.empty() || !cache_) return;
  auto found = cache_->get_many(prompts);
  for (size_t i = 0; i < prompts.size(); ++i)
    if (found[i]) book_.set_embedding(prompts[i], std::move(*found[i]));
}

void SupervisorImpl::store_embeddings(const std::vector<std::string>& prompts,
                                      const std::vector<proto::PromptEmbedding>& embs) {
  if (cache_) cache_->put_many(prompts, embs);
}

void SupervisorImpl::maintain_cache() {
  if (!cache_) return;
  if (Clock::now() >= next_cache_flush_) {
    next_cache_flush_ = Clock::now() + std::chrono::seconds(10);
    cache_->flush_touches();
    if (metrics_) metrics_->update_cache(cache_->stats());
  }
  const bool retention = cfg_.cache_retention_max_rows > 0 || cfg_.cache_retention_max_age_s > 0;
  if (retention && !cfg_.database_url.empty() && Clock::now() >= next_cache_prune_) {
    next_cache_prune_ = Clock::now() + std::chrono::seconds(cfg_.cache_prune_interval_s);
    const int64_t deleted = cache_->prune();
    if (deleted > 0) log_info("cache: retention deleted " + std::to_string(deleted) + " rows");
  }
}

}  // namespace ff::worker
