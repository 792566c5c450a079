// The usage error every framefarm executable reports for a bad command line. Header-only and
// free of CLI11 so that headers included widely (dispatcher/config.hpp) can name it; the flag
// parsing itself is CLI11, through common/cli_flags.hpp, in the .cpp files that read argv.
#pragma once

#include <stdexcept>

namespace ff::config {

// A usage error: unknown flag, missing or bad value, missing or extra argument. The message
// names the flag or argument and what was wrong; executables print it and exit with 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace ff::config
