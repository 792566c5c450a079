// `framefarm-dispatcher` command line: parsing (pure, unit-tested) and execution.
//
// Files: cli.cpp parses (CLI11, one App per command, options bound to the fields below) and
// runs; cli_jobs.cpp holds the job commands (submit, status, list, cancel, retry);
// cli_admin.cpp the others (workers, migrate, keygen, serve).
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

#include "common/config.hpp"  // ff::config::UsageError
#include "common/job_params.hpp"
#include "dispatcher/config.hpp"

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

// Options of `submit`, decoded in one place (parse_cli). Defaults and bounds of the row's columns
// are common/job_params.hpp's (the schema's), the params' too.
struct SubmitOptions {
  std::string prompt;
  std::optional<std::string> negative_prompt;  // nullopt = the schema's default negative prompt
  std::string model;                           // "" = any worker
  int64_t priority = params::kPriority.default_value;
  std::string params_json = "{}";        // only the params given on the command line (checked)
  std::optional<std::string> idempotency_key;
  int64_t max_attempts = params::kMaxAttempts.default_value;
  int64_t delay_ms = 0;
  bool wait = false;
  int64_t wait_timeout_ms = 0;           // 0 = wait forever
};

struct ListOptions {
  std::optional<std::string> state;  // a job state name; nullopt = all
  int64_t limit = 20;
};

struct KeygenOptions {
  std::string out;         // the key pair file (required)
  std::string public_out;  // "" = none
};

// A parsed and decoded command line. Only the fields of `command` are meaningful.
struct CliRequest {
  std::string command;        // submit | status | list | cancel | retry | workers | migrate | serve | keygen
  std::string database_url;   // "" = libpq environment (checked: no password)
  bool json = false;
  bool help = false;          // print cli_help(command) and exit 0; nothing else was checked
  SubmitOptions submit;       // submit
  int64_t job_id = 0;         // status, cancel, retry
  ListOptions list;           // list
  bool all_workers = false;   // workers --all
  std::string schema_dir;     // migrate; "" = default_schema_dir()
  KeygenOptions keygen;       // keygen
  ServeConfig serve;          // serve (finish_serve_config applied)
};

// Parses and decodes argv (without argv[0]); throws ff::config::UsageError naming the problem.
CliRequest parse_cli(const std::vector<std::string>& args);

// Help text for a subcommand ("" = overview): CLI11's option list, defaults included.
std::string cli_help(const std::string& command);

// Runs a parsed request; prints to out/err; returns the exit code. Never throws.
int run_cli(const CliRequest& req, std::ostream& out, std::ostream& err);

// parse + run, as main() does; usage errors print a message and return kExitUsage.
int cli_main(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace ff::dispatcher
