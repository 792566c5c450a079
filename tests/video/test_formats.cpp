// Unit tests of the torch-free video formats: Y4M and PNG writers, checksum helpers, and the
// transformer/decoder/sampler config decoders.
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <fstream>
#include <sstream>
#include <unistd.h>

#ifdef FF_HAVE_ZLIB
#include <zlib.h>
#endif

#include "common/json.hpp"
#include "tests/video/png_check.hpp"
#include "tests/video/y4m_reader.hpp"
#include "worker/engine/video/decoder_config.hpp"
#include "worker/engine/video/png_writer.hpp"
#include "worker/engine/video/sampler_config.hpp"
#include "worker/engine/video/transformer_config.hpp"
#include "worker/engine/video/y4m_writer.hpp"

namespace fs = std::filesystem;
using namespace ff;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("ff_video_test_" + std::to_string(::getpid()) + "_" +
                                        std::to_string(reinterpret_cast<uintptr_t>(this)));
    fs::create_directories(path);
  }
  ~TempDir() { std::error_code ec; fs::remove_all(path, ec); }
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

video::RgbVideo solid_video(int w, int h, int frames, uint8_t r, uint8_t g, uint8_t b) {
  video::RgbVideo v;
  v.width = w;
  v.height = h;
  v.frames = frames;
  v.fps = 24;
  for (int i = 0; i < w * h * frames; ++i) v.rgb.insert(v.rgb.end(), {r, g, b});
  return v;
}

std::string expect_invalid(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  FAIL("expected std::invalid_argument");
  return "";
}

}  // namespace

TEST_CASE("y4m: header fields, frame markers and frame count parse back") {
  TempDir tmp;
  auto v = solid_video(6, 4, 3, 255, 255, 255);
  // Frame 1 black, so frames differ.
  std::fill(v.rgb.begin() + 6 * 4 * 3, v.rgb.begin() + 2 * 6 * 4 * 3, uint8_t(0));
  v.fps = 25;
  const auto path = (tmp.path / "sub" / "7.y4m").string();
  video::write_y4m(v, path);
  const std::string bytes = slurp(path);
  CHECK(bytes.rfind("YUV4MPEG2 W6 H4 F25:1 Ip A1:1 C420jpeg\n", 0) == 0);
  auto info = test::parse_y4m(bytes);
  CHECK(info.width == 6);
  CHECK(info.height == 4);
  CHECK(info.fps_num == 25);
  CHECK(info.fps_den == 1);
  CHECK(info.interlace == 'p');
  CHECK(info.frames == 3);
  // Exactly header + 3 x (FRAME\n + 24 + 2*6) bytes.
  CHECK(bytes.size() == std::string("YUV4MPEG2 W6 H4 F25:1 Ip A1:1 C420jpeg\n").size() + 3 * (6 + 24 + 12));
  // BT.601 limited range: white -> Y 235, black -> Y 16.
  CHECK(uint8_t(info.frame_y[0][0]) == 235);
  CHECK(uint8_t(info.frame_y[1][5]) == 16);
  CHECK_FALSE(fs::exists(path + ".tmp"));
}

TEST_CASE("y4m: odd sizes use rounded-up chroma planes") {
  TempDir tmp;
  auto v = solid_video(5, 3, 2, 10, 200, 30);
  const auto path = (tmp.path / "odd.y4m").string();
  video::write_y4m(v, path);
  auto info = test::read_y4m(path);
  CHECK(info.frames == 2);
  CHECK(slurp(path).size() == std::string("YUV4MPEG2 W5 H3 F24:1 Ip A1:1 C420jpeg\n").size() + 2 * (6 + 15 + 2 * 6));
}

TEST_CASE("y4m: inconsistent input is rejected, unwritable path names the path") {
  TempDir tmp;
  auto v = solid_video(4, 4, 2, 0, 0, 0);
  v.rgb.pop_back();
  CHECK_THROWS_AS(video::write_y4m(v, (tmp.path / "x.y4m").string()), std::invalid_argument);
  auto ok = solid_video(4, 4, 1, 0, 0, 0);
  std::ofstream(tmp.path / "file") << "x";
  try {
    video::write_y4m(ok, (tmp.path / "file" / "x.y4m").string());
    FAIL("expected a failure");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find((tmp.path / "file").string()) != std::string::npos);
  }
}

TEST_CASE("png: checksums match their standard check values") {
  const std::string s = "123456789";
  CHECK(video::crc32(reinterpret_cast<const uint8_t*>(s.data()), s.size()) == 0xCBF43926u);
  const std::string w = "Wikipedia";
  CHECK(video::adler32(reinterpret_cast<const uint8_t*>(w.data()), w.size()) == 0x11E60398u);
}

TEST_CASE("png: signature, IHDR, chunk CRCs and pixel data are valid") {
  const int w = 7, h = 5;
  std::vector<uint8_t> rgb(w * h * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = uint8_t(i * 37);
  const std::string png = video::encode_png_rgb(rgb.data(), w, h);
  auto info = test::check_png(png);
  CHECK(info.width == 7);
  CHECK(info.height == 5);
  CHECK(info.bit_depth == 8);
  CHECK(info.color_type == 2);
  CHECK(info.interlace == 0);
  CHECK(info.chunk_types == std::vector<std::string>{"IHDR", "IDAT", "IEND"});
#ifdef FF_HAVE_ZLIB
  std::vector<uint8_t> raw((w * 3 + 1) * h);
  uLongf n = raw.size();
  REQUIRE(uncompress(raw.data(), &n, reinterpret_cast<const Bytef*>(info.idat.data()), info.idat.size()) == Z_OK);
  REQUIRE(n == raw.size());
  for (int y = 0; y < h; ++y) {
    CHECK(raw[y * (w * 3 + 1)] == 0);  // filter None
    CHECK(std::equal(rgb.begin() + y * w * 3, rgb.begin() + (y + 1) * w * 3, raw.begin() + y * (w * 3 + 1) + 1));
  }
#endif
  TempDir tmp;
  const auto path = (tmp.path / "f.png").string();
  video::write_png_rgb(rgb.data(), w, h, path);
  CHECK(slurp(path) == png);
}

TEST_CASE("transformer config: required keys, types and constraints are named in errors") {
  auto good = json::parse(R"({"in_channels": 8, "num_layers": 2, "num_attention_heads": 2,
    "attention_head_dim": 16, "ffn_dim": 64, "cross_attention_dim": 32,
    "connector_num_layers": 8, "positional_embedding_max_pos": [8, 64, 64]})");
  auto c = video::transformer_config_from_json(good, "cfg");
  CHECK(c.inner_dim() == 32);
  CHECK(c.patch_dim() == 8);
  CHECK(c.positional_embedding_max_pos[2] == 64);
  // Round trip through the writer's JSON.
  auto back = video::transformer_config_from_json(json::Value(video::transformer_config_to_json(c)), "cfg");
  CHECK(back.ffn_dim == 64);
  CHECK(back.positional_embedding_max_pos == c.positional_embedding_max_pos);

  auto edit = [&](const std::string& key, json::Value v) {
    auto copy = good;
    if (v.is_null()) copy.as_object().erase(key);
    else copy.as_object().set(key, std::move(v));
    return copy;
  };
  CHECK(expect_invalid([&] { video::transformer_config_from_json(edit("num_layers", {}), "ltx"); })
            .find("'num_layers' is missing") != std::string::npos);
  CHECK(expect_invalid([&] { video::transformer_config_from_json(edit("ffn_dim", "big"), "ltx"); })
            .find("'ffn_dim' must be an integer") != std::string::npos);
  CHECK(expect_invalid([&] { video::transformer_config_from_json(edit("attention_head_dim", 5), "ltx"); })
            .find("attention_head_dim") != std::string::npos);
  CHECK(expect_invalid([&] { video::transformer_config_from_json(edit("num_layers", 0), "ltx"); })
            .find("must be positive") != std::string::npos);
  CHECK(expect_invalid([&] { video::transformer_config_from_json(json::Value(3), "ltx"); })
            .find("expected an object") != std::string::npos);
}

TEST_CASE("decoder and sampler configs: unknown keys and bad values are rejected") {
  auto d = json::parse(R"({"latent_channels": 8, "block_out_channels": [16, 8],
    "temporal_upsample": [2, 2], "spatial_upsample": [2, 4]})");
  auto dc = video::decoder_config_from_json(d, "vae");
  CHECK(dc.temporal_scale() == 4);
  CHECK(dc.spatial_scale() == 8);
  CHECK(dc.level_out(0) == 8);
  CHECK(dc.level_out(1) == 8);
  auto d2 = d;
  d2.as_object().set("colour", 1);
  CHECK(expect_invalid([&] { video::decoder_config_from_json(d2, "vae"); }).find("unknown key 'colour'") != std::string::npos);
  auto d3 = d;
  d3.as_object().set("spatial_upsample", json::parse("[2]"));
  CHECK(expect_invalid([&] { video::decoder_config_from_json(d3, "vae"); }).find("one entry per level") != std::string::npos);

  auto s = video::sampler_config_from_json(json::parse(R"({"stage2_sigmas": [0.5, 0.2, 0.0]})"), "sampler");
  CHECK(s.stage2_sigmas.size() == 3);
  CHECK(expect_invalid([&] { video::sampler_config_from_json(json::parse(R"({"stage2_sigmas": [0.5, 0.6, 0.0]})"), "s"); })
            .find("decreasing") != std::string::npos);
  CHECK(expect_invalid([&] { video::sampler_config_from_json(json::parse(R"({"stage2_sigmas": [0.5, 0.1]})"), "s"); })
            .find("ending with 0") != std::string::npos);
  CHECK(expect_invalid([&] { video::sampler_config_from_json(json::parse(R"({"steps": 3})"), "s"); })
            .find("unknown key 'steps'") != std::string::npos);
}

TEST_CASE("sampler: stage-1 schedule runs from 1 to 0, decreasing, shifted up for more tokens") {
  video::SamplerConfig c;
  auto a = video::stage1_sigmas(10, 100, c);
  auto b = video::stage1_sigmas(10, 8000, c);
  REQUIRE(a.size() == 11);
  CHECK(a.front() == doctest::Approx(1.0));
  CHECK(a.back() == 0.0);
  for (size_t i = 1; i < a.size(); ++i) CHECK(a[i] < a[i - 1]);
  CHECK(b[5] > a[5]);
  CHECK_THROWS_AS(video::stage1_sigmas(0, 10, c), std::invalid_argument);
}
