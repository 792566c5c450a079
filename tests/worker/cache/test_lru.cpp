// unit: the RAM tier's byte bound and eviction order.
#include <doctest/doctest.h>

#include "tests/worker/cache/cache_test_support.hpp"
#include "worker/cache/lru.hpp"

using ff::test::make_embedding;
using ff::worker::EmbeddingLru;
using ff::worker::payload_bytes;

namespace {
// 10 rows x (8 + 4) dims x 2 bytes = 240 payload bytes.
ff::proto::PromptEmbedding emb240(uint32_t seed) { return make_embedding(10, 10, 8, 4, seed); }
}  // namespace

TEST_CASE("payload_bytes counts video and audio tensor bytes") {
  CHECK(payload_bytes(emb240(1)) == 240);
  CHECK(payload_bytes(make_embedding(3, 3, 4096, 2048, 1)) == 3 * (4096 + 2048) * 2);
}

TEST_CASE("LRU stays within its byte bound and evicts least recently used first") {
  EmbeddingLru lru(3 * 240);
  CHECK(lru.put("a", emb240(1)));
  CHECK(lru.put("b", emb240(2)));
  CHECK(lru.put("c", emb240(3)));
  CHECK(lru.bytes() == 720);
  CHECK(lru.size() == 3);
  // Touch "a": now "b" is the least recently used.
  REQUIRE(lru.get("a").has_value());
  CHECK(lru.keys_mru_first() == std::list<std::string>{"a", "c", "b"});
  CHECK(lru.put("d", emb240(4)));
  CHECK(lru.bytes() == 720);
  CHECK_FALSE(lru.contains("b"));
  CHECK(lru.contains("a"));
  CHECK(lru.contains("c"));
  CHECK(lru.contains("d"));
  CHECK(lru.evictions() == 1);
  CHECK(lru.keys_mru_first() == std::list<std::string>{"d", "a", "c"});

  // A bigger entry evicts as many as needed, oldest first.
  CHECK(lru.put("big", make_embedding(20, 20, 8, 4, 5)));  // 480 bytes
  CHECK(lru.bytes() == 720);
  CHECK(lru.keys_mru_first() == std::list<std::string>{"big", "d"});
  CHECK(lru.evictions() == 3);
}

TEST_CASE("LRU returns the stored bytes unchanged") {
  EmbeddingLru lru(1 << 20);
  const auto e = emb240(7);
  lru.put("p", e);
  auto got = lru.get("p");
  REQUIRE(got);
  CHECK(got->video.data == e.video.data);
  CHECK(got->audio.data == e.audio.data);
  CHECK(got->video.shape == e.video.shape);
  CHECK(got->real_tokens == 10);
  CHECK_FALSE(lru.get("q").has_value());
}

TEST_CASE("LRU replacing a key adjusts the byte count, oversized entries are refused") {
  EmbeddingLru lru(500);
  lru.put("a", emb240(1));
  lru.put("a", make_embedding(5, 5, 8, 4, 2));  // 120 bytes
  CHECK(lru.size() == 1);
  CHECK(lru.bytes() == 120);
  CHECK_FALSE(lru.put("huge", make_embedding(30, 30, 8, 4, 3)));  // 720 > 500
  CHECK_FALSE(lru.contains("huge"));
  CHECK(lru.bytes() == 120);
  // Replacing with an oversized value drops the old one too (it is stale).
  CHECK_FALSE(lru.put("a", make_embedding(30, 30, 8, 4, 4)));
  CHECK(lru.size() == 0);
  CHECK(lru.bytes() == 0);
  lru.put("b", emb240(5));
  lru.erase("b");
  CHECK(lru.bytes() == 0);
}

TEST_CASE("LRU with zero capacity stores nothing") {
  EmbeddingLru lru(0);
  CHECK_FALSE(lru.put("a", emb240(1)));
  CHECK(lru.size() == 0);
}
