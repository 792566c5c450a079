// `framefarm-dispatcher` command line: parsing (pure, unit-tested) and execution.
//
// Exit codes (stable, documented in --help):
//   0 ok · 1 runtime error (database unreachable, ...) · 2 usage error · 3 rejected (bad job,
//   or the operation is not allowed in the job's state) · 4 no such job · 5 --wait: the job ended
//   dead or cancelled · 6 --wait timed out.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "common/config.hpp"

namespace ff::dispatcher {

enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,
  kExitUsage = 2,
  kExitRejected = 3,
  kExitNotFound = 4,
  kExitJobFailed = 5,
  kExitTimeout = 6,
};

// A parsed command line: subcommand, its flags (already checked against that subcommand's
// list), positionals, and the options shared by all subcommands.
struct CliRequest {
  std::string command;            // submit | status | list | cancel | retry | workers | migrate | serve
  ff::config::ParsedFlags flags;
  std::string database_url;       // "" = libpq environment
  bool json = false;
  bool help = false;
};

// Options of `submit`, decoded in one place.
struct SubmitOptions {
  std::string prompt;
  std::optional<std::string> negative_prompt;  // nullopt = the schema's default negative prompt
  std::string model;
  int64_t priority = 0;
  std::string params_json = "{}";        // only the params given on the command line (checked)
  std::optional<std::string> idempotency_key;
  int64_t max_attempts = 3;
  int64_t delay_ms = 0;
  bool wait = false;
  int64_t wait_timeout_ms = 0;           // 0 = wait forever
};

// Parses argv (without argv[0]); throws ff::config::UsageError naming the problem.
CliRequest parse_cli(const std::vector<std::string>& args);
// Decodes `submit` flags/positionals; throws UsageError.
SubmitOptions decode_submit(const CliRequest& req);
// Parses a job id positional; throws UsageError.
int64_t parse_job_id(const CliRequest& req);

// Help text for a subcommand ("" = overview).
std::string cli_help(const std::string& command);

// Runs a parsed request; prints to out/err; returns the exit code. Never throws.
int run_cli(const CliRequest& req, std::ostream& out, std::ostream& err);

// parse + run, as main() does; usage errors print a message and return kExitUsage.
int cli_main(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace ff::dispatcher
