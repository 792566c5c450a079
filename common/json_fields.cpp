#include "common/json_fields.hpp"

#include <set>

namespace ff::json {

Json parse(std::string_view text, const std::string& what, size_t max_depth) {
  // nlohmann reports each object's keys and each container start through the callback, in
  // document order and without recursion; one key set per open object finds duplicates (nlohmann
  // would silently keep the last one) and the callback depth bounds the nesting.
  std::vector<std::set<std::string>> open_objects;
  auto check = [&](int depth, Json::parse_event_t event, Json& parsed) -> bool {
    switch (event) {
      case Json::parse_event_t::object_start:
      case Json::parse_event_t::array_start:
        if (static_cast<size_t>(depth) + 1 > max_depth)
          throw Error(what + ": nesting deeper than " + std::to_string(max_depth) + " levels");
        if (event == Json::parse_event_t::object_start) open_objects.emplace_back();
        break;
      case Json::parse_event_t::object_end:
        open_objects.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!open_objects.back().insert(parsed.get<std::string>()).second)
          throw Error(what + ": duplicate key '" + parsed.get<std::string>() + "'");
        break;
      default:
        break;
    }
    return true;
  };
  try {
    return Json::parse(text.begin(), text.end(), check, /*allow_exceptions=*/true, /*ignore_comments=*/false);
  } catch (const Json::exception& e) {
    // parse_error (syntax, UTF-8, with its position) or out_of_range (number overflow). Drop
    // nlohmann's "[json.exception.parse_error.101] " prefix; keep "parse error at line 1,
    // column 5: ..." which names the position and the problem.
    // nlohmann quotes the bytes it last read, which may be invalid UTF-8: those are written as
    // \xNN so the message itself stays valid UTF-8 (it may end up in a log line or a reply).
    std::string msg = e.what();
    if (auto p = msg.find("] "); msg.rfind("[json.exception.", 0) == 0 && p != std::string::npos)
      msg = msg.substr(p + 2);
    std::string clean;
    for (unsigned char ch : msg) {
      if (ch < 0x80) {
        clean += static_cast<char>(ch);
      } else {
        static const char* hex = "0123456789abcdef";
        clean += std::string("\\x") + hex[ch >> 4] + hex[ch & 15];
      }
    }
    throw Error(what + ": " + clean);
  }
}

const char* type_of(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::boolean: return "boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return "integer";
    case Json::value_t::number_float: return "number";
    case Json::value_t::string: return "string";
    case Json::value_t::array: return "array";
    case Json::value_t::object: return "object";
    default: return "binary";
  }
}

}  // namespace ff::json
