// unit: EmbeddingCache without a database (RAM tier only): tiers, stats, refusal of bad puts.
#include <doctest/doctest.h>

#include "tests/worker/cache/cache_test_support.hpp"
#include "worker/cache/embedding_cache.hpp"

using ff::test::make_embedding;
using ff::worker::EmbeddingCache;
using ff::worker::EmbeddingCacheConfig;

namespace {
EmbeddingCacheConfig ram_only(uint64_t capacity) {
  EmbeddingCacheConfig c;
  c.encoder_fingerprint = "fp-test";
  c.max_length = 32;
  c.ram_capacity_bytes = capacity;
  return c;
}
}  // namespace

TEST_CASE("RAM-only cache: put then get hits RAM, unknown prompt misses every tier") {
  std::vector<std::string> logs;
  EmbeddingCache cache(ram_only(1 << 20), [&](const std::string& l) { logs.push_back(l); });
  CHECK_FALSE(cache.has_database());
  const auto e = make_embedding(5, 5, 16, 8, 3);
  CHECK(cache.put("a red fox", e));
  auto got = cache.get("a red fox");
  REQUIRE(got);
  CHECK(got->video.data == e.video.data);
  CHECK_FALSE(cache.get("a blue fox"));
  auto many = cache.get_many({"a red fox", "nope", "a red fox"});
  CHECK(many[0].has_value());
  CHECK_FALSE(many[1].has_value());
  CHECK(many[2].has_value());
  const auto s = cache.stats();
  CHECK(s.ram_hits == 3);
  CHECK(s.ram_misses == 2);
  CHECK(s.database_misses == 2);
  CHECK(s.database_hits == 0);
  CHECK(s.puts == 1);
  CHECK(s.ram_bytes == 5 * 24 * 2);
  CHECK(s.ram_entries == 1);
  CHECK(logs.empty());
}

TEST_CASE("a malformed embedding is refused and logged, the cache keeps serving") {
  std::vector<std::string> logs;
  EmbeddingCache cache(ram_only(1 << 20), [&](const std::string& l) { logs.push_back(l); });
  auto bad = make_embedding(5, 5, 16, 8, 3);
  bad.audio.data.resize(3);
  CHECK_FALSE(cache.put("p", bad));
  CHECK_FALSE(cache.get("p"));
  REQUIRE(logs.size() == 1);
  CHECK(logs[0].find("refusing to store the embedding of prompt \"p\": audio: 3 bytes") !=
        std::string::npos);
  CHECK(cache.stats().rejected_puts == 1);
  // put_many stores the good ones and reports how many were accepted.
  CHECK(cache.put_many({"x", "y", "z"}, {make_embedding(2, 2, 16, 8, 1), bad,
                                         make_embedding(3, 32, 16, 8, 2)}) == 2);
  CHECK(cache.get("x"));
  CHECK_FALSE(cache.get("y"));
  CHECK(cache.get("z"));
  CHECK_THROWS_AS(cache.put_many({"a"}, {}), std::invalid_argument);
}

TEST_CASE("RAM tier is bounded in bytes across puts") {
  EmbeddingCache cache(ram_only(1000), [](const std::string&) {});
  for (int i = 0; i < 10; ++i) cache.put("p" + std::to_string(i), make_embedding(4, 4, 16, 8, i));  // 192 B
  const auto s = cache.stats();
  CHECK(s.ram_bytes <= 1000);
  CHECK(s.ram_entries == 5);
  CHECK(s.ram_evictions == 5);
  CHECK(cache.get("p9"));
  CHECK_FALSE(cache.get("p0"));
}

TEST_CASE("config errors are reported at construction") {
  auto c = ram_only(10);
  c.encoder_fingerprint = "";
  CHECK_THROWS_AS(EmbeddingCache{c}, std::invalid_argument);
  c = ram_only(10);
  c.max_length = 0;
  CHECK_THROWS_AS(EmbeddingCache{c}, std::invalid_argument);
  c = ram_only(10);
  CHECK_THROWS_AS(EmbeddingCache{c}.connect(), std::runtime_error);
}
