#include <doctest/doctest.h>

#include <random>

#include "common/protocol.hpp"

using namespace ff::proto;

TEST_CASE("job round-trips through encode/decode") {
  Job j;
  j.job_id = 42;
  j.epoch = 7;
  j.prompt = "a cat in a hat";
  j.params.seed = -3;
  j.params.video_cfg = 4.5;
  j.params.audio_rescale = 0.25;
  auto out = decode(encode(j));
  REQUIRE(std::holds_alternative<Message>(out));
  const auto& m = std::get<Message>(out);
  REQUIRE(std::holds_alternative<Job>(m));
  const auto& g = std::get<Job>(m);
  CHECK(g.job_id == 42);
  CHECK(g.epoch == 7);
  CHECK(g.prompt == "a cat in a hat");
  CHECK(g.params.seed == -3);
  CHECK(g.params.video_cfg == 4.5);
  CHECK(g.params.audio_rescale == 0.25);
  CHECK(g.params.audio_cfg == 7.0);  // untouched members keep their defaults
  CHECK(type_of(m) == MsgType::kJob);
}

TEST_CASE("bad frames are rejected with a reason") {
  CHECK(std::get<DecodeError>(decode("")).what == "empty frame");
  CHECK(std::get<DecodeError>(decode("\xc1")).what.find("msgpack") != std::string::npos);
  std::string frame = encode(Heartbeat{5});
  frame[1] = 9;  // version 9
  CHECK(std::get<DecodeError>(decode(frame)).what.find("version 9") != std::string::npos);
  frame = encode(Heartbeat{5});
  frame[2] = 77;
  CHECK(std::get<DecodeError>(decode(frame)).what == "unknown message type 77");
  frame = encode(Job{});
  CHECK(std::holds_alternative<DecodeError>(decode(frame.substr(0, frame.size() / 2))));
}

TEST_CASE("random garbage and mutated frames never crash the decoder") {
  std::mt19937_64 rng(1234);
  std::vector<std::string> seeds = {encode(Job{}), encode(Result{}), encode(Register{}),
                                    encode(EncodeResult{})};
  size_t decoded = 0;
  for (int i = 0; i < 200000; ++i) {
    std::string f;
    if (i % 2 == 0) {
      f.resize(rng() % 64);
      for (auto& c : f) c = static_cast<char>(rng());
    } else {
      f = seeds[rng() % seeds.size()];
      for (int k = 0, n = 1 + rng() % 4; k < n; ++k) f[rng() % f.size()] = static_cast<char>(rng());
      if (rng() % 3 == 0) f.resize(rng() % (f.size() + 1));
    }
    auto r = decode(f);
    if (std::holds_alternative<Message>(r)) ++decoded;
    else CHECK_FALSE(std::get<DecodeError>(r).what.empty());
  }
  CHECK(decoded > 0);  // mutations of valid frames sometimes stay valid: the decoder accepts them
}
