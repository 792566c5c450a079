#include "worker/engine/layers/json_fields.hpp"

#include <algorithm>
#include <stdexcept>

namespace ff::layers::fields {
namespace {

[[noreturn]] void fail(const std::string& what, std::string_view key, const std::string& msg) {
  throw std::invalid_argument(what + ": key '" + std::string(key) + "' " + msg);
}

const json::Value* lookup(const json::Object& obj, std::string_view key, const std::string& what,
                          bool required) {
  const json::Value* v = obj.find(key);
  if (!v && required) fail(what, key, "is missing");
  return v;
}

int64_t to_int(const json::Value& v, const std::string& what, std::string_view key) {
  if (!v.is_number()) fail(what, key, std::string("must be an integer, got ") + v.type_name());
  try {
    return v.as_int();
  } catch (const json::TypeError&) {
    fail(what, key, "must be an integer");
  }
}

}  // namespace

const json::Object& object(const json::Value& v, const std::string& what) {
  if (!v.is_object())
    throw std::invalid_argument(what + ": expected an object, got " + v.type_name());
  return v.as_object();
}

void reject_unknown(const json::Object& obj, std::initializer_list<std::string_view> known,
                    const std::string& what) {
  for (const auto& [k, v] : obj)
    if (std::find(known.begin(), known.end(), k) == known.end())
      throw std::invalid_argument(what + ": unknown key '" + k + "'");
}

void read(const json::Object& obj, std::string_view key, int64_t& out, const std::string& what,
          bool required) {
  if (const auto* v = lookup(obj, key, what, required)) out = to_int(*v, what, key);
}

void read(const json::Object& obj, std::string_view key, double& out, const std::string& what,
          bool required) {
  const auto* v = lookup(obj, key, what, required);
  if (!v) return;
  if (!v->is_number()) fail(what, key, std::string("must be a number, got ") + v->type_name());
  out = v->as_double();
}

void read(const json::Object& obj, std::string_view key, std::string& out, const std::string& what,
          bool required) {
  const auto* v = lookup(obj, key, what, required);
  if (!v) return;
  if (!v->is_string()) fail(what, key, std::string("must be a string, got ") + v->type_name());
  out = v->as_string();
}

void read(const json::Object& obj, std::string_view key, std::vector<int64_t>& out,
          const std::string& what, bool required) {
  const auto* v = lookup(obj, key, what, required);
  if (!v) return;
  if (!v->is_array()) fail(what, key, std::string("must be an array, got ") + v->type_name());
  std::vector<int64_t> r;
  for (const auto& e : v->as_array()) r.push_back(to_int(e, what, key));
  out = std::move(r);
}

void read(const json::Object& obj, std::string_view key, std::vector<double>& out,
          const std::string& what, bool required) {
  const auto* v = lookup(obj, key, what, required);
  if (!v) return;
  if (!v->is_array()) fail(what, key, std::string("must be an array, got ") + v->type_name());
  std::vector<double> r;
  for (const auto& e : v->as_array()) {
    if (!e.is_number()) fail(what, key, "must hold numbers only");
    r.push_back(e.as_double());
  }
  out = std::move(r);
}

}  // namespace ff::layers::fields
