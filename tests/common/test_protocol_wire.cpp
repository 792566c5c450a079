// unit: the wire bytes of every message type are pinned. Each sample sets every field away from
// its default (nested structs, maps, vectors, enums); encode() must produce exactly the bytes the
// protocol produced when the structs carried MSGPACK_DEFINE_MAP (recorded from that code), and
// decode() of those bytes must give the sample back (re-encoding it gives the same bytes).
// A failure here means the wire format changed: peers of another build would misread it.
#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "common/protocol.hpp"

using namespace ff::proto;

namespace {

// One message of every type with every field set away from its default (nested structs, maps,
// vectors and enums included), so that a change of any key, order or encoding shows.
std::vector<std::pair<std::string, Message>> wire_samples() {
  JobParams p;
  p.width = 768; p.height = 512; p.num_frames = 33; p.frame_rate = 25; p.num_inference_steps = 8;
  p.seed = -42; p.video_cfg = 2.5; p.video_stg = 0.5; p.video_modality = 1.5; p.video_rescale = 0.25;
  p.audio_cfg = 6.0; p.audio_stg = 0.75; p.audio_modality = 2.0; p.audio_rescale = 0.0;
  p.crf = 23; p.preset = "fast"; p.audio = false;
  TensorBlob blob{"bf16", {2, 3}, std::string("\x00\x01\xff\x80", 4)};
  PromptEmbedding emb{7, blob, TensorBlob{"f32", {1}, "abcd"}};
  MediaInfo media{"/o/1.mp4", "/o/1.png", 1.375, 33, 24.0, 768, 512, 48000, 2, 123456789};
  ComponentStats cs{"auto:3/8", 1ll << 33, 5, 6, 7, 0.5, 0.125, 3, 8};
  std::vector<std::pair<std::string, Message>> v;
  v.emplace_back("register", Register{"node/cuda:0", "NVIDIA H200", 1ll << 37, 1ll << 36, "ltx-2.3", 2, 4,
                                      {"text", "stage1"}, "fp:abc", {HeldLease{11, 3, true}, HeldLease{12, 1, false}}});
  v.emplace_back("welcome", Welcome{250, 5});
  v.emplace_back("credit", Credit{3});
  v.emplace_back("heartbeat", Heartbeat{1700000000123});
  v.emplace_back("job", Job{99, 4, 2, "a fox", "blurry", "ltx-2.3", p, true, 17, 1700000000123456});
  v.emplace_back("progress", Progress{99, 4, "stage1", 3, 8});
  v.emplace_back("result", Result{99, 4, true, "/o/99.mp4", {{"encode", 0.5}, {"stage1", 12.25}},
                                  {{"transformer", 1ll << 34}}, ErrorKind::kVramBudget, "too big", media});
  v.emplace_back("cancel", Cancel{99, 4});
  v.emplace_back("hand_back", HandBack{98, 2});
  v.emplace_back("goodbye", Goodbye{"SIGTERM"});
  v.emplace_back("reregister", Reregister{"restarted"});
  v.emplace_back("engine_hello", EngineHello{1234, "cuda:0", "NVIDIA H200", 1ll << 37, 1ll << 36, "fp:abc", 8,
                                             {"vae"}});
  v.emplace_back("encode_request", EncodeRequest{5, 256, {PromptTokens{{2, 10, 11}}, PromptTokens{{2}}}});
  v.emplace_back("encode_result", EncodeResult{5, false, {emb}, ErrorKind::kOutOfMemory, "oom"});
  v.emplace_back("generate_request", GenerateRequest{99, p, emb, PromptEmbedding{}, "/out", "/run/clips/99.clip"});
  v.emplace_back("generate_progress", GenerateProgress{99, "decode", 1, 2});
  v.emplace_back("generate_result", GenerateResult{99, true, "/v.y4m", "/p.png", {{"decode", 1.5}},
                                                   {{"vae", 1024}}, ErrorKind::kEngineCrash, "x", "/run/clips/99.clip"});
  v.emplace_back("engine_cancel", EngineCancel{99});
  v.emplace_back("engine_stats", EngineStats{1, 2, 3, 4, {{"transformer", cs}, {"vae", ComponentStats{}}}});
  v.emplace_back("shutdown", Shutdown{"bye"});
  return v;
}

// Hex of encode(sample), recorded from the MSGPACK_DEFINE_MAP structs.
const std::vector<std::pair<std::string, std::string>> kGolden = {
    {"register",
     "9301018aa9776f726b65725f6964ab6e6f64652f637564613a30a86770755f6e616d65ab4e56494449412048"
     "323030b07672616d5f746f74616c5f6279746573cf0000002000000000b17672616d5f6275646765745f6279"
     "746573cf0000001000000000a56d6f64656ca76c74782d322e33aa667265655f736c6f747302b06d61785f65"
     "6e636f64655f626174636804b3636f6d706f6e656e74735f7265736964656e7492a474657874a67374616765"
     "31b3656e636f6465725f66696e6765727072696e74a666703a616263a468656c649283a66a6f625f69640ba5"
     "65706f636803a773746172746564c383a66a6f625f69640ca565706f636801a773746172746564c2"},
    {"welcome",
     "93010282b56865617274626561745f696e74657276616c5f6d73ccfab56865617274626561745f6d69737365"
     "735f6465616405"},
    {"credit",
     "93010381a5736c6f747303"},
    {"heartbeat",
     "93010481ac73656e745f756e69785f6d73cf0000018bcfe5687b"},
    {"job",
     "9301058aa66a6f625f696463a565706f636804a7617474656d707402a670726f6d7074a56120666f78af6e65"
     "6761746976655f70726f6d7074a6626c75727279a56d6f64656ca76c74782d322e33a6706172616d73de0011"
     "a57769647468cd0300a6686569676874cd0200aa6e756d5f6672616d657321aa6672616d655f7261746519b3"
     "6e756d5f696e666572656e63655f737465707308a473656564d0d6a9766964656f5f636667cb400400000000"
     "0000a9766964656f5f737467cb3fe0000000000000ae766964656f5f6d6f64616c697479cb3ff80000000000"
     "00ad766964656f5f72657363616c65cb3fd0000000000000a9617564696f5f63666706a9617564696f5f7374"
     "67cb3fe8000000000000ae617564696f5f6d6f64616c69747902ad617564696f5f72657363616c6500a36372"
     "6617a6707265736574a466617374a5617564696fc2b0656d62656464696e675f636163686564c3ac656e636f"
     "64655f67726f757011b0656e7175657565645f756e69785f7573cf00060a2418202240"},
    {"progress",
     "93010685a66a6f625f696463a565706f636804a57068617365a6737461676531a47374657003ab746f74616c"
     "5f737465707308"},
    {"result",
     "93010789a66a6f625f696463a565706f636804a26f6bc3ab6f75747075745f70617468a92f6f2f39392e6d70"
     "34a974696d696e67735f7382a6656e636f6465cb3fe0000000000000a6737461676531cb4028800000000000"
     "af7065616b5f7672616d5f627974657381ab7472616e73666f726d6572cf0000000400000000aa6572726f72"
     "5f6b696e6403ad6572726f725f6d657373616765a7746f6f20626967a56d656469618aa86d70345f70617468"
     "a82f6f2f312e6d7034ab706f737465725f70617468a82f6f2f312e706e67aa6475726174696f6e5f73cb3ff6"
     "000000000000a66672616d657321a366707318a57769647468cd0300a6686569676874cd0200b1617564696f"
     "5f73616d706c655f72617465cdbb80ae617564696f5f6368616e6e656c7302a56279746573ce075bcd15"},
    {"cancel",
     "93010882a66a6f625f696463a565706f636804"},
    {"hand_back",
     "93010982a66a6f625f696462a565706f636802"},
    {"goodbye",
     "93010a81a6726561736f6ea75349475445524d"},
    {"reregister",
     "93010b81a6726561736f6ea9726573746172746564"},
    {"engine_hello",
     "93012088a3706964cd04d2a6646576696365a6637564613a30a86770755f6e616d65ab4e5649444941204832"
     "3030b07672616d5f746f74616c5f6279746573cf0000002000000000b17672616d5f6275646765745f627974"
     "6573cf0000001000000000b3656e636f6465725f66696e6765727072696e74a666703a616263b06d61785f65"
     "6e636f64655f626174636808b3636f6d706f6e656e74735f7265736964656e7491a3766165"},
    {"encode_request",
     "93012183aa726571756573745f696405aa6d61785f6c656e677468cd0100a770726f6d7074739281a3696473"
     "93020a0b81a36964739102"},
    {"encode_result",
     "93012285aa726571756573745f696405a26f6bc2aa656d62656464696e67739183ab7265616c5f746f6b656e"
     "7307a5766964656f83a56474797065a462663136a57368617065920203a464617461a40001ff80a561756469"
     "6f83a56474797065a3663332a573686170659101a464617461a461626364aa6572726f725f6b696e6402ad65"
     "72726f725f6d657373616765a36f6f6d"},
    {"generate_request",
     "93012386a66a6f625f696463a6706172616d73de0011a57769647468cd0300a6686569676874cd0200aa6e75"
     "6d5f6672616d657321aa6672616d655f7261746519b36e756d5f696e666572656e63655f737465707308a473"
     "656564d0d6a9766964656f5f636667cb4004000000000000a9766964656f5f737467cb3fe0000000000000ae"
     "766964656f5f6d6f64616c697479cb3ff8000000000000ad766964656f5f72657363616c65cb3fd000000000"
     "0000a9617564696f5f63666706a9617564696f5f737467cb3fe8000000000000ae617564696f5f6d6f64616c"
     "69747902ad617564696f5f72657363616c6500a363726617a6707265736574a466617374a5617564696fc2a8"
     "706f73697469766583ab7265616c5f746f6b656e7307a5766964656f83a56474797065a462663136a5736861"
     "7065920203a464617461a40001ff80a5617564696f83a56474797065a3663332a573686170659101a4646174"
     "61a461626364a86e6567617469766583ab7265616c5f746f6b656e7300a5766964656f83a56474797065a0a5"
     "736861706590a464617461a0a5617564696f83a56474797065a0a5736861706590a464617461a0aa6f757470"
     "75745f646972a42f6f7574a9636c69705f70617468b22f72756e2f636c6970732f39392e636c6970"},
    {"generate_progress",
     "93012484a66a6f625f696463a57068617365a66465636f6465a47374657001ab746f74616c5f737465707302"},
    {"generate_result",
     "93012589a66a6f625f696463a26f6bc3aa766964656f5f70617468a62f762e79346dac707265766965775f70"
     "617468a62f702e706e67a974696d696e67735f7381a66465636f6465cb3ff8000000000000af7065616b5f76"
     "72616d5f627974657381a3766165cd0400aa6572726f725f6b696e6404ad6572726f725f6d657373616765a1"
     "78a9636c69705f70617468b22f72756e2f636c6970732f39392e636c6970"},
    {"engine_cancel",
     "93012681a66a6f625f696463"},
    {"engine_stats",
     "93012785ae6770755f757365645f627974657301af6770755f746f74616c5f627974657302b17672616d5f62"
     "75646765745f627974657303b26f6f6d735f61766f696465645f746f74616c04aa636f6d706f6e656e747382"
     "ab7472616e73666f726d657289a9706c6163656d656e74a86175746f3a332f38af7065616b5f7672616d5f62"
     "79746573cf0000000200000000ae7265736964656e745f627974657305b170696e6e65645f686f73745f6279"
     "74657306b473747265616d65645f62797465735f746f74616c07b473747265616d5f7365636f6e64735f746f"
     "74616ccb3fe0000000000000b37374616c6c5f7365636f6e64735f746f74616ccb3fc0000000000000af7265"
     "736964656e745f626c6f636b7303ac746f74616c5f626c6f636b7308a376616589a9706c6163656d656e74a0"
     "af7065616b5f7672616d5f627974657300ae7265736964656e745f627974657300b170696e6e65645f686f73"
     "745f627974657300b473747265616d65645f62797465735f746f74616c00b473747265616d5f7365636f6e64"
     "735f746f74616c00b37374616c6c5f7365636f6e64735f746f74616c00af7265736964656e745f626c6f636b"
     "7300ac746f74616c5f626c6f636b7300"},
    {"shutdown",
     "93012881a6726561736f6ea3627965"},
};

std::string hex(const std::string& bytes) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}

std::string unhex(const std::string& h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) out += static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16));
  return out;
}

}  // namespace

TEST_CASE("every message type encodes to its recorded bytes") {
  const auto samples = wire_samples();
  REQUIRE(samples.size() == kGolden.size());
  REQUIRE(samples.size() == std::variant_size_v<Message>);
  for (size_t i = 0; i < samples.size(); ++i) {
    CAPTURE(samples[i].first);
    CHECK(samples[i].first == kGolden[i].first);
    CHECK(samples[i].first == type_name(type_of(samples[i].second)));
    CHECK(hex(encode(samples[i].second)) == kGolden[i].second);
  }
}

TEST_CASE("the recorded bytes decode to the samples") {
  const auto samples = wire_samples();
  for (size_t i = 0; i < kGolden.size(); ++i) {
    CAPTURE(kGolden[i].first);
    auto decoded = decode(unhex(kGolden[i].second));
    REQUIRE(std::holds_alternative<Message>(decoded));
    const Message& m = std::get<Message>(decoded);
    CHECK(type_of(m) == type_of(samples[i].second));
    CHECK(hex(encode(m)) == kGolden[i].second);
  }
}

TEST_CASE("decoded fields hold the sample's values") {
  const auto samples = wire_samples();
  auto job = std::get<Job>(std::get<Message>(decode(unhex(kGolden[4].second))));
  CHECK(job.job_id == 99);
  CHECK(job.prompt == "a fox");
  CHECK(job.params.width == 768);
  CHECK(job.params.seed == -42);
  CHECK(job.params.video_rescale == 0.25);
  CHECK(job.params.preset == "fast");
  CHECK(job.params.audio == false);
  CHECK(job.enqueued_unix_us == 1700000000123456);
  auto res = std::get<Result>(std::get<Message>(decode(unhex(kGolden[6].second))));
  CHECK(res.error_kind == ErrorKind::kVramBudget);
  CHECK(res.timings_s.at("stage1") == 12.25);
  CHECK(res.media.bytes == 123456789);
  CHECK(res.media.audio_channels == 2);
  auto enc = std::get<EncodeResult>(std::get<Message>(decode(unhex(kGolden[13].second))));
  REQUIRE(enc.embeddings.size() == 1);
  CHECK(enc.embeddings[0].video.data == std::string("\x00\x01\xff\x80", 4));
  CHECK(enc.embeddings[0].video.shape == std::vector<int64_t>{2, 3});
  auto reg = std::get<Register>(std::get<Message>(decode(unhex(kGolden[0].second))));
  REQUIRE(reg.held.size() == 2);
  CHECK(reg.held[0].started == true);
  CHECK(reg.held[1].job_id == 12);
}
