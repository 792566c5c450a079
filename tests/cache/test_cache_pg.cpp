// pg: EmbeddingCache against a throwaway PostgreSQL with the project's schema/*.sql applied.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <pqxx/pqxx>

#include "tests/cache/cache_test_support.hpp"
#include "tests/support/pg_cluster.hpp"
#include "worker/cache/embedding_cache.hpp"

using ff::test::make_embedding;
using ff::worker::EmbeddingCache;
using ff::worker::EmbeddingCacheConfig;

namespace {

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

EmbeddingCacheConfig cfg(const Db& db, const std::string& fp = "fp-pg") {
  EmbeddingCacheConfig c;
  c.encoder_fingerprint = fp;
  c.max_length = kMaxLen;
  c.ram_capacity_bytes = 64 << 20;
  c.database_url = db.pg.url();
  return c;
}

bool same(const ff::proto::PromptEmbedding& a, const ff::proto::PromptEmbedding& b) {
  return a.real_tokens == b.real_tokens && a.video.dtype == b.video.dtype &&
         a.audio.dtype == b.audio.dtype && a.video.shape == b.video.shape &&
         a.audio.shape == b.audio.shape && a.video.data == b.video.data &&
         a.audio.data == b.audio.data;
}

}  // namespace

TEST_CASE("database round trip is bit-exact, the key is PostgreSQL's sha256 of the UTF-8 prompt") {
  Db db;
  Logs logs;
  const auto trimmed = make_embedding(9, 9, 64, 32, 1);          // rows == real_tokens
  const auto full = make_embedding(5, kMaxLen, 64, 32, 2);       // all max_length rows
  const std::string tricky = "quote \" backslash \\ comma, {brace} caf\xc3\xa9 \xf0\x9f\x8e\xac";
  {
    EmbeddingCache writer(cfg(db), logs.fn());
    writer.connect();
    CHECK(writer.put("abc", trimmed));
    CHECK(writer.put_many({tricky, "full"}, {trimmed, full}) == 2);
    writer.flush();
    CHECK(writer.stats().database_errors == 0);
  }
  CHECK(db.sql1("SELECT count(*) FROM framefarm.prompt_embeddings") == "3");
  // sha256("abc") as published (FIPS 180-2 example), not recomputed by the test.
  CHECK(db.sql1("SELECT count(*) FROM framefarm.prompt_embeddings WHERE prompt_sha256 = "
                "decode('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', 'hex')") ==
        "1");
  CHECK(db.sql1("SELECT dtype || ' ' || video_shape::text || ' ' || audio_shape::text || ' ' || "
                "max_length || ' ' || encoder_fingerprint FROM framefarm.prompt_embeddings "
                "WHERE prompt_sha256 = sha256(convert_to('full', 'UTF8'))") ==
        "bf16 {64,64} {64,32} 64 fp-pg");

  EmbeddingCache reader(cfg(db), logs.fn());  // empty RAM tier
  auto got = reader.get_many({"abc", tricky, "missing", "full", "abc"});
  REQUIRE(got[0]);
  REQUIRE(got[1]);
  CHECK_FALSE(got[2]);
  REQUIRE(got[3]);
  REQUIRE(got[4]);
  CHECK(same(*got[0], trimmed));
  CHECK(same(*got[1], trimmed));
  CHECK(same(*got[3], full));
  CHECK(same(*got[4], trimmed));
  auto s = reader.stats();
  CHECK(s.ram_misses == 5);
  CHECK(s.database_hits == 4);
  CHECK(s.database_misses == 1);
  // Promoted into RAM: the next lookups do not reach the database.
  CHECK(same(*reader.get("full"), full));
  s = reader.stats();
  CHECK(s.ram_hits == 1);
  CHECK(s.database_hits == 4);
  // Another fingerprint or max_length does not see these rows.
  EmbeddingCache other(cfg(db, "fp-other"), logs.fn());
  CHECK_FALSE(other.get("abc"));
  auto c2 = cfg(db);
  c2.max_length = 128;
  EmbeddingCache longer(c2, logs.fn());
  CHECK_FALSE(longer.get("abc"));
  CHECK(logs.lines.empty());
}

TEST_CASE("a full-size embedding (1024 x 4096 + 1024 x 2048 bf16, 12 MiB) round-trips exactly") {
  Db db;
  auto c = cfg(db);
  c.max_length = 1024;
  const auto big = make_embedding(300, 1024, 4096, 2048, 9);
  {
    EmbeddingCache w(c);
    CHECK(w.put("a long prompt", big));
    w.flush();
    CHECK(w.stats().database_errors == 0);
  }
  EmbeddingCache r(c);
  auto got = r.get("a long prompt");
  REQUIRE(got);
  CHECK(same(*got, big));
  CHECK(r.stats().database_hits == 1);
}

TEST_CASE("corrupt rows (size, shape, dtype, real_tokens) are misses, logged with the key, and repaired by put") {
  Db db;
  Logs logs;
  const auto good = make_embedding(6, 6, 64, 32, 3);
  const std::vector<std::pair<std::string, std::string>> corruptions = {
      {"video = substring(video FROM 1 FOR 10)", "video: 10 bytes, expected 6 x 64 x 2 = 768"},
      {"audio = audio || '\\x00'::bytea", "audio: 385 bytes"},
      {"video_shape = '{6,32}'", "video: 768 bytes, expected 6 x 32 x 2 = 384"},
      {"video_shape = '{1,6,64}'", "video: 3-D shape"},
      {"audio_shape = '{7,32}'", "video has 6 rows but audio has 7"},
      {"dtype = 'f32'", "dtype 'f32'"},
      {"real_tokens = 0", "real_tokens 0 out of range"},
      {"real_tokens = 5", "6 rows, expected real_tokens (5) or max_length (64)"},
      {"video_shape = '[0:1]={6,64}'", "video_shape [0:1]={6,64} is not a 1-D int8 array"},
  };
  int i = 0;
  for (const auto& [set, expect] : corruptions) {
    CAPTURE(set);
    const std::string prompt = "prompt " + std::to_string(i++);
    {
      EmbeddingCache w(cfg(db), logs.fn());
      REQUIRE(w.put(prompt, good));
    }
    db.sql1("UPDATE framefarm.prompt_embeddings SET " + set +
            " WHERE prompt_sha256 = sha256(convert_to('" + prompt + "', 'UTF8'))");
    const std::string sha = db.sql1("SELECT encode(sha256(convert_to('" + prompt + "', 'UTF8')), 'hex')");
    EmbeddingCache r(cfg(db), logs.fn());
    CHECK_FALSE(r.get(prompt));
    const auto s = r.stats();
    CHECK(s.invalid_rows == 1);
    CHECK(s.database_misses == 1);
    CHECK(s.database_errors == 0);
    INFO(logs.all());
    CHECK(logs.contains("invalid row treated as a miss: (encoder_fingerprint=fp-pg, prompt_sha256=" +
                        sha + ", max_length=64): "));
    CHECK(logs.contains(expect));
    // The re-encoded embedding replaces the bad row.
    CHECK(r.put(prompt, good));
    r.flush();
    EmbeddingCache fresh(cfg(db), logs.fn());
    auto got = fresh.get(prompt);
    REQUIRE(got);
    CHECK(same(*got, good));
  }
}

TEST_CASE("concurrent writers of the same keys: no error, no deadlock, one valid row per key") {
  Db db;
  Logs logs;
  constexpr int kPrompts = 12;
  std::vector<std::string> prompts;
  std::vector<ff::proto::PromptEmbedding> embs;
  for (int i = 0; i < kPrompts; ++i) {
    prompts.push_back("shared prompt " + std::to_string(i));
    embs.push_back(make_embedding(4 + i, 4 + i, 64, 32, 100 + i));
  }
  auto writer = [&](bool reversed) {
    EmbeddingCache c(cfg(db), logs.fn());
    auto p = prompts;
    auto e = embs;
    if (reversed) {
      std::reverse(p.begin(), p.end());
      std::reverse(e.begin(), e.end());
    }
    for (int round = 0; round < 4; ++round) {
      c.put_many(p, e);
      for (int i = 0; i < kPrompts; ++i) c.put(p[size_t(i)], e[size_t(i)]);
      c.flush();
    }
    return c.stats();
  };
  ff::worker::EmbeddingCacheStats a, b;
  std::thread t1([&] { a = writer(false); });
  std::thread t2([&] { b = writer(true); });
  t1.join();
  t2.join();
  INFO(logs.all());
  CHECK(a.database_errors == 0);
  CHECK(b.database_errors == 0);
  CHECK(db.sql1("SELECT count(*) FROM framefarm.prompt_embeddings") == std::to_string(kPrompts));
  EmbeddingCache r(cfg(db), logs.fn());
  auto got = r.get_many(prompts);
  for (int i = 0; i < kPrompts; ++i) {
    REQUIRE(got[size_t(i)]);
    CHECK(same(*got[size_t(i)], embs[size_t(i)]));
  }
}

TEST_CASE("a later writer does not overwrite a valid row (first insert wins)") {
  Db db;
  const auto first = make_embedding(3, 3, 64, 32, 1);
  const auto second = make_embedding(3, 3, 64, 32, 2);
  EmbeddingCache a(cfg(db)), b(cfg(db));
  CHECK(a.put("p", first));
  a.flush();
  CHECK(b.put("p", second));
  b.flush();
  CHECK(b.stats().database_errors == 0);
  EmbeddingCache r(cfg(db));
  auto got = r.get("p");
  REQUIRE(got);
  CHECK(same(*got, first));
}

TEST_CASE("retention: prune keeps the most recently used rows, max age, RAM hits refresh recency") {
  Db db;
  Logs logs;
  auto c = cfg(db);
  c.retention_max_rows = 3;
  c.touch_interval_ms = 0;  // every RAM hit is a pending refresh
  EmbeddingCache cache(c, logs.fn());
  for (int i = 0; i < 5; ++i) cache.put("p" + std::to_string(i), make_embedding(2, 2, 64, 32, i));
  cache.flush();
  // Ages: p0 oldest ... p4 newest.
  for (int i = 0; i < 5; ++i)
    db.sql1("UPDATE framefarm.prompt_embeddings SET last_used_at = now() - interval '" +
            std::to_string(10 - i) + " hours' WHERE prompt_sha256 = sha256(convert_to('p" +
            std::to_string(i) + "', 'UTF8'))");
  // p0 is used from RAM: its row must count as recent after the refresh.
  REQUIRE(cache.get("p0"));
  CHECK(cache.prune() == 2);  // keeps p0 (just used), p4, p3
  CHECK(db.sql1("SELECT string_agg(x, ',' ORDER BY x) FROM (SELECT CASE prompt_sha256 "
                "WHEN sha256('p0') THEN 'p0' WHEN sha256('p3') THEN 'p3' WHEN sha256('p4') THEN 'p4' "
                "ELSE 'other' END AS x FROM framefarm.prompt_embeddings) t") == "p0,p3,p4");
  CHECK(cache.stats().pruned_rows == 2);

  // Age bound: rows unused for longer than max age go, whatever the row bound.
  auto c2 = cfg(db);
  c2.retention_max_age_s = 3600;
  EmbeddingCache aged(c2, logs.fn());
  CHECK(aged.prune() == 2);  // p3 (7 h) and p4 (6 h)
  CHECK(db.sql1("SELECT count(*) FROM framefarm.prompt_embeddings") == "1");
  // A database hit refreshes last_used_at in the same round trip.
  db.sql1("UPDATE framefarm.prompt_embeddings SET last_used_at = now() - interval '5 hours'");
  EmbeddingCache reader(cfg(db), logs.fn());
  REQUIRE(reader.get("p0"));
  CHECK(db.sql1("SELECT last_used_at > now() - interval '1 minute' FROM framefarm.prompt_embeddings") == "t");
  CHECK(aged.prune() == 0);
  CHECK(logs.lines.empty());
}

TEST_CASE("rows are refreshed at most once per touch interval") {
  Db db;
  auto c = cfg(db);
  c.touch_interval_ms = 3600 * 1000;
  EmbeddingCache cache(c);
  cache.put("p", make_embedding(2, 2, 64, 32, 1));
  cache.flush();
  db.sql1("UPDATE framefarm.prompt_embeddings SET last_used_at = now() - interval '10 minutes'");
  REQUIRE(cache.get("p"));   // RAM hit: touched at put, not due
  cache.flush_touches();
  CHECK(db.sql1("SELECT last_used_at < now() - interval '9 minutes' FROM framefarm.prompt_embeddings") == "t");
  EmbeddingCache reader(c);
  REQUIRE(reader.get("p"));  // database hit: row is 10 min old < 1 h interval: not rewritten
  CHECK(db.sql1("SELECT last_used_at < now() - interval '9 minutes' FROM framefarm.prompt_embeddings") == "t");
}

TEST_CASE("database down: lookups miss, puts stay in RAM, errors logged, recovers after restart") {
  Db db;
  Logs logs;
  EmbeddingCache cache(cfg(db), logs.fn());
  cache.connect();
  REQUIRE(cache.put("before", make_embedding(2, 2, 64, 32, 1)));
  cache.flush();
  db.pg.stop();
  CHECK_FALSE(cache.get("unknown"));
  CHECK(cache.stats().database_errors == 1);
  // Backing off: the next lookups are misses without another attempt.
  CHECK_FALSE(cache.get("unknown 2"));
  CHECK(cache.stats().database_errors == 1);
  CHECK(cache.stats().database_misses == 2);
  CHECK(logs.contains("(lookups skip the database for 5000 ms)"));
  CHECK(cache.put("during", make_embedding(2, 2, 64, 32, 2)));
  cache.flush();
  CHECK(cache.get("during"));  // RAM tier still serves
  CHECK(cache.stats().database_errors >= 2);
  CHECK(logs.contains("embedding cache: lookup failed"));
  db.pg.start();
  // A fresh connection is opened on the next call.
  CHECK(cache.put("after", make_embedding(2, 2, 64, 32, 3)));
  cache.flush();
  CHECK(cache.stats().database_errors == 2);
  CHECK(logs.contains("embedding cache: upsert failed"));
  CHECK(logs.contains("(1 embeddings kept in RAM only)"));
  EmbeddingCache r(cfg(db), logs.fn());
  CHECK(r.get("after"));
  CHECK(r.get("before"));
  CHECK_FALSE(r.get("during"));  // written while the database was down: RAM only
}

TEST_CASE("a database without the table: connect() names it, lookups log it and miss") {
  ff::test::PgCluster pg;
  EmbeddingCacheConfig c;
  c.encoder_fingerprint = "fp";
  c.database_url = pg.url();
  Logs logs;
  EmbeddingCache cache(c, logs.fn());
  try {
    cache.connect();
    FAIL("connect() succeeded without framefarm.prompt_embeddings");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find("embedding cache: connecting to the database failed") != std::string::npos);
    CHECK(std::string(e.what()).find("prompt_embeddings") != std::string::npos);
  }
  CHECK_FALSE(cache.get("p"));
  CHECK(cache.put("p", make_embedding(2, 2, 64, 32, 1)));
  cache.flush();
  CHECK(cache.get("p"));  // RAM tier
  CHECK(logs.contains("prompt_embeddings\" does not exist"));
  CHECK(cache.stats().database_errors == 2);
}

TEST_CASE("puts are write-behind: a blocked database write does not block put() or RAM hits") {
  Db db;
  EmbeddingCache cache(cfg(db));
  cache.connect();
  pqxx::connection locker(db.pg.url());
  pqxx::work tx(locker);
  tx.exec("LOCK TABLE framefarm.prompt_embeddings IN SHARE MODE");  // blocks every INSERT
  const auto e = make_embedding(3, 3, 64, 32, 1);
  CHECK(cache.put("queued", e));  // returns although its upsert waits for the lock
  auto hit = cache.get("queued");
  REQUIRE(hit);
  CHECK(same(*hit, e));
  CHECK(db.sql1("SELECT count(*) FROM framefarm.prompt_embeddings") == "0");
  tx.commit();  // releases the lock: the writer finishes
  cache.flush();
  CHECK(cache.stats().database_errors == 0);
  EmbeddingCache reader(cfg(db));
  auto got = reader.get("queued");
  REQUIRE(got);
  CHECK(same(*got, e));
}

TEST_CASE("apply_schema: files in name order, each one transaction, a failing file named") {
  ff::test::PgCluster pg;
  const auto dir = std::filesystem::path(pg.dir()) / "schema";
  std::filesystem::create_directories(dir);
  auto write = [&](const char* name, const char* sql) { std::ofstream(dir / name) << sql; };
  write("002_b.sql", "INSERT INTO t VALUES (2);");
  write("001_a.sql", "CREATE TABLE t (x int); INSERT INTO t VALUES (1);");
  write("notes.sql", "this is not SQL and not NNN_-named, so it is skipped;");
  write("003_bad.sql", "INSERT INTO t VALUES (3); SELECT no_such_column FROM t;");
  try {
    pg.apply_schema(dir.string());
    FAIL("apply_schema accepted 003_bad.sql");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find("003_bad.sql failed") != std::string::npos);
    CHECK(std::string(e.what()).find("no_such_column") != std::string::npos);
  }
  // 001 then 002 applied; 003 rolled back as a whole (its INSERT is gone).
  CHECK(pg.psql("SELECT string_agg(x::text, ',' ORDER BY x) FROM t") == "1,2\n");
  CHECK_THROWS_WITH_AS(pg.apply_schema((std::filesystem::path(pg.dir()) / "none").string()),
                       doctest::Contains("none"), std::exception);
}
