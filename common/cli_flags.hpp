// Command-line parsing for framefarm executables: CLI11 with the conventions every one of them
// keeps. Header-only; include it only from the .cpp that reads argv (CLI11 is a large header).
//
// Conventions (the contract the tests check):
// - Options are bound to the fields of a plain config struct; the field's initial value is the
//   default, and CLI11 shows it in --help (always_capture_default), so no default is repeated in
//   a help string. Flag names carry units (--lease-timeout-ms).
// - Integer and number options are checked by integer()/number() before conversion; their
//   errors name the flag, the accepted range and the value received:
//     --limit: expected an integer, got '12x'
//     --heartbeat-interval-ms: 0 is out of range [10, 600000]
// - parse() refuses unknown options ("unknown option '--bogus'"), extra positionals
//   ("unexpected argument 'x'"), a missing value and a repeated option (CLI11's messages name
//   the option) by throwing ff::config::UsageError; the executable prints it and exits with 2.
//   --help / -h is not an error: parse() returns false and the caller prints app.help().
#pragma once

#include <charconv>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "common/config.hpp"

namespace ff::cli {

// "an integer in [lo, hi]", checked on the text: whole-string decimal, then the range.
inline CLI::Validator integer(int64_t lo, int64_t hi) {
  return CLI::Validator(
      [lo, hi](std::string& v) -> std::string {
        int64_t x = 0;
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
        if (v.empty() || ec != std::errc() || p != v.data() + v.size())
          return "expected an integer, got '" + v + "'";
        if (x < lo || x > hi)
          return v + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
        return {};
      },
      "");
}

// "a finite number in [lo, hi]".
inline CLI::Validator number(double lo, double hi) {
  return CLI::Validator(
      [lo, hi](std::string& v) -> std::string {
        size_t used = 0;
        double x = 0;
        try {
          x = std::stod(v, &used);
        } catch (...) {
          used = 0;
        }
        if (v.empty() || used != v.size() || !(x == x)) return "expected a number, got '" + v + "'";
        if (x < lo || x > hi) {
          std::ostringstream os;
          os << v << " is out of range [" << lo << ", " << hi << "]";
          return os.str();
        }
        return {};
      },
      "");
}

// Help whose usage line is given (CLI11 2.1 derives it from the options otherwise).
class Formatter : public CLI::Formatter {
 public:
  explicit Formatter(std::string usage) : usage_(std::move(usage)) {}
  std::string make_usage(const CLI::App*, std::string) const override { return "usage: " + usage_ + "\n"; }

 private:
  std::string usage_;
};

// An App for one command: `name` in messages, `usage` as the first help line, `footer` after
// the options. Defaults shown in help, repeated options refused.
inline void configure(CLI::App& app, const std::string& usage, const std::string& footer = "") {
  app.formatter(std::make_shared<Formatter>(usage));
  app.option_defaults()->always_capture_default()->multi_option_policy(CLI::MultiOptionPolicy::Throw);
  app.allow_extras();  // parse() names the first extra argument itself
  if (!footer.empty()) app.footer(footer);
}

// Parses `args` (without argv[0]) into `app`'s bound fields. Returns false when --help was asked
// (nothing else is checked then). Throws ff::config::UsageError naming the problem.
inline bool parse(CLI::App& app, std::vector<std::string> args) {
  for (const auto& a : args)
    if (a == "--") break;
    else if (a == "--help" || a == "-h") return false;
  // The first argument no option or positional took: an unknown option or an extra argument.
  const auto refuse_extras = [&app] {
    for (const auto& extra : app.remaining()) {
      if (extra == "--") continue;
      const bool option = extra.size() >= 2 && extra[0] == '-' && !(extra[1] >= '0' && extra[1] <= '9');
      if (option) throw ff::config::UsageError("unknown option '" + extra.substr(0, extra.find('=')) + "'");
      throw ff::config::UsageError("unexpected argument '" + extra + "'");
    }
  };
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 pops from the back
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    return false;
  } catch (const CLI::RequiredError& e) {
    refuse_extras();  // "--confg x" is a typo to name, not a missing --config
    throw ff::config::UsageError(e.what());
  } catch (const CLI::ParseError& e) {
    throw ff::config::UsageError(e.what());
  }
  refuse_extras();
  return true;
}

}  // namespace ff::cli
