// Unit tests for worker/engine/io: safetensors round trips, shard indexes, HF Gemma-3 config in
// both transformers dialects, and one test per kind of bad checkpoint input.
#include "tests/worker/engine/doctest_torch.hpp"

#include <fstream>
#include <sstream>

#include "common/json_fields.hpp"
#include "tests/worker/engine/temp_dir.hpp"
#include "worker/engine/io/checkpoint.hpp"
#include "worker/engine/io/gemma_config.hpp"
#include "worker/engine/io/safetensors.hpp"
#include "worker/engine/io/safetensors_writer.hpp"

using namespace ff;
using ff::test::TempDir;

namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A raw safetensors file from a header string and data bytes.
std::string raw_file(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

// The message of the CheckpointError thrown by fn (fails the test when none is thrown).
template <class F>
std::string error_of(F&& fn) {
  try {
    fn();
  } catch (const io::CheckpointError& e) {
    return e.what();
  }
  FAIL("expected a CheckpointError");
  return "";
}

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

std::string small_file(const TempDir& d, const std::string& name = "w.safetensors") {
  at::Tensor a = at::arange(6, at::kFloat).reshape({2, 3});
  at::Tensor b = at::arange(4, at::kFloat).to(at::kBFloat16);
  std::string path = d.file(name);
  io::write_safetensors(path, {{"a", a}, {"b", b}}, {{"config", "{\"x\": 1}"}});
  return path;
}

}  // namespace

TEST_CASE("safetensors round trip: dtypes, shapes, metadata, zero-copy views") {
  TempDir d;
  at::Tensor f32 = at::randn({3, 5});
  at::Tensor bf16 = at::randn({7}).to(at::kBFloat16);
  at::Tensor f16 = at::randn({2, 2, 2}).to(at::kHalf);
  at::Tensor i64 = at::arange(10, at::kLong);
  at::Tensor empty = at::zeros({0, 4});
  std::string path = d.file("rt.safetensors");
  io::write_safetensors(path, {{"f32", f32}, {"bf16", bf16}, {"f16", f16}, {"i64", i64}, {"empty", empty}},
                        {{"config", "{\"a\":[1,2]}"}, {"format", "pt"}});
  auto f = io::SafetensorsFile::open(path);
  REQUIRE(f->tensors().size() == 5);
  CHECK(f->tensors()[0].name == "f32");  // header order kept
  CHECK(f->metadata().at("config") == "{\"a\":[1,2]}");
  CHECK(f->find("bf16")->dtype == "BF16");
  CHECK(at::equal(f->view("f32"), f32));
  CHECK(at::equal(f->view("bf16"), bf16));
  CHECK(at::equal(f->view("f16"), f16));
  CHECK(at::equal(f->view("i64"), i64));
  CHECK(f->view("empty").sizes() == at::IntArrayRef({0, 4}));
  // A view aliases the mapping; it outlives the handle.
  at::Tensor v = f->view("f32");
  CHECK(v.data_ptr() == static_cast<const void*>(f->data(*f->find("f32"))));
  f.reset();
  CHECK(at::equal(v, f32));
  // The data section starts 8-byte aligned.
  std::string bytes = read_all(path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[i]);
  CHECK((8 + n) % 8 == 0);
  // Writing into a view never changes the file.
  v.fill_(42.0f);
  auto again = io::SafetensorsFile::open(path);
  CHECK(at::equal(again->copy("f32"), f32));
}

TEST_CASE("streaming writer checks order and shapes, leaves no partial file on failure") {
  TempDir d;
  std::string path = d.file("s.safetensors");
  {
    io::SafetensorsWriter w(path, {{"x", at::kFloat, {2}}, {"y", at::kBFloat16, {3}}});
    CHECK(w.next_name() == "x");
    CHECK(contains(error_of([&] { w.write(at::zeros({3})); }), "tensor 'x' has shape [3], declared [2]"));
    w.write(at::ones({2}, at::kDouble));  // converted to the declared dtype
    CHECK(contains(error_of([&] { w.finish(); }), "before tensor 'y'"));
  }
  CHECK_FALSE(std::filesystem::exists(path));
  CHECK_FALSE(std::filesystem::exists(path + ".partial"));
  {
    io::SafetensorsWriter w(path, {{"x", at::kFloat, {2}}});
    w.write(at::ones({2}));
    w.finish();
  }
  CHECK(at::equal(io::SafetensorsFile::open(path)->copy("x"), at::ones({2})));
}

TEST_CASE("bad input: missing file") {
  TempDir d;
  std::string msg = error_of([&] { io::SafetensorsFile::open(d.file("nope.safetensors")); });
  CHECK(contains(msg, "nope.safetensors: cannot open"));
}

TEST_CASE("bad input: file shorter than the header length field") {
  TempDir d;
  std::string p = d.write("short.safetensors", "abc");
  CHECK(contains(error_of([&] { io::SafetensorsFile::open(p); }),
                 "short.safetensors: truncated file: 3 bytes, shorter than the 8-byte header length"));
}

TEST_CASE("bad input: header length beyond the end of the file") {
  TempDir d;
  std::string bytes = raw_file("{}", "");
  bytes[0] = 100;  // claims a 100-byte header
  std::string p = d.write("hdr.safetensors", bytes);
  CHECK(contains(error_of([&] { io::SafetensorsFile::open(p); }), "header length 100 exceeds the 2 bytes after it"));
}

TEST_CASE("bad input: truncated data section names the tensor") {
  TempDir d;
  std::string full = read_all(small_file(d));
  std::string p = d.write("trunc.safetensors", full.substr(0, full.size() - 3));
  std::string msg = error_of([&] { io::SafetensorsFile::open(p); });
  CHECK(contains(msg, "trunc.safetensors: truncated file: tensor 'b' needs data bytes up to 32"));
}

TEST_CASE("bad input: header that is not JSON reports the position within the JSON header") {
  TempDir d;
  std::string p = d.write("json.safetensors", raw_file("{\"a\": {\"dtype\": F32}}", ""));
  std::string msg = error_of([&] { io::SafetensorsFile::open(p); });
  CHECK(contains(msg, "json.safetensors: bad header: parse error at line 1, column 17: syntax error while parsing value - invalid literal"));
}

TEST_CASE("bad input: header entries with unknown dtype, bad shape, wrong byte size, overlap") {
  TempDir d;
  auto open_msg = [&](const std::string& header, const std::string& data) {
    std::string p = d.write("h.safetensors", raw_file(header, data));
    return error_of([&] { io::SafetensorsFile::open(p); });
  };
  CHECK(contains(open_msg(R"({"t": {"dtype": "Q4", "shape": [1], "data_offsets": [0, 1]}})", "x"),
                 "tensor 't': unsupported dtype 'Q4'"));
  CHECK(contains(open_msg(R"({"t": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", "xxxx"),
                 "tensor 't': shape entries must be non-negative integers"));
  CHECK(contains(open_msg(R"({"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}})", "xxxx"),
                 "tensor 't': byte size 4 does not match shape [2] x F32"));
  CHECK(contains(open_msg(R"({"t": {"dtype": "F32", "shape": [1]}})", "xxxx"),
                 "tensor 't': 'data_offsets' must be [begin, end]"));
  CHECK(contains(open_msg(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                              "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                          "xxxxxxxx"),
                 "tensors 'a' and 'b' overlap"));
  CHECK(contains(open_msg("[1, 2]", ""), "bad header: expected a JSON object, got array"));
}

TEST_CASE("bad input: missing tensor, wrong shape, wrong dtype name file and tensor") {
  TempDir d;
  std::string path = small_file(d);
  auto ck = io::Checkpoint::open(path);
  CHECK(at::equal(ck.get("a", {2, 3}, at::kFloat), at::arange(6, at::kFloat).reshape({2, 3})));
  CHECK(contains(error_of([&] { ck.get("zzz", {1}); }), "w.safetensors: missing tensor 'zzz'"));
  CHECK(contains(error_of([&] { ck.get("a", {3, 2}); }),
                 "w.safetensors: tensor 'a' has shape [2, 3], expected [3, 2]"));
  CHECK(contains(error_of([&] { ck.get("b", {4}, at::kFloat); }),
                 "w.safetensors: tensor 'b' has dtype BF16, expected F32"));
  CHECK(ck.metadata().at("config") == "{\"x\": 1}");
}

TEST_CASE("sharded checkpoint through model.safetensors.index.json") {
  TempDir d;
  io::write_safetensors(d.file("model-00001-of-00002.safetensors"), {{"a", at::ones({2})}});
  io::write_safetensors(d.file("model-00002-of-00002.safetensors"), {{"b", at::zeros({3})}, {"c", at::ones({1})}});
  d.write("model.safetensors.index.json",
          R"({"metadata": {"total_size": 24}, "weight_map": {"a": "model-00001-of-00002.safetensors",
              "b": "model-00002-of-00002.safetensors", "c": "model-00002-of-00002.safetensors"}})");
  auto ck = io::Checkpoint::open(d.path().string());  // the directory
  CHECK((ck.names() == std::vector<std::string>{"a", "b", "c"}));
  CHECK(ck.files().size() == 2);
  CHECK(at::equal(ck.get("b", {3}), at::zeros({3})));
  CHECK(contains(ck.file_of("c"), "model-00002-of-00002.safetensors"));
}

TEST_CASE("bad input: index naming a shard that does not exist") {
  TempDir d;
  d.write("model.safetensors.index.json", R"({"weight_map": {"a": "model-00001-of-00002.safetensors"}})");
  CHECK(contains(error_of([&] { io::Checkpoint::open(d.path().string()); }),
                 "shard 'model-00001-of-00002.safetensors' (holding tensor 'a') does not exist"));
}

TEST_CASE("bad input: index promising a tensor its shard lacks") {
  TempDir d;
  io::write_safetensors(d.file("s1.safetensors"), {{"a", at::ones({2})}});
  d.write("model.safetensors.index.json", R"({"weight_map": {"a": "s1.safetensors", "q": "s1.safetensors"}})");
  CHECK(contains(error_of([&] { io::Checkpoint::open(d.path().string()); }),
                 "s1.safetensors: missing tensor 'q' (listed in"));
}

TEST_CASE("bad input: header with a duplicate tensor name, invalid UTF-8 or deep nesting") {
  TempDir d;
  const std::string t = R"({"dtype": "F32", "shape": [1], "data_offsets": [0, 4]})";
  std::string p = d.write("dup.safetensors", raw_file("{\"a\": " + t + ", \"a\": " + t + "}", std::string(4, '\0')));
  CHECK(contains(error_of([&] { io::SafetensorsFile::open(p); }), "dup.safetensors: bad header: duplicate key 'a'"));
  p = d.write("utf8.safetensors", raw_file("{\"a\xff\": " + t + "}", std::string(4, '\0')));
  CHECK(contains(error_of([&] { io::SafetensorsFile::open(p); }), "utf8.safetensors: bad header: parse error at line 1, column 4"));
  CHECK(contains(error_of([&] { io::SafetensorsFile::open(p); }), "ill-formed UTF-8 byte"));
  p = d.write("deep.safetensors", raw_file("{\"__metadata__\": " + std::string(300, '[') + std::string(300, ']') + "}", ""));
  CHECK(contains(error_of([&] { io::SafetensorsFile::open(p); }), "deep.safetensors: bad header: nesting deeper than 256 levels"));
}

TEST_CASE("bad input: index that is not valid JSON or lacks weight_map") {
  TempDir d;
  d.write("model.safetensors.index.json", R"({"weight_map": {"a": })");
  CHECK(contains(error_of([&] { io::Checkpoint::open(d.path().string()); }), "bad index: parse error at line 1, column 22: syntax error while parsing value - unexpected '}'"));
  d.write("model.safetensors.index.json", R"({"metadata": {}})");
  CHECK(contains(error_of([&] { io::Checkpoint::open(d.path().string()); }), "bad index: missing object 'weight_map'"));
  d.write("model.safetensors.index.json", R"({"weight_map": {"a": "../etc/passwd"}})");
  CHECK(contains(error_of([&] { io::Checkpoint::open(d.path().string()); }), "must be a plain file name"));
}

TEST_CASE("bad input: directory without a checkpoint") {
  TempDir d;
  CHECK(contains(error_of([&] { io::Checkpoint::open(d.path().string()); }),
                 "holds neither model.safetensors.index.json nor model.safetensors"));
}

// ---------------------------------------------------------------- config.json

namespace {

const char* kConfigV4 = R"({
  "architectures": ["Gemma3ForConditionalGeneration"],
  "model_type": "gemma3",
  "text_config": {
    "model_type": "gemma3_text",
    "hidden_size": 3840, "intermediate_size": 15360, "num_hidden_layers": 48,
    "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 256,
    "query_pre_attn_scalar": 256, "rms_norm_eps": 1e-06, "sliding_window": 1024,
    "sliding_window_pattern": 6, "rope_theta": 1000000.0, "rope_local_base_freq": 10000.0,
    "rope_scaling": {"factor": 8.0, "rope_type": "linear"}, "vocab_size": 262208,
    "attn_logit_softcapping": null, "final_logit_softcapping": null
  },
  "vision_config": {"model_type": "siglip_vision_model"},
  "torch_dtype": "bfloat16"
})";

std::string config_v5() {
  std::string types;
  for (int i = 0; i < 48; ++i) {
    if (i) types += ",";
    types += (i + 1) % 6 == 0 ? "\"full_attention\"" : "\"sliding_attention\"";
  }
  return R"({"model_type": "gemma3_text", "hidden_size": 3840, "intermediate_size": 15360,
    "num_hidden_layers": 48, "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 256,
    "query_pre_attn_scalar": 256, "rms_norm_eps": 1e-06, "sliding_window": 1024, "vocab_size": 262208,
    "dtype": "bfloat16",
    "layer_types": [)" + types + R"(],
    "rope_parameters": {"full_attention": {"rope_type": "linear", "rope_theta": 1000000.0, "factor": 8.0},
                        "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}})";
}

io::GemmaConfig parse(const std::string& text) { return io::parse_gemma_config(json::parse(text, "test"), "config.json"); }

}  // namespace

TEST_CASE("config.json: transformers 4.x and 5.x dialects give the same Gemma-3-12B config") {
  io::GemmaConfig a = parse(kConfigV4);
  io::GemmaConfig b = parse(config_v5());
  for (const io::GemmaConfig* c : {&a, &b}) {
    CHECK(c->hidden_size == 3840);
    CHECK(c->num_hidden_layers == 48);
    CHECK(c->num_attention_heads == 16);
    CHECK(c->num_key_value_heads == 8);
    CHECK(c->head_dim == 256);
    CHECK(c->intermediate_size == 15360);
    CHECK(c->sliding_window == 1024);
    CHECK(c->query_pre_attn_scalar == 256);
    CHECK(c->rope_global.theta == 1e6);
    CHECK(c->rope_global.linear_factor == 8.0);
    CHECK(c->rope_local.theta == 1e4);
    CHECK(c->rope_local.linear_factor == 1.0);
    CHECK(c->torch_dtype == "bfloat16");
    CHECK(c->num_hidden_states() == 49);
  }
  CHECK(a.layer_is_sliding == b.layer_is_sliding);
  CHECK(a.layer_is_sliding[4]);
  CHECK_FALSE(a.layer_is_sliding[5]);
  CHECK_FALSE(a.layer_is_sliding[47]);
  CHECK(a.model_type == "gemma3");
  CHECK(b.model_type == "gemma3_text");
  // Writing the 4.x dialect and reading it back is lossless.
  io::GemmaConfig c = io::parse_gemma_config(io::gemma_config_to_json_v4(a), "x");
  CHECK(c.layer_is_sliding == a.layer_is_sliding);
  CHECK(c.rope_global.linear_factor == 8.0);
  CHECK(io::gemma_config_to_json_v4(a).at("sliding_window_pattern") == 6);
}

TEST_CASE("config.json: defaults follow Gemma3TextConfig") {
  io::GemmaConfig c = parse(R"({"model_type": "gemma3_text"})");
  CHECK(c.hidden_size == 2304);
  CHECK(c.num_hidden_layers == 26);
  CHECK(c.rope_global.theta == 1e6);
  CHECK(c.rope_local.theta == 1e4);
  CHECK(c.sliding_window == 4096);
  CHECK(c.layer_is_sliding.size() == 26);
}

TEST_CASE("bad input: unknown architecture") {
  CHECK(contains(error_of([] { parse(R"({"model_type": "llama", "hidden_size": 8})"); }),
                 "config.json: unknown architecture 'llama' (model_type; supported: gemma3_text, gemma3)"));
  CHECK(contains(error_of([] { parse(R"({"hidden_size": 8})"); }), "config.json: missing 'model_type'"));
  CHECK(contains(error_of([] { parse(R"({"model_type": "gemma3"})"); }), "without an object 'text_config'"));
}

TEST_CASE("bad input: unsupported or inconsistent config values") {
  CHECK(contains(error_of([] { parse(R"({"model_type": "gemma3_text", "rope_scaling": {"rope_type": "yarn", "factor": 2}})"); }),
                 "key 'rope_scaling': unsupported rope_type 'yarn'"));
  CHECK(contains(error_of([] { parse(R"({"model_type": "gemma3_text", "num_attention_heads": 6, "num_key_value_heads": 4})"); }),
                 "must be a multiple of num_key_value_heads"));
  CHECK(contains(error_of([] { parse(R"({"model_type": "gemma3_text", "num_hidden_layers": 2, "layer_types": ["full_attention"]})"); }),
                 "layer_types has 1 entries for 2 layers"));
  CHECK(contains(error_of([] { parse(R"({"model_type": "gemma3_text", "hidden_size": "big"})"); }),
                 "config.json: hidden_size: expected integer, got string"));
  CHECK(contains(error_of([] { parse(R"({"model_type": "gemma3_text", "attn_logit_softcapping": 50.0})"); }),
                 "attention logit softcapping is not supported"));
}

TEST_CASE("bad input: config.json that is not JSON") {
  TempDir d;
  d.write("config.json", "{\"model_type\": \"gemma3_text\",}");
  CHECK(contains(error_of([&] { io::load_gemma_config(d.path().string()); }),
                 "config.json: parse error at line 1, column 30: syntax error while parsing object key - unexpected '}'"));
}
