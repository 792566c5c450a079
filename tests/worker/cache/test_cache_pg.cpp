// pg: EmbeddingCache against a throwaway PostgreSQL with the project's schema/*.sql applied:
// storage (bit-exact round trips, the key, corrupt rows repaired) and concurrent writers.
// Retention, outages, write-behind and apply_schema: test_cache_pg_ops.cpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <thread>

#include "tests/worker/cache/cache_pg_support.hpp"

using ff::test::make_embedding;
using ff::worker::EmbeddingCache;
using ff::worker::EmbeddingCacheConfig;
using namespace ff::test::cache_pg;

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
