// unit: common/pg_array (PostgreSQL array literals, the one implementation).
#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include "common/pg_array.hpp"

namespace pg = ff::pg;

TEST_CASE("int_array: {a,b,c} for any integer type") {
  CHECK(pg::int_array(std::vector<int64_t>{1, -2, 3}) == "{1,-2,3}");
  CHECK(pg::int_array(std::vector<int32_t>{7}) == "{7}");
  CHECK(pg::int_array(std::vector<int64_t>{INT64_MIN}) == "{-9223372036854775808}");
  CHECK(pg::int_array(std::vector<int64_t>{}) == "{}");
}

TEST_CASE("text_array: every element quoted, quotes and backslashes escaped, NULL for none") {
  CHECK(pg::text_array(std::vector<std::string>{"a", "b\"c", "d\\e", ""}) ==
        R"({"a","b\"c","d\\e",""})");
  CHECK(pg::text_array(std::vector<std::string>{"x,y", "{z}", " s "}) == R"({"x,y","{z}"," s "})");
  CHECK(pg::text_array(std::vector<std::optional<std::string>>{std::nullopt, "NULL"}) == R"({NULL,"NULL"})");
  const std::string a = "a", q = "q\"";
  CHECK(pg::text_array(std::vector<const std::string*>{&a, nullptr, &q}) == R"({"a",NULL,"q\""})");
  CHECK(pg::text_array(std::vector<std::string>{}) == "{}");
}

TEST_CASE("parse_int_array accepts only one-dimensional int8 arrays as PostgreSQL prints them") {
  CHECK(pg::parse_int_array("{1024,4096}") == std::vector<int64_t>{1024, 4096});
  CHECK(pg::parse_int_array("{-1}") == std::vector<int64_t>{-1});
  CHECK(pg::parse_int_array("{}") == std::vector<int64_t>{});
  CHECK(pg::parse_int_array("{9223372036854775807}") == std::vector<int64_t>{INT64_MAX});
  CHECK(pg::parse_int_array(pg::int_array(std::vector<int64_t>{5, -6, 0})) == std::vector<int64_t>{5, -6, 0});
  CHECK_FALSE(pg::parse_int_array("[0:1]={1,2}"));
  CHECK_FALSE(pg::parse_int_array("{{1,2},{3,4}}"));
  CHECK_FALSE(pg::parse_int_array("{1,NULL}"));
  CHECK_FALSE(pg::parse_int_array("{1,,2}"));
  CHECK_FALSE(pg::parse_int_array("{1,}"));
  CHECK_FALSE(pg::parse_int_array("{-}"));
  CHECK_FALSE(pg::parse_int_array("{+1}"));
  CHECK_FALSE(pg::parse_int_array("{ 1}"));
  CHECK_FALSE(pg::parse_int_array("{9223372036854775808}"));   // past int64: refused, not thrown
  CHECK_FALSE(pg::parse_int_array("{99999999999999999999}"));
  CHECK_FALSE(pg::parse_int_array(""));
  CHECK_FALSE(pg::parse_int_array("{"));
}
