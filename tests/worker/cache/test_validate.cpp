// unit: embedding validation (array literals and UTF-8 checks: tests/common).
#include <doctest/doctest.h>

#include "tests/worker/cache/cache_test_support.hpp"
#include "worker/cache/validate.hpp"

using ff::test::make_embedding;
using ff::worker::validate_embedding;

TEST_CASE("well-formed embeddings pass: trimmed (rows == real_tokens) and full (rows == max_length)") {
  CHECK_FALSE(validate_embedding(make_embedding(7, 7, 16, 8, 1), 32));
  CHECK_FALSE(validate_embedding(make_embedding(7, 32, 16, 8, 1), 32));
  CHECK_FALSE(validate_embedding(make_embedding(32, 32, 16, 8, 1), 32));
}

TEST_CASE("each malformation is named") {
  auto good = [] { return make_embedding(7, 7, 16, 8, 1); };
  auto why = [](const ff::proto::PromptEmbedding& e) {
    auto r = validate_embedding(e, 32);
    REQUIRE(r.has_value());
    return *r;
  };
  auto e = good();
  e.video.dtype = "f32";
  CHECK(why(e).find("video: dtype 'f32'") != std::string::npos);
  e = good();
  e.audio.shape = {7, 8, 1};
  CHECK(why(e).find("audio: 3-D shape") != std::string::npos);
  e = good();
  e.video.data.pop_back();
  CHECK(why(e).find("video: 223 bytes, expected 7 x 16 x 2 = 224") != std::string::npos);
  e = good();
  e.real_tokens = 0;
  CHECK(why(e).find("real_tokens 0") != std::string::npos);
  e = good();
  e.real_tokens = 33;
  CHECK(why(e).find("real_tokens 33") != std::string::npos);
  e = make_embedding(7, 9, 16, 8, 1);
  CHECK(why(e).find("9 rows, expected real_tokens (7) or max_length (32)") != std::string::npos);
  e = good();
  e.audio = make_embedding(8, 8, 8, 8, 2).audio;
  CHECK(why(e).find("video has 7 rows but audio has 8") != std::string::npos);
  e = good();
  e.video.shape = {7, 0};
  e.video.data.clear();
  CHECK(why(e).find("video: dim 0") != std::string::npos);
  e = good();
  e.video.shape = {7, int64_t(1) << 40};  // would overflow a byte count
  CHECK(why(e).find("out of range") != std::string::npos);
}
