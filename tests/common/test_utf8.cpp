// unit: common/utf8 (the one UTF-8 check for strings bound for PostgreSQL text).
#include <doctest/doctest.h>

#include <string>

#include "common/utf8.hpp"

using namespace std::string_literals;
namespace utf8 = ff::utf8;

TEST_CASE("sequence_length: the bytes of one well-formed character, 0 when ill-formed") {
  CHECK(utf8::sequence_length("a", 0) == 1);
  CHECK(utf8::sequence_length("\0"s, 0) == 1);                // NUL is well-formed UTF-8
  CHECK(utf8::sequence_length("\xC3\xA9", 0) == 2);           // U+00E9
  CHECK(utf8::sequence_length("\xE2\x82\xAC", 0) == 3);       // U+20AC
  CHECK(utf8::sequence_length("\xF0\x9F\x90\x88", 0) == 4);   // U+1F408
  CHECK(utf8::sequence_length("\xF4\x8F\xBF\xBF", 0) == 4);   // U+10FFFF, the last code point
  CHECK(utf8::sequence_length("x\xC3\xA9", 1) == 2);          // from an offset
  CHECK(utf8::sequence_length("\x80", 0) == 0);               // stray continuation
  CHECK(utf8::sequence_length("\xFF", 0) == 0);               // never a lead byte
  CHECK(utf8::sequence_length("\xC3", 0) == 0);               // truncated
  CHECK(utf8::sequence_length("\xE2\x82", 0) == 0);           // truncated
  CHECK(utf8::sequence_length("\xC3(", 0) == 0);              // broken continuation
  CHECK(utf8::sequence_length("\xC0\xAF", 0) == 0);           // overlong '/'
  CHECK(utf8::sequence_length("\xE0\x80\xAF", 0) == 0);       // overlong '/'
  CHECK(utf8::sequence_length("\xF0\x80\x80\xAF", 0) == 0);   // overlong '/'
  CHECK(utf8::sequence_length("\xED\xA0\x80", 0) == 0);       // surrogate U+D800
  CHECK(utf8::sequence_length("\xED\x9F\xBF", 0) == 3);       // U+D7FF, just below
  CHECK(utf8::sequence_length("\xF4\x90\x80\x80", 0) == 0);   // U+110000
}

TEST_CASE("is_text: well-formed UTF-8 without NUL") {
  CHECK(utf8::is_text(""));
  CHECK(utf8::is_text("a cat on a skateboard"));
  CHECK(utf8::is_text("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x90\x88"));
  CHECK_FALSE(utf8::is_text("nul\0byte"s));
  CHECK_FALSE(utf8::is_text("ok then \xC3"));      // truncated at the end
  CHECK_FALSE(utf8::is_text("\xC0\xAF"));          // overlong
  CHECK_FALSE(utf8::is_text("\xED\xA0\x80"));      // surrogate
  CHECK_FALSE(utf8::is_text("\xF4\x90\x80\x80"));  // past U+10FFFF
  CHECK_FALSE(utf8::is_text("\xFF"));
}

TEST_CASE("sanitize: ill-formed bytes and NUL become U+FFFD, cut at a character boundary") {
  const std::string r = "\xEF\xBF\xBD";
  CHECK(utf8::sanitize("plain", 100) == "plain");
  CHECK(utf8::sanitize("caf\xC3\xA9", 100) == "caf\xC3\xA9");
  CHECK(utf8::sanitize("a\0b"s, 100) == "a" + r + "b");
  CHECK(utf8::sanitize("\xFF", 100) == r);
  CHECK(utf8::sanitize("\xC0\xAF", 100) == r + r);          // one replacement per byte
  CHECK(utf8::sanitize("\xED\xA0\x80", 100) == r + r + r);  // surrogate
  CHECK(utf8::sanitize("ok \xC3", 100) == "ok " + r);       // truncated at the end
  CHECK(utf8::sanitize("abcdef", 4) == "abcd");
  CHECK(utf8::sanitize("a\xC3\xA9", 2) == "a");             // never cuts a character
  CHECK(utf8::sanitize("a\xFF", 3) == "a");                 // nor a replacement
  CHECK(utf8::sanitize("abc", 0).empty());
  CHECK(utf8::is_text(utf8::sanitize("x\0\xC3\xED\xA0\x80\xF4\x90\x80\x80y"s, 100)));
}
