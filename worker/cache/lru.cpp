#include "worker/cache/lru.hpp"

namespace ff::worker {

uint64_t payload_bytes(const proto::PromptEmbedding& emb) {
  return uint64_t(emb.video.data.size()) + uint64_t(emb.audio.data.size());
}

EmbeddingLru::EmbeddingLru(uint64_t capacity_bytes) : capacity_(capacity_bytes) {}

std::optional<proto::PromptEmbedding> EmbeddingLru::get(const std::string& prompt) {
  auto it = index_.find(prompt);
  if (it == index_.end()) return std::nullopt;
  order_.splice(order_.begin(), order_, it->second);
  return *it->second->emb;
}

bool EmbeddingLru::put(const std::string& prompt, proto::PromptEmbedding emb) {
  return put(prompt, std::make_shared<const proto::PromptEmbedding>(std::move(emb)));
}

bool EmbeddingLru::put(const std::string& prompt, std::shared_ptr<const proto::PromptEmbedding> emb) {
  const uint64_t b = payload_bytes(*emb);
  erase(prompt);
  if (b > capacity_) return false;
  order_.push_front(Entry{prompt, std::move(emb), b, Clock::time_point{}});
  index_.emplace(prompt, order_.begin());
  bytes_ += b;
  evict_to_fit();
  return true;
}

void EmbeddingLru::erase(const std::string& prompt) {
  auto it = index_.find(prompt);
  if (it == index_.end()) return;
  bytes_ -= it->second->bytes;
  order_.erase(it->second);
  index_.erase(it);
}

std::optional<EmbeddingLru::Clock::time_point> EmbeddingLru::db_touched_at(
    const std::string& prompt) const {
  auto it = index_.find(prompt);
  if (it == index_.end()) return std::nullopt;
  return it->second->db_touched_at;
}

void EmbeddingLru::set_db_touched_at(const std::string& prompt, Clock::time_point t) {
  auto it = index_.find(prompt);
  if (it != index_.end()) it->second->db_touched_at = t;
}

std::list<std::string> EmbeddingLru::keys_mru_first() const {
  std::list<std::string> out;
  for (const auto& e : order_) out.push_back(e.prompt);
  return out;
}

void EmbeddingLru::evict_to_fit() {
  while (bytes_ > capacity_ && !order_.empty()) {
    const Entry& victim = order_.back();
    bytes_ -= victim.bytes;
    index_.erase(victim.prompt);
    order_.pop_back();
    ++evictions_;
  }
}

}  // namespace ff::worker
