// In-process LRU of prompt embeddings, bounded by payload bytes (video + audio tensor bytes).
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/protocol.hpp"

namespace ff::worker {

// Payload bytes of one embedding: the bytes the LRU bound counts.
uint64_t payload_bytes(const proto::PromptEmbedding& emb);

// Not thread-safe: EmbeddingCache serialises calls (its mutex).
class EmbeddingLru {
 public:
  using Clock = std::chrono::steady_clock;

  // capacity_bytes: upper bound on the sum of payload_bytes() of the entries held.
  explicit EmbeddingLru(uint64_t capacity_bytes);

  // Returns a copy of the entry and marks it most recently used; nullopt when absent.
  std::optional<proto::PromptEmbedding> get(const std::string& prompt);

  // Inserts or replaces the entry (most recently used), then evicts least recently used entries
  // until the bound holds. An entry larger than the whole capacity is not stored (returns false).
  bool put(const std::string& prompt, proto::PromptEmbedding emb);
  // Same, sharing an immutable embedding (no copy; the write-behind queue holds it too).
  bool put(const std::string& prompt, std::shared_ptr<const proto::PromptEmbedding> emb);

  bool contains(const std::string& prompt) const { return index_.count(prompt) != 0; }
  void erase(const std::string& prompt);

  // When the database row of this entry was last touched (last_used_at), for cheap touch batching.
  std::optional<Clock::time_point> db_touched_at(const std::string& prompt) const;
  void set_db_touched_at(const std::string& prompt, Clock::time_point t);

  uint64_t bytes() const { return bytes_; }
  uint64_t capacity_bytes() const { return capacity_; }
  size_t size() const { return index_.size(); }
  uint64_t evictions() const { return evictions_; }
  // Prompts from most to least recently used (for tests and debugging).
  std::list<std::string> keys_mru_first() const;

 private:
  struct Entry {
    std::string prompt;
    std::shared_ptr<const proto::PromptEmbedding> emb;
    uint64_t bytes = 0;
    Clock::time_point db_touched_at{};
  };
  void evict_to_fit();

  uint64_t capacity_;
  uint64_t bytes_ = 0;
  uint64_t evictions_ = 0;
  std::list<Entry> order_;  // front = most recently used
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

}  // namespace ff::worker
