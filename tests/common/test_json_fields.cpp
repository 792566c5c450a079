// Unit tests for common/json_fields: what parse() refuses (on top of nlohmann-json) and the
// strict readers' errors, which name the key path.
#include <doctest/doctest.h>

#include <limits>

#include "common/json_fields.hpp"

using ff::json::Error;
using ff::json::Fields;
using ff::json::Json;
using ff::json::parse;

namespace {
// The message of the Error thrown by parse(text, "doc"); fails the test if nothing is thrown.
std::string parse_error(std::string_view text) {
  try {
    parse(text, "doc");
  } catch (const Error& e) {
    return e.what();
  }
  FAIL("expected an Error for: " << std::string(text));
  return "";
}
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  FAIL("expected an Error");
  return "";
}
bool has(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }
}  // namespace

TEST_CASE("parse keeps objects in document order and numbers typed") {
  Json v = parse(R"({"zeta": 1, "alpha": [1, 2.5, "x"], "mid": {"k": null}})", "doc");
  std::vector<std::string> keys;
  for (const auto& [k, _] : v.items()) keys.push_back(k);
  CHECK(keys == std::vector<std::string>{"zeta", "alpha", "mid"});
  CHECK(v.dump() == R"({"zeta":1,"alpha":[1,2.5,"x"],"mid":{"k":null}})");
  CHECK(parse("9223372036854775807", "doc").get<int64_t>() == std::numeric_limits<int64_t>::max());
  CHECK(parse("-9223372036854775808", "doc").get<int64_t>() == std::numeric_limits<int64_t>::min());
  CHECK(parse("1.0", "doc").dump() == "1.0");  // floats stay floats when written back
  CHECK(parse(R"("\ud83d\ude00")", "doc").get<std::string>() == "\xf0\x9f\x98\x80");
}

TEST_CASE("parse refuses malformed input with the source named") {
  const char* bad[] = {"", "{\"a\":1,}", "[1,2,]", "[1 2]", "{a:1}", "01", "1.", "+1", "nul", "NaN", "Infinity",
                       "1 2", "\"abc", "\"a\x01\"", "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"", "// c\n1",
                       // invalid UTF-8: stray byte, bad continuation, overlong, encoded surrogate
                       "\"\xff\"", "\"\xc3(\"", "\"\xc0\x80\"", "\"\xe0\x80\x80\"", "\"\xed\xa0\x80\""};
  for (const char* text : bad) {
    CAPTURE(text);
    const std::string e = parse_error(text);
    CHECK(e.rfind("doc: parse error at line ", 0) == 0);
  }
  // Invalid bytes are quoted as \xNN, keeping the message valid UTF-8.
  CHECK(parse_error("\"\xff\"") ==
        "doc: parse error at line 1, column 2: syntax error while parsing value - invalid string: ill-formed UTF-8 "
        "byte; last read: '\"\\xff'");
  // Numbers beyond double range are refused, not read as infinity.
  CHECK(has(parse_error("1e999"), "number overflow"));
  CHECK(has(parse_error("[-1e400]"), "number overflow"));
}

TEST_CASE("parse refuses duplicate keys at any depth") {
  CHECK(parse_error(R"({"a":1,"a":2})") == "doc: duplicate key 'a'");
  CHECK(parse_error(R"({"x":{"b":1,"c":2,"b":3}})") == "doc: duplicate key 'b'");
  // The same key in sibling objects is fine.
  CHECK(parse(R"([{"a":1},{"a":2}])", "doc").size() == 2);
}

TEST_CASE("deep nesting is refused, not a stack overflow") {
  CHECK(parse_error(std::string(100000, '[')) == "doc: nesting deeper than 256 levels");
  CHECK(parse(std::string(256, '[') + std::string(256, ']'), "doc").is_array());
  CHECK(parse_error(std::string(257, '[') + std::string(257, ']')) == "doc: nesting deeper than 256 levels");
  // The limit is a parameter.
  CHECK_THROWS_AS(parse(R"({"a":{"b":[1]}})", "doc", 2), Error);
  CHECK(parse(R"({"a":{"b":[1]}})", "doc", 3).is_object());
}

TEST_CASE("readers name the key path in type errors") {
  Json v = parse(R"({"vae_tiling": {"long_side_tile_px": "512", "ok": 1.5, "n": null}, "list": [1, "x"]})", "doc");
  Fields root(v, "");
  Fields t = root.object("vae_tiling");
  CHECK(error_of([&] { t.required<int64_t>("long_side_tile_px"); }) ==
        "vae_tiling.long_side_tile_px: expected integer, got string");
  CHECK(error_of([&] { t.required<int64_t>("ok"); }) == "vae_tiling.ok: expected integer, got 1.5");
  CHECK(error_of([&] { t.required<bool>("n"); }) == "vae_tiling.n: expected boolean, got null");
  CHECK(error_of([&] { t.required<std::string>("absent"); }) == "vae_tiling.absent: missing required key");
  CHECK(error_of([&] { root.required<std::vector<int64_t>>("list"); }) == "list[1]: expected integer, got string");
  CHECK(error_of([&] { root.object("list"); }) == "list: expected object, got array");
  CHECK(error_of([&] { Fields(v["list"], "cfg"); }) == "cfg: expected object, got array");
  CHECK(t.required<double>("ok") == 1.5);
  CHECK(t.required<std::optional<int64_t>>("n") == std::nullopt);
}

TEST_CASE("optional reads keep the default when absent") {
  Json v = parse(R"({"a": 3, "f": 16000.0, "s": "x", "m": {"p": 1, "q": 2}})", "doc");
  Fields f(v, "cfg");
  int64_t a = 7, b = 9;
  CHECK(f.optional("a", a));
  CHECK_FALSE(f.optional("b", b));
  CHECK(a == 3);
  CHECK(b == 9);
  CHECK(f.get_or<std::string>("s", "d") == "x");
  CHECK(f.get_or<std::string>("t", "d") == "d");
  // Integral numbers written as floats read as integers (Python writes 16000.0).
  CHECK(f.required<int>("f") == 16000);
  auto m = f.required<std::map<std::string, int>>("m");
  CHECK(m == std::map<std::string, int>{{"p", 1}, {"q", 2}});
}

TEST_CASE("unknown keys are refused, naming the key and the allowed set") {
  Json v = parse(R"({"device": "cuda", "devcie": "cpu"})", "doc");
  Fields f(v, "engine");
  CHECK(error_of([&] { f.allow_only({"device", "model"}); }) ==
        "engine.devcie: unknown key (allowed: device, model)");
  CHECK_NOTHROW(f.allow_only({"devcie", "device"}));
  Fields root(v, "");
  CHECK(error_of([&] { root.allow_only({"device"}); }) == "devcie: unknown key (allowed: device)");
}

TEST_CASE("integer ranges: the target type's and the caller's") {
  Json v = parse(R"({"big": 3000000000, "neg": -1, "huge": 18446744073709551615, "x": 5, "d": 0.5})", "doc");
  Fields f(v, "c");
  CHECK(error_of([&] { f.required<int32_t>("big"); }) ==
        "c.big: integer 3000000000 out of range [-2147483648, 2147483647]");
  CHECK(error_of([&] { f.required<uint32_t>("neg"); }) == "c.neg: integer -1 out of range [0, 4294967295]");
  CHECK(has(error_of([&] { f.required<int64_t>("huge"); }), "c.huge: integer 18446744073709551615 out of range"));
  CHECK(f.required<uint64_t>("huge") == std::numeric_limits<uint64_t>::max());
  CHECK(f.required<int64_t>("x", 1, 5) == 5);
  CHECK(error_of([&] { f.required<int64_t>("x", 1, 4); }) == "c.x: must be in [1, 4], got 5");
  int64_t x = 0;
  CHECK(error_of([&] { f.optional<int64_t>("x", x, 6, 10); }) == "c.x: must be in [6, 10], got 5");
  CHECK(x == 0);
  CHECK(error_of([&] { f.required<double>("d", 1.0, 2.0); }) == "c.d: must be in [1.0, 2.0], got 0.5");
}
