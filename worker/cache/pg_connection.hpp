// Minimal libpq connection for the embedding cache's store: prepared statements with binary
// bytea parameters and BINARY results (libpqxx 6.4 can only fetch text, i.e. hex-escaped bytea:
// twice the bytes on the wire plus a decode pass, for 12 MiB per prompt).
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct pg_conn;
struct pg_result;

namespace ff::worker {

// A failed statement or connection: message names the statement; sqlstate as PostgreSQL sent it
// ("" for connection failures).
struct PgError : std::runtime_error {
  PgError(const std::string& what, std::string sqlstate)
      : std::runtime_error(what), sqlstate(std::move(sqlstate)) {}
  std::string sqlstate;
  // Deadlock or serialization failure: the statement may be retried.
  bool retryable() const { return sqlstate == "40P01" || sqlstate == "40001"; }
};

// One parameter: text (format 0) or binary bytes (format 1, for bytea); nullopt = NULL.
struct PgParam {
  std::optional<std::string_view> value;
  bool binary = false;
};

// A query result; cells are raw bytes (binary format) or text (text format).
class PgResult {
 public:
  explicit PgResult(pg_result* r);
  ~PgResult();
  PgResult(PgResult&&) noexcept;
  PgResult& operator=(PgResult&&) noexcept;
  int rows() const;
  bool is_null(int row, int col) const;
  std::string_view cell(int row, int col) const;
  std::string column_name(int col) const;
  long affected_rows() const;

 private:
  pg_result* r_;
};

// Not thread-safe. Every method throws PgError.
class PgConnection {
 public:
  // Connects (client_encoding UTF8) and prepares `statements` (name, SQL) right away, so that a
  // missing table is reported here.
  PgConnection(const std::string& url, const std::vector<std::pair<std::string, std::string>>& statements);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Runs a prepared statement in one round trip (autocommit); binary_result selects the
  // result format.
  PgResult exec_prepared(const std::string& name, const std::vector<PgParam>& params,
                         bool binary_result);
  // False once the server connection is lost (EmbeddingStore then opens a new one).
  bool ok() const;

 private:
  pg_conn* c_;
};

// Big-endian integer of a binary int4/int8 cell.
int64_t pg_binary_int(std::string_view cell);

}  // namespace ff::worker
