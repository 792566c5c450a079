// Unit tests for common/json: strict parsing, errors with byte offsets, ordered objects, round trips.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "common/json.hpp"

using namespace ff::json;

namespace {
// Returns the ParseError thrown by parse(text); fails the test if nothing is thrown.
ParseError parse_error(std::string_view text) {
  try {
    parse(text);
  } catch (const ParseError& e) {
    return e;
  }
  FAIL("expected a ParseError for: " << std::string(text));
  return ParseError("", 0);
}
}  // namespace

TEST_CASE("scalars parse to the right types") {
  CHECK(parse("null").is_null());
  CHECK(parse("true").as_bool() == true);
  CHECK(parse(" false ").as_bool() == false);
  CHECK(parse("42").is_int());
  CHECK(parse("42").as_int() == 42);
  CHECK(parse("-0").is_int());
  CHECK(parse("9223372036854775807").as_int() == std::numeric_limits<int64_t>::max());
  CHECK(parse("-9223372036854775808").as_int() == std::numeric_limits<int64_t>::min());
  // Beyond int64: stored as a double.
  CHECK(parse("9223372036854775808").is_double());
  CHECK(parse("1.5").as_double() == 1.5);
  CHECK(parse("1e6").is_double());
  CHECK(parse("1e6").as_int() == 1000000);  // integral double converts
  CHECK(parse("1000000.0").as_int() == 1000000);
  CHECK(parse("-2.5E-3").as_double() == doctest::Approx(-0.0025));
  CHECK(parse("1e-6").as_double() == 1e-6);
  CHECK(parse("42").as_double() == 42.0);
  CHECK_THROWS_AS(parse("1.5").as_int(), TypeError);
  CHECK_THROWS_AS(parse("\"x\"").as_int(), TypeError);
}

TEST_CASE("strings: escapes, surrogate pairs and UTF-8") {
  CHECK(parse(R"("a\"b\\c\/d\n\t\r\b\f")").as_string() == "a\"b\\c/d\n\t\r\b\f");
  CHECK(parse(R"("\u00e9")").as_string() == "\xc3\xa9");
  CHECK(parse(R"("\u20AC")").as_string() == "\xe2\x82\xac");
  CHECK(parse(R"("\ud83d\ude00")").as_string() == "\xf0\x9f\x98\x80");
  CHECK(parse("\"caf\xc3\xa9 \xf0\x9f\x98\x80\"").as_string() == "caf\xc3\xa9 \xf0\x9f\x98\x80");
  CHECK(parse(R"("\u0000")").as_string() == std::string(1, '\0'));
}

TEST_CASE("objects keep key order and give clear errors on misuse") {
  Value v = parse(R"({"zeta": 1, "alpha": [1, 2.5, "x"], "mid": {"k": null}})");
  std::vector<std::string> keys;
  for (const auto& [k, _] : v.as_object()) keys.push_back(k);
  CHECK(keys == std::vector<std::string>{"zeta", "alpha", "mid"});
  CHECK(v["alpha"][1].as_double() == 2.5);
  CHECK(v["alpha"].as_array().size() == 3);
  CHECK(v["mid"]["k"].is_null());
  CHECK(v.find("nope") == nullptr);
  try {
    (void)v["nope"];
    FAIL("missing key must throw");
  } catch (const TypeError& e) {
    CHECK(std::string(e.what()).find("missing key 'nope'") != std::string::npos);
  }
  try {
    (void)v["zeta"].as_string();
    FAIL("wrong type must throw");
  } catch (const TypeError& e) {
    CHECK(std::string(e.what()) == "json: expected string, got int");
  }
  CHECK_THROWS_AS((void)v["alpha"][3], TypeError);
}

TEST_CASE("Object set replaces in place, erase removes") {
  Object o{{"b", 1}, {"a", 2}};
  o.set("b", "two");
  o.set("c", 3.0);
  CHECK(dump(Value(o)) == R"({"b":"two","a":2,"c":3.0})");
  CHECK(o.erase("a"));
  CHECK_FALSE(o.erase("a"));
  CHECK(dump(Value(o)) == R"({"b":"two","c":3.0})");
}

TEST_CASE("malformed input: errors name the problem and the byte offset") {
  struct Case {
    const char* text;
    const char* reason;
    size_t offset;
  };
  const Case cases[] = {
      {"", "unexpected end of input, expected a value", 0},
      {"  ", "unexpected end of input, expected a value", 2},
      {"{\"a\":1,}", "trailing comma in object", 7},
      {"[1,2,]", "trailing comma in array", 5},
      {"[1 2]", "expected ',' or ']' in array, got '2'", 3},
      {"{\"a\" 1}", "expected ':' after object key, got '1'", 5},
      {"{a:1}", "expected a string key in object, got 'a'", 1},
      {"{\"a\":1,\"a\":2}", "duplicate key 'a'", 7},
      {"01", "leading zero in number", 0},
      {"1.", "expected a digit after '.' in number", 2},
      {"1e", "expected a digit in number exponent", 2},
      {"-", "unexpected end of input in number", 1},
      {"+1", "unexpected character '+', expected a value", 0},
      {"nul", "invalid literal (expected 'null')", 0},
      {"NaN", "unexpected character 'N', expected a value", 0},
      {"1 2", "unexpected trailing characters after the value", 2},
      {"\"abc", "unterminated string", 0},
      {"\"a\x01\"", "unescaped control character 0x01 in string", 2},
      {"\"\\x\"", "invalid escape '\\x' in string", 2},
      {"\"\\u12G4\"", "invalid hex digit in \\u escape", 5},
      {"\"\\ud800\"", "unpaired high surrogate in \\u escape", 1},
      {"\"\\udc00\"", "unpaired low surrogate in \\u escape", 1},
      {"\"\xff\"", "invalid UTF-8 byte in string", 1},
      {"\"\xc3(\"", "invalid UTF-8 continuation byte in string", 2},
      {"\"\xc0\x80\"", "invalid UTF-8 byte in string", 1},
      {"\"\xe0\x80\x80\"", "overlong UTF-8 sequence in string", 1},
      {"\"\xed\xa0\x80\"", "UTF-8 encoded surrogate in string", 1},
      {"1e999", "number out of range", 0},
      {"// c\n1", "unexpected character '/', expected a value", 0},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    ParseError e = parse_error(c.text);
    CHECK(e.reason == c.reason);
    CHECK(e.offset == c.offset);
    CHECK(std::string(e.what()) ==
          std::string("json: ") + c.reason + " at byte " + std::to_string(c.offset));
  }
}

TEST_CASE("deep nesting is rejected, not a stack overflow") {
  std::string deep(100000, '[');
  ParseError e = parse_error(deep);
  CHECK(e.reason == "nesting deeper than 256 levels");
  std::string ok = std::string(200, '[') + std::string(200, ']');
  CHECK(parse(ok).is_array());
}

TEST_CASE("dump: compact and pretty, round trips preserve values and types") {
  Value v = Object{{"s", "q\"\\\n\x01\xc3\xa9"},
                   {"i", -7},
                   {"d", 0.1},
                   {"big", 1e300},
                   {"one", 1.0},
                   {"a", Array{true, false, nullptr, Array{}, Object{}}}};
  std::string compact = dump(v);
  CHECK(compact ==
        "{\"s\":\"q\\\"\\\\\\n\\u0001\xc3\xa9\",\"i\":-7,\"d\":0.1,\"big\":1e+300,\"one\":1.0,"
        "\"a\":[true,false,null,[],{}]}");
  CHECK(parse(compact) == v);
  std::string pretty = dump(v, 2);
  CHECK(pretty.find("\n  \"i\": -7,") != std::string::npos);
  CHECK(parse(pretty) == v);
  CHECK(parse(dump(Value(1e6))).is_double());
  CHECK_THROWS_AS(dump(Value(std::nan(""))), TypeError);
  CHECK_THROWS_AS(dump(Value(HUGE_VAL)), TypeError);
  CHECK_THROWS_AS(Value(static_cast<unsigned long long>(1) << 63), TypeError);
}

TEST_CASE("doubles round-trip exactly") {
  for (double d : {0.1, 1.0 / 3.0, 1e-300, 123456789.125, -2.2250738585072014e-308, 1e6}) {
    CHECK(parse(dump(Value(d))).as_double() == d);
  }
}
