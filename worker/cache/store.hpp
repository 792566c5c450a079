// Database tier of the embedding cache: framefarm.prompt_embeddings over one libpq connection.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/protocol.hpp"


namespace ff::worker {

class PgConnection;
class PgResult;
struct PgParam;

// Outcome of one lookup position: a row (validated), nothing, or a row that failed validation.
struct StoreLookup {
  std::optional<proto::PromptEmbedding> emb;
  std::optional<std::string> invalid;  // set when a row exists but is bad: key and reason
};

// Not thread-safe: EmbeddingCache serialises calls (its mutex, or its writer thread's own store). Every method throws
// std::runtime_error (naming the operation and the database's message) on a database failure;
// the connection is re-opened on the next call after it broke. Every operation is a single
// autocommit statement: one round trip, no BEGIN/COMMIT.
class EmbeddingStore {
 public:
  EmbeddingStore(std::string database_url, std::string encoder_fingerprint, int32_t max_length);
  ~EmbeddingStore();

  // Opens the connection (and prepares the statements) now rather than on first use.
  void connect();

  // One round trip: the rows of `prompts` (result[i] for prompts[i]; duplicates allowed), and a
  // last_used_at refresh of found rows and of `touch_only` rows not refreshed within
  // touch_interval_ms. Bad rows come back with `invalid` set, never as an exception.
  std::vector<StoreLookup> get_many(const std::vector<std::string>& prompts,
                                    const std::vector<std::string>& touch_only,
                                    int64_t touch_interval_ms);

  // Upserts (prompt, embedding) pairs: one round trip per ~256 MiB of payload. Prompts must be
  // distinct and embeddings already validated. Retries a deadlock/serialization failure twice.
  void put_many(const std::vector<const std::string*>& prompts,
                const std::vector<const proto::PromptEmbedding*>& embs);

  // Deletes rows beyond the retention bounds (0 = no bound); returns rows deleted.
  int64_t prune(int64_t max_rows, int64_t max_age_s);

 private:
  PgConnection& conn();
  // Runs a prepared statement, retrying deadlock/serialization failures up to `attempts` times;
  // throws std::runtime_error "embedding cache: <what> failed: <database message>".
  PgResult exec(const char* what, const std::string& name, const std::vector<PgParam>& params,
                bool binary_result, int attempts);

  std::string url_;
  std::string fingerprint_;
  int32_t max_length_;
  std::unique_ptr<PgConnection> conn_;  // libpq: binary bytea results (pg_connection.hpp)
};

}  // namespace ff::worker
