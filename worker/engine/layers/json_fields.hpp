// Typed reads of JSON object members with errors that name the config and the key.
// Torch-free helpers shared by the video config decoders. All throw std::invalid_argument.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.hpp"

namespace ff::layers::fields {

// The object itself, or an error "<what>: expected an object".
const json::Object& object(const json::Value& v, const std::string& what);
// Throws when `obj` has a key outside `known` ("<what>: unknown key 'k'").
void reject_unknown(const json::Object& obj, std::initializer_list<std::string_view> known,
                    const std::string& what);
// Reads key into out when present (out keeps its default otherwise); `required` makes absence an
// error. Integers must be integral; doubles accept any number.
void read(const json::Object& obj, std::string_view key, int64_t& out, const std::string& what,
          bool required = false);
void read(const json::Object& obj, std::string_view key, double& out, const std::string& what,
          bool required = false);
void read(const json::Object& obj, std::string_view key, std::string& out, const std::string& what,
          bool required = false);
void read(const json::Object& obj, std::string_view key, std::vector<int64_t>& out,
          const std::string& what, bool required = false);
void read(const json::Object& obj, std::string_view key, std::vector<double>& out,
          const std::string& what, bool required = false);

}  // namespace ff::layers::fields
