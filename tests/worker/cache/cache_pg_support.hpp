// Shared by the pg tier's EmbeddingCache tests (test_cache_pg.cpp: storage and concurrency;
// test_cache_pg_ops.cpp: retention, outages, write-behind, schema): a throwaway cluster with the
// project's schema, a thread-safe log sink and the cache config pointed at the cluster.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "tests/worker/cache/cache_test_support.hpp"
#include "tests/support/pg_cluster.hpp"
#include "worker/cache/embedding_cache.hpp"

namespace ff::test::cache_pg {

using ff::worker::EmbeddingCache;
using ff::worker::EmbeddingCacheConfig;

constexpr int32_t kMaxLen = 64;

// A cluster with the project's schema applied.
struct Db {
  ff::test::PgCluster pg;
  Db() { pg.apply_schema(ff::test::source_path("schema")); }
  std::string sql1(const std::string& q) {
    pqxx::connection c(pg.url());
    pqxx::work tx(c);
    auto r = tx.exec(q);
    tx.commit();
    return r.empty() || r[0][0].is_null() ? "" : r[0][0].as<std::string>();
  }
};

struct Logs {
  std::mutex mu;
  std::vector<std::string> lines;
  EmbeddingCache::LogFn fn() {
    return [this](const std::string& l) {
      std::lock_guard lk(mu);
      lines.push_back(l);
    };
  }
  bool contains(const std::string& needle) {
    std::lock_guard lk(mu);
    for (const auto& l : lines)
      if (l.find(needle) != std::string::npos) return true;
    return false;
  }
  std::string all() {
    std::lock_guard lk(mu);
    std::string s;
    for (const auto& l : lines) s += l + "\n";
    return s;
  }
};

inline EmbeddingCacheConfig cfg(const Db& db, const std::string& fp = "fp-pg") {
  EmbeddingCacheConfig c;
  c.encoder_fingerprint = fp;
  c.max_length = kMaxLen;
  c.ram_capacity_bytes = 64 << 20;
  c.database_url = db.pg.url();
  return c;
}

inline bool same(const ff::proto::PromptEmbedding& a, const ff::proto::PromptEmbedding& b) {
  return a.real_tokens == b.real_tokens && a.video.dtype == b.video.dtype &&
         a.audio.dtype == b.audio.dtype && a.video.shape == b.video.shape &&
         a.audio.shape == b.audio.shape && a.video.data == b.video.data &&
         a.audio.data == b.audio.data;
}

}  // namespace ff::test::cache_pg
