// Settings of the embedding cache: a plain struct; the supervisor's config decoder fills it.
#pragma once

#include <cstdint>
#include <string>

namespace ff::worker {

struct EmbeddingCacheConfig {
  std::string encoder_fingerprint;             // from EngineHello; part of every key (required)
  int32_t max_length = 1024;                   // padded prompt length; part of every key
  uint64_t ram_capacity_bytes = 2ull << 30;    // LRU bound on payload bytes (2 GiB ~ 170 x 12 MiB)
  std::string database_url;                    // libpq URL; empty = RAM tier only
  int64_t retention_max_rows = 0;              // prune() keeps the N most recently used rows; 0 = no bound
  int64_t retention_max_age_s = 0;             // prune() deletes rows unused this long; 0 = no bound
  int64_t touch_interval_ms = 60000;           // last_used_at is refreshed at most this often per row
  int32_t touch_flush_threshold = 256;         // pending RAM-hit touches that force a round trip
  uint64_t write_queue_max_bytes = 1ull << 30; // put() blocks while more payload awaits the writer
  int64_t database_retry_ms = 5000;            // after a failed lookup round trip, lookups skip
                                               // the database (misses) for this long
};

}  // namespace ff::worker
