// Counters of the embedding cache, cumulative since the cache was constructed.
#pragma once

#include <cstdint>

namespace ff::worker {

struct EmbeddingCacheStats {
  uint64_t ram_hits = 0;          // lookups answered from the in-process LRU
  uint64_t ram_misses = 0;        // lookups the LRU could not answer (went on to the database)
  uint64_t database_hits = 0;     // answered by a valid database row (then promoted into RAM)
  uint64_t database_misses = 0;   // no valid row: the prompt must be encoded
  uint64_t invalid_rows = 0;      // rows that failed validation (counted as database misses too)
  uint64_t database_errors = 0;   // failed round trips (their lookups count as database misses)
  uint64_t puts = 0;              // embeddings stored (RAM; database too when connected)
  uint64_t rejected_puts = 0;     // embeddings refused by validation
  uint64_t ram_evictions = 0;     // LRU entries dropped to stay within the byte bound
  uint64_t ram_bytes = 0;         // payload bytes held in RAM now (a gauge, not cumulative)
  uint64_t ram_entries = 0;       // entries held in RAM now (a gauge)
  uint64_t pruned_rows = 0;       // rows deleted by prune()
};

}  // namespace ff::worker
