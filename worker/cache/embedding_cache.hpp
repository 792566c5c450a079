// Embedding cache of the worker supervisor: an in-process LRU bounded in payload bytes in front
// of the PostgreSQL table framefarm.prompt_embeddings.
//
// Key: (encoder_fingerprint, sha256 of the prompt's UTF-8 bytes as computed by PostgreSQL,
// max_length); fingerprint and max_length come from the config, so calls pass the prompt only.
// Lookups: RAM hit; else database hit (validated, then promoted into RAM); else miss. A row that
// fails validation (dtype, shapes, byte sizes, real_tokens) is a miss, logged with its key, and
// is replaced by the next put of that prompt. A database failure is logged and counted; its
// lookups are misses and its puts stay in RAM: the cache never throws from get/put.
// Writes are write-behind: put() stores in RAM and queues the database upsert for the cache's
// writer thread (its own connection), so a 12 MiB-per-prompt write never stalls the caller's
// event loop; flush() waits for the queue, the destructor drains it.
// Stores what the engine returns: contexts trimmed to the real tokens (rows == real_tokens)
// when the engine found trimming lossless, else all max_length rows; bf16 with shapes.
//
// Thread-safety: every method may be called from any thread (one mutex; lookup, touch and prune
// round trips happen under it, writes on the writer thread outside it). Typical use is the
// supervisor's event-loop thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/protocol.hpp"
#include "worker/cache/config.hpp"
#include "worker/cache/lru.hpp"
#include "worker/cache/stats.hpp"

namespace ff::worker {

class EmbeddingStore;

class EmbeddingCache {
 public:
  // Receives one log line (no trailing newline). Called from the caller's thread or the cache's
  // writer thread, never concurrently.
  using LogFn = std::function<void(const std::string& line)>;

  // Does not connect: the database is opened on first use (or by connect()). Starts the writer
  // thread when database_url is set. Throws std::invalid_argument when encoder_fingerprint is
  // empty, max_length < 1 or a bound is negative. Default log: ff::log::warn.
  explicit EmbeddingCache(EmbeddingCacheConfig config, LogFn log = {});
  // Drains the write queue (database permitting), then stops the writer thread.
  ~EmbeddingCache();
  EmbeddingCache(const EmbeddingCache&) = delete;
  EmbeddingCache& operator=(const EmbeddingCache&) = delete;

  // Opens the database connection now; throws std::runtime_error naming the failure. Optional:
  // for a supervisor that wants to fail at start-up rather than run on the RAM tier alone.
  void connect();

  // Looks one prompt up (RAM, then database). Any thread.
  std::optional<proto::PromptEmbedding> get(const std::string& prompt);

  // Looks many prompts up: result[i] answers prompts[i]; duplicates are fine. All RAM misses go
  // to the database in ONE round trip (which also carries pending last_used_at refreshes).
  std::vector<std::optional<proto::PromptEmbedding>> get_many(const std::vector<std::string>& prompts);

  // Stores one embedding in RAM and queues its database upsert. Returns false (and logs why) when
  // the embedding is not well formed for this cache's max_length; true otherwise (a failed
  // database write is logged and counted in database_errors by the writer thread). Blocks only
  // while more than write_queue_max_bytes are queued. Any thread.
  bool put(const std::string& prompt, const proto::PromptEmbedding& emb);

  // Stores many: prompts[i] -> embs[i] (sizes must match, else std::invalid_argument). Invalid
  // ones are skipped and logged; the rest are written to the database together, in one round
  // trip per 256 MiB. Returns how many were accepted.
  size_t put_many(const std::vector<std::string>& prompts,
                  const std::vector<proto::PromptEmbedding>& embs);

  // Waits until every queued database write has been attempted. Any thread.
  void flush();

  // Sends the pending last_used_at refreshes of RAM hits (at most one per row per
  // touch_interval_ms). Call from a periodic timer (e.g. once a minute). Any thread.
  void flush_touches();

  // Applies the retention setting (retention_max_rows / retention_max_age_s; 0 = no bound) to
  // the whole table (every fingerprint): deletes the least recently used rows beyond it.
  // Returns rows deleted; 0 without a database or bounds; -1 when the database failed (logged).
  int64_t prune();

  // Counters since construction, plus the RAM tier's current size. Any thread.
  EmbeddingCacheStats stats() const;

  const EmbeddingCacheConfig& config() const { return config_; }
  bool has_database() const { return store_ != nullptr; }

 private:
  using Clock = EmbeddingLru::Clock;
  void note_ram_hit_locked(const std::string& prompt, Clock::time_point now);
  std::vector<std::string> take_pending_touches_locked();
  void log_locked(const std::string& line);
  void writer_loop();
  // False while backing off after a failed round trip.
  bool db_usable_locked(Clock::time_point now) const { return store_ && now >= db_retry_at_; }
  void db_failed_locked(const std::exception& e);

  struct PendingWrite {
    std::string prompt;
    std::shared_ptr<const proto::PromptEmbedding> emb;  // shared with the RAM tier
  };

  const EmbeddingCacheConfig config_;
  LogFn log_;
  mutable std::mutex mu_;
  EmbeddingLru lru_;
  std::unique_ptr<EmbeddingStore> store_;  // lookups, touches, prune; null without database_url
  std::set<std::string> pending_touch_;    // RAM-hit prompts whose row needs a refresh
  Clock::time_point db_retry_at_{};        // lookups skip the database until then
  EmbeddingCacheStats stats_;              // guarded by mu_

  // Write-behind queue (guarded by wmu_), drained by writer_ over write_store_.
  std::mutex wmu_;
  std::condition_variable wcv_;
  std::deque<PendingWrite> wqueue_;
  uint64_t wqueue_bytes_ = 0;
  bool writing_ = false;
  bool stopping_ = false;
  std::unique_ptr<EmbeddingStore> write_store_;
  std::thread writer_;
};

}  // namespace ff::worker
