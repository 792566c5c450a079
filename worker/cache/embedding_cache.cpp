#include "worker/cache/embedding_cache.hpp"

#include <map>
#include <mutex>
#include <stdexcept>

#include "common/log.hpp"
#include "common/utf8.hpp"
#include "worker/cache/store.hpp"
#include "worker/cache/validate.hpp"

namespace ff::worker {
namespace {

// Prompts in log lines are shortened: a prompt may be 8 KiB.
std::string shorten(const std::string& prompt) {
  constexpr size_t kMax = 60;
  if (prompt.size() <= kMax) return "\"" + prompt + "\"";
  return "\"" + prompt.substr(0, kMax) + "...\" (" + std::to_string(prompt.size()) + " bytes)";
}

}  // namespace

EmbeddingCache::EmbeddingCache(EmbeddingCacheConfig config, LogFn log)
    : config_(std::move(config)), log_(std::move(log)), lru_(config_.ram_capacity_bytes) {
  if (config_.encoder_fingerprint.empty())
    throw std::invalid_argument("embedding cache: encoder_fingerprint is empty");
  if (config_.max_length < 1)
    throw std::invalid_argument("embedding cache: max_length " + std::to_string(config_.max_length) +
                                " < 1");
  if (config_.retention_max_rows < 0 || config_.retention_max_age_s < 0)
    throw std::invalid_argument("embedding cache: retention bounds must be >= 0");
  if (!log_) log_ = [](const std::string& line) { ff::log::warn("worker", line); };
  if (!config_.database_url.empty()) {
    store_ = std::make_unique<EmbeddingStore>(config_.database_url, config_.encoder_fingerprint,
                                              config_.max_length);
    write_store_ = std::make_unique<EmbeddingStore>(config_.database_url,
                                                    config_.encoder_fingerprint, config_.max_length);
    writer_ = std::thread([this] { writer_loop(); });
  }
}

EmbeddingCache::~EmbeddingCache() {
  if (!writer_.joinable()) return;
  {
    std::lock_guard lk(wmu_);
    stopping_ = true;
  }
  wcv_.notify_all();
  writer_.join();
}

void EmbeddingCache::writer_loop() {
  std::unique_lock lk(wmu_);
  for (;;) {
    wcv_.wait(lk, [&] { return stopping_ || !wqueue_.empty(); });
    if (wqueue_.empty()) return;  // stopping, and drained
    std::deque<PendingWrite> batch;
    batch.swap(wqueue_);
    wqueue_bytes_ = 0;
    writing_ = true;
    lk.unlock();
    wcv_.notify_all();  // room for blocked producers
    std::map<std::string, const proto::PromptEmbedding*> distinct;  // last put of a prompt wins
    for (const auto& w : batch) distinct[w.prompt] = w.emb.get();
    std::vector<const std::string*> prompts;
    std::vector<const proto::PromptEmbedding*> embs;
    for (const auto& [p, e] : distinct) {
      prompts.push_back(&p);
      embs.push_back(e);
    }
    try {
      write_store_->put_many(prompts, embs);
    } catch (const std::exception& e) {
      std::lock_guard g(mu_);
      ++stats_.database_errors;
      log_locked(std::string(e.what()) + " (" + std::to_string(prompts.size()) +
                 " embeddings kept in RAM only)");
    }
    lk.lock();
    writing_ = false;
    wcv_.notify_all();
  }
}

void EmbeddingCache::flush() {
  std::unique_lock lk(wmu_);
  wcv_.wait(lk, [&] { return wqueue_.empty() && !writing_; });
}

void EmbeddingCache::log_locked(const std::string& line) { log_("embedding cache: " + line); }

void EmbeddingCache::connect() {
  std::lock_guard lk(mu_);
  if (!store_) throw std::runtime_error("embedding cache: no database_url configured");
  store_->connect();
}

void EmbeddingCache::db_failed_locked(const std::exception& e) {
  ++stats_.database_errors;
  db_retry_at_ = Clock::now() + std::chrono::milliseconds(config_.database_retry_ms);
  log_locked(std::string(e.what()) + " (lookups skip the database for " +
             std::to_string(config_.database_retry_ms) + " ms)");
}

void EmbeddingCache::note_ram_hit_locked(const std::string& prompt, Clock::time_point now) {
  ++stats_.ram_hits;
  if (!store_) return;
  auto last = lru_.db_touched_at(prompt);
  if (last && now - *last >= std::chrono::milliseconds(config_.touch_interval_ms)) {
    pending_touch_.insert(prompt);
    lru_.set_db_touched_at(prompt, now);
  }
}

std::vector<std::string> EmbeddingCache::take_pending_touches_locked() {
  std::vector<std::string> out(pending_touch_.begin(), pending_touch_.end());
  pending_touch_.clear();
  return out;
}

std::optional<proto::PromptEmbedding> EmbeddingCache::get(const std::string& prompt) {
  return std::move(get_many({prompt})[0]);
}

std::vector<std::optional<proto::PromptEmbedding>> EmbeddingCache::get_many(
    const std::vector<std::string>& prompts) {
  std::lock_guard lk(mu_);
  const auto now = Clock::now();
  std::vector<std::optional<proto::PromptEmbedding>> out(prompts.size());
  // RAM tier; the misses are grouped by distinct prompt for the database.
  std::map<std::string, std::vector<size_t>> missing;
  for (size_t i = 0; i < prompts.size(); ++i) {
    if (auto hit = lru_.get(prompts[i])) {
      out[i] = std::move(hit);
      note_ram_hit_locked(prompts[i], now);
    } else {
      ++stats_.ram_misses;
      missing[prompts[i]].push_back(i);
    }
  }
  const bool flush = pending_touch_.size() >= size_t(std::max(1, config_.touch_flush_threshold));
  if (!db_usable_locked(now) || (missing.empty() && !flush)) {
    for (const auto& [p, idx] : missing) stats_.database_misses += idx.size();
    return out;
  }
  // Database tier, one round trip. Prompts PostgreSQL cannot hash as text are misses.
  std::vector<std::string> ask;
  for (const auto& [p, idx] : missing) {
    if (utf8::is_text(p)) {
      ask.push_back(p);
    } else {
      log_locked("prompt " + shorten(p) + " is not valid UTF-8 text; not looked up");
      stats_.database_misses += idx.size();
    }
  }
  std::vector<std::string> touch = take_pending_touches_locked();
  std::vector<StoreLookup> found;
  try {
    found = store_->get_many(ask, touch, config_.touch_interval_ms);
  } catch (const std::exception& e) {
    db_failed_locked(e);
    for (const auto& p : ask) stats_.database_misses += missing[p].size();
    pending_touch_.insert(touch.begin(), touch.end());  // retried with the next round trip
    return out;
  }
  for (size_t k = 0; k < ask.size(); ++k) {
    const auto& idx = missing[ask[k]];
    StoreLookup& f = found[k];
    if (f.invalid) {
      ++stats_.invalid_rows;
      log_locked("invalid row treated as a miss: " + *f.invalid);
    }
    if (!f.emb) {
      stats_.database_misses += idx.size();
      continue;
    }
    stats_.database_hits += idx.size();
    for (size_t i : idx) out[i] = *f.emb;
    if (lru_.put(ask[k], std::move(*f.emb))) lru_.set_db_touched_at(ask[k], now);
  }
  return out;
}

bool EmbeddingCache::put(const std::string& prompt, const proto::PromptEmbedding& emb) {
  return put_many({prompt}, {emb}) == 1;
}

size_t EmbeddingCache::put_many(const std::vector<std::string>& prompts,
                                const std::vector<proto::PromptEmbedding>& embs) {
  if (prompts.size() != embs.size())
    throw std::invalid_argument("embedding cache: put_many got " + std::to_string(prompts.size()) +
                                " prompts and " + std::to_string(embs.size()) + " embeddings");
  std::vector<PendingWrite> writes;
  size_t valid = 0;
  {
    std::lock_guard lk(mu_);
    const auto now = Clock::now();
    for (size_t i = 0; i < prompts.size(); ++i) {
      if (auto why = validate_embedding(embs[i], config_.max_length)) {
        ++stats_.rejected_puts;
        log_locked("refusing to store the embedding of prompt " + shorten(prompts[i]) + ": " + *why);
        continue;
      }
      ++valid;
      ++stats_.puts;
      auto shared = std::make_shared<const proto::PromptEmbedding>(embs[i]);  // the one copy
      lru_.put(prompts[i], shared);
      pending_touch_.erase(prompts[i]);
      if (!store_) continue;
      if (!utf8::is_text(prompts[i])) {
        log_locked("prompt " + shorten(prompts[i]) + " is not valid UTF-8 text; kept in RAM only");
        continue;
      }
      lru_.set_db_touched_at(prompts[i], now);  // the upsert sets last_used_at
      writes.push_back(PendingWrite{prompts[i], std::move(shared)});
    }
  }
  if (!writes.empty()) {
    std::unique_lock lk(wmu_);
    // Backpressure: wait while the writer is behind by more than the bound.
    wcv_.wait(lk, [&] { return wqueue_bytes_ <= config_.write_queue_max_bytes; });
    for (auto& w : writes) {
      wqueue_bytes_ += payload_bytes(*w.emb);
      wqueue_.push_back(std::move(w));
    }
    lk.unlock();
    wcv_.notify_all();
  }
  return valid;
}

void EmbeddingCache::flush_touches() {
  std::lock_guard lk(mu_);
  if (!db_usable_locked(Clock::now()) || pending_touch_.empty()) return;
  std::vector<std::string> touch = take_pending_touches_locked();
  try {
    store_->get_many({}, touch, config_.touch_interval_ms);
  } catch (const std::exception& e) {
    db_failed_locked(e);
    pending_touch_.insert(touch.begin(), touch.end());
  }
}

int64_t EmbeddingCache::prune() {
  std::lock_guard lk(mu_);
  if (!store_ || (config_.retention_max_rows == 0 && config_.retention_max_age_s == 0)) return 0;
  if (!db_usable_locked(Clock::now())) return -1;
  // Refresh what RAM hits used first, so that retention sees the true recency.
  std::vector<std::string> touch = take_pending_touches_locked();
  try {
    if (!touch.empty()) store_->get_many({}, touch, config_.touch_interval_ms);
    const int64_t n = store_->prune(config_.retention_max_rows, config_.retention_max_age_s);
    stats_.pruned_rows += uint64_t(n);
    return n;
  } catch (const std::exception& e) {
    db_failed_locked(e);
    pending_touch_.insert(touch.begin(), touch.end());
    return -1;
  }
}

EmbeddingCacheStats EmbeddingCache::stats() const {
  std::lock_guard lk(mu_);
  EmbeddingCacheStats s = stats_;
  s.ram_bytes = lru_.bytes();
  s.ram_entries = lru_.size();
  s.ram_evictions = lru_.evictions();
  return s;
}

}  // namespace ff::worker
