// Unit tests of the tokenizer (LTX-2.3 rules) and of make-model's tokenizer training, with a
// tokenizer trained here from the shipped corpus.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "worker/make_model.hpp"
#include "worker/tokenizer.hpp"

namespace fs = std::filesystem;
using ff::worker::Tokenizer;

namespace {

// One trained model per test process (training takes ~0.2 s).
const std::string& model_path() {
  static const std::string path = [] {
    char tmpl[] = "/tmp/ff-tok-test-XXXXXX";
    const std::string dir = ::mkdtemp(tmpl);
    const std::string p = dir + "/text_encoder/tokenizer.model";
    ff::worker::train_tokenizer(ff::worker::builtin_tokenizer_corpus(), p, ff::worker::kTinyVocabSize);
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(fs::path(model_path()).parent_path().parent_path(), ec);
    });
    return p;
  }();
  return path;
}

}  // namespace

TEST_CASE("trained tokenizer has Gemma's special ids and the tiny vocab size") {
  Tokenizer tok(model_path());
  CHECK(tok.bos_id() == 2);
  CHECK(tok.vocab_size() == ff::worker::kTinyVocabSize);
  CHECK(tok.max_length() == 1024);
}

TEST_CASE("exactly one BOS first, no EOS, real ids only") {
  Tokenizer tok(model_path());
  const auto ids = tok.encode("A red fox runs across a snowy field.");
  REQUIRE(ids.size() > 3);
  CHECK(ids.front() == 2);
  for (size_t i = 1; i < ids.size(); ++i) {
    CHECK(ids[i] != 2);  // no second BOS
    CHECK(ids[i] != 1);  // no EOS
    CHECK(ids[i] != 0);  // no padding: the engine pads
    CHECK(ids[i] < tok.vocab_size());
  }
}

TEST_CASE("the prompt is stripped before encoding") {
  Tokenizer tok(model_path());
  CHECK(tok.encode("  \t a cat sleeps \n") == tok.encode("a cat sleeps"));
  CHECK(ff::worker::strip_prompt("\n\r x y \v\f") == "x y");
  CHECK(ff::worker::strip_prompt("   ").empty());
}

TEST_CASE("an empty or blank prompt is just BOS") {
  Tokenizer tok(model_path());
  CHECK(tok.encode("") == std::vector<int32_t>{2});
  CHECK(tok.encode("   \n") == std::vector<int32_t>{2});
}

TEST_CASE("a prompt is truncated to max_length tokens, BOS included") {
  Tokenizer tok(model_path(), 8);
  std::string long_prompt;
  for (int i = 0; i < 50; ++i) long_prompt += "the quick brown fox jumps over the lazy dog ";
  const auto ids = tok.encode(long_prompt);
  CHECK(ids.size() == 8);
  CHECK(ids.front() == 2);
  Tokenizer full(model_path());
  const auto all = full.encode(long_prompt);
  REQUIRE(all.size() > 8);
  CHECK(std::vector<int32_t>(all.begin(), all.begin() + 8) == ids);
}

TEST_CASE("characters outside the corpus fall back to bytes, never to unknown") {
  Tokenizer tok(model_path());
  const auto ids = tok.encode("日本語のプロンプト 🎬");
  REQUIRE(ids.size() > 1);
  for (size_t i = 1; i < ids.size(); ++i) CHECK(ids[i] != 3);  // <unk>
}

TEST_CASE("encoding is deterministic across instances") {
  Tokenizer a(model_path()), b(model_path());
  const std::string p = "Fireworks burst above the river at 21:30, 2026.";
  CHECK(a.encode(p) == b.encode(p));
}

TEST_CASE("bad tokenizer files get a clear error naming the file") {
  CHECK_THROWS_WITH_AS(Tokenizer("/nonexistent/tokenizer.model"),
                       doctest::Contains("/nonexistent/tokenizer.model"), std::runtime_error);
  char tmpl[] = "/tmp/ff-tok-bad-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  const std::string bad = dir + "/tokenizer.model";
  { std::ofstream(bad) << "this is not a sentencepiece model"; }
  CHECK_THROWS_WITH_AS(Tokenizer{bad}, doctest::Contains(bad.c_str()), std::runtime_error);
  CHECK_THROWS_AS(Tokenizer(model_path(), 0), std::runtime_error);
  fs::remove_all(dir);
}
