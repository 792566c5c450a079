// pg: EmbeddingCache against a throwaway PostgreSQL: retention and touch interval, database
// outages and a missing table, write-behind puts, and apply_schema's file order and errors.
// Storage and concurrent writers: test_cache_pg.cpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/worker/cache/cache_pg_support.hpp"

using ff::test::make_embedding;
using ff::worker::EmbeddingCache;
using ff::worker::EmbeddingCacheConfig;
using namespace ff::test::cache_pg;

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
