// Command-line flag parsing shared by every framefarm executable. Header-only.
//
// Contract: parse_flags() accepts only the flags it is given (unknown flags, missing values and
// repeats throw UsageError naming the flag); values are decoded into plain config structs in ONE
// function per struct with the typed helpers below, whose errors name the flag, the accepted
// range and the value received. Flag names carry units (--lease-timeout-ms).
#pragma once

#include <charconv>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace ff::config {

// A usage error: wrong/unknown flag or bad value. Executables print it and exit with 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct FlagSpec {
  std::string name;        // without dashes: "lease-timeout-ms"
  std::string value_name;  // "" for a switch (no value), e.g. "MS"
  std::string help;        // one line
};

struct ParsedFlags {
  std::map<std::string, std::string> values;  // flag -> value ("" for switches)
  std::vector<std::string> positionals;

  bool has(const std::string& flag) const { return values.count(flag) > 0; }
  std::optional<std::string> get(const std::string& flag) const {
    auto it = values.find(flag);
    if (it == values.end()) return std::nullopt;
    return it->second;
  }
};

// Parses "--flag value", "--flag=value" and "--switch"; "--" ends flags. Throws UsageError.
inline ParsedFlags parse_flags(const std::vector<std::string>& args,
                               const std::vector<FlagSpec>& specs) {
  std::map<std::string, const FlagSpec*> by_name;
  for (const auto& s : specs) by_name[s.name] = &s;
  ParsedFlags out;
  bool flags_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (flags_done || a.size() < 2 || a.rfind("--", 0) != 0) {
      if (!flags_done && a.size() >= 2 && a[0] == '-' && a[1] != '-' && !(a[1] >= '0' && a[1] <= '9'))
        throw UsageError("unknown option '" + a + "' (options are spelled --name)");
      out.positionals.push_back(a);
      continue;
    }
    if (a == "--") {
      flags_done = true;
      continue;
    }
    std::string name = a.substr(2), value;
    bool inline_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      inline_value = true;
    }
    auto it = by_name.find(name);
    if (it == by_name.end()) throw UsageError("unknown option '--" + name + "'");
    if (out.values.count(name)) throw UsageError("option '--" + name + "' given twice");
    if (it->second->value_name.empty()) {
      if (inline_value) throw UsageError("option '--" + name + "' takes no value");
    } else if (!inline_value) {
      if (i + 1 >= args.size())
        throw UsageError("option '--" + name + "' needs a value (" + it->second->value_name + ")");
      value = args[++i];
    }
    out.values[name] = value;
  }
  return out;
}

// Help text: one line per flag.
inline std::string format_flags(const std::vector<FlagSpec>& specs) {
  std::ostringstream os;
  for (const auto& s : specs) {
    std::string left = "  --" + s.name + (s.value_name.empty() ? "" : " " + s.value_name);
    os << left;
    for (size_t n = left.size(); n < 34; ++n) os << ' ';
    os << ' ' << s.help << '\n';
  }
  return os.str();
}

// Decodes a whole-string integer in [lo, hi]; `what` names the flag in the error.
inline int64_t parse_int(const std::string& what, const std::string& v, int64_t lo, int64_t hi) {
  int64_t x = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size())
    throw UsageError(what + ": expected an integer, got '" + v + "'");
  if (x < lo || x > hi)
    throw UsageError(what + ": " + v + " is out of range [" + std::to_string(lo) + ", " +
                     std::to_string(hi) + "]");
  return x;
}

// Decodes a whole-string finite number in [lo, hi].
inline double parse_double(const std::string& what, const std::string& v, double lo, double hi) {
  size_t used = 0;
  double x = 0;
  try {
    x = std::stod(v, &used);
  } catch (...) {
    used = 0;
  }
  if (v.empty() || used != v.size() || !(x == x))
    throw UsageError(what + ": expected a number, got '" + v + "'");
  if (x < lo || x > hi) {
    std::ostringstream os;
    os << what << ": " << v << " is out of range [" << lo << ", " << hi << "]";
    throw UsageError(os.str());
  }
  return x;
}

// Decodes one of `choices`.
inline std::string parse_choice(const std::string& what, const std::string& v,
                                const std::set<std::string>& choices) {
  if (choices.count(v)) return v;
  std::string list;
  for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
  throw UsageError(what + ": '" + v + "' is not one of " + list);
}

}  // namespace ff::config
