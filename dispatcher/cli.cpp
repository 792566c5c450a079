// framefarm-dispatcher's command line: one CLI11 App per command, its options bound to the
// fields of CliRequest (cli.hpp), decoded and checked here before anything connects; then the
// command runs (cli_jobs.cpp, cli_admin.cpp).
#include "dispatcher/cli.hpp"

#include <algorithm>
#include <iostream>
#include <map>

#include "common/cli_flags.hpp"
#include "common/job_params.hpp"
#include "common/job_state.hpp"
#include "dispatcher/cli_commands.hpp"
#include "dispatcher/migrate.hpp"
#include "dispatcher/queries.hpp"

namespace ff::dispatcher {

using ff::config::UsageError;

namespace {

struct Command {
  const char* name;
  const char* args;     // after the name in the usage line
  const char* summary;  // one line in the overview
  const char* positional;  // "" = none
};

const Command kCommands[] = {
    {"submit", "PROMPT [options]", "insert a job (prints its id)", "PROMPT"},
    {"status", "ID [options]", "show one job", "ID"},
    {"list", "[--state S] [--limit N]", "list jobs, newest first", ""},
    {"cancel", "ID [options]", "cancel a queued or running job", "ID"},
    {"retry", "ID [options]", "requeue a dead, cancelled or retry_wait job", "ID"},
    {"workers", "[--all]", "list workers known to dispatchers", ""},
    {"migrate", "[--schema-dir DIR]", "apply pending schema/NNN_*.sql files", ""},
    {"serve", "[options]", "run a dispatcher", ""},
    {"keygen", "--out FILE [--public-out FILE]", "make a CURVE key pair (dispatcher or worker)", ""},
};

const Command* find_command(const std::string& name) {
  for (const auto& c : kCommands)
    if (name == c.name) return &c;
  return nullptr;
}

std::string command_names() {
  std::string s;
  for (const auto& c : kCommands) s += (s.empty() ? "" : ", ") + std::string(c.name);
  return s;
}

const char* const kFooter =
    "Exit codes: 0 ok, 1 runtime error (database unreachable), 2 usage error, 3 rejected (bad job\n"
    "or not allowed in the job's state), 4 no such job, 5 --wait: job ended dead/cancelled,\n"
    "6 --wait timed out.\n"
    "Database: --database postgresql://user@host:port/db, or the libpq environment (PGHOST,\n"
    "PGPORT, PGUSER, PGDATABASE, PGPASSWORD/~/.pgpass). A password in the URL is refused.";

// What the options of one command are bound to while parsing; decoded into `req` afterwards.
struct Bound {
  CliRequest req;
  std::optional<std::string> prompt;
  std::map<std::string, std::optional<std::string>> params;  // params key -> flag text
};

std::string value_name(params::Kind k) {
  switch (k) {
    case params::Kind::kInteger: return "N";
    case params::Kind::kNumber: return "X";
    case params::Kind::kBoolean: return "BOOL";
    case params::Kind::kString: return "TEXT";
  }
  return "VALUE";
}

// `submit --<flag>` of a params key: its help names the key and its rule; the default shown is
// the protocol's (params::default_json), the one a job without the key gets.
void add_param_flag(CLI::App& app, const params::ParamSpec& p, std::optional<std::string>& target) {
  std::string help = "params." + std::string(p.key) + ": " + std::string(p.doc) + "; " +
                     std::string(params::kind_name(p.kind));
  if (!p.min.empty()) help += " in [" + std::string(p.min) + ", " + std::string(p.max) + "]";
  if (p.step > 0)
    help += p.step_offset == 0 ? ", a multiple of " + std::to_string(p.step)
                               : ", " + std::to_string(p.step) + "k+" + std::to_string(p.step_offset);
  if (!p.choices.empty()) help += ", one of " + std::string(p.choices);
  app.add_option("--" + std::string(p.flag), target, help)
      ->type_name(value_name(p.kind))
      ->default_str(params::default_json(p));
}

std::string job_state_problem(std::string& v) {
  if (parse_job_state(v)) return {};
  std::string all;
  for (auto n : kJobStateNames) all += (all.empty() ? "" : ", ") + std::string(n);
  return "'" + v + "' is not a job state (" + all + ")";
}

// A text column's byte bounds (params::TextColumn), for a flag's validator.
CLI::Validator bytes(const params::TextColumn& col) {
  return CLI::Validator(
      [col](std::string& v) -> std::string {
        if (v.size() < col.min_bytes || v.size() > col.max_bytes)
          return std::to_string(v.size()) + " bytes is out of range [" + std::to_string(col.min_bytes) + ", " +
                 std::to_string(col.max_bytes) + "]";
        return {};
      },
      "");
}

// The options of `cmd` (which is in kCommands), bound to `b`.
void build(CLI::App& app, const Command& cmd, Bound& b) {
  using ff::cli::integer;
  CliRequest& r = b.req;
  ff::cli::configure(app, "framefarm-dispatcher " + std::string(cmd.name) + " " + cmd.args, kFooter);
  const std::string name = cmd.name;
  constexpr int64_t kYearMs = 365LL * 86400 * 1000;
  if (name == "serve") {
    add_serve_flags(app, r.serve);
    app.add_flag("--json", r.json, "print the bound endpoint as JSON on start");
    return;
  }
  app.add_option("--database", r.database_url, "PostgreSQL URL without password; empty = libpq environment")
      ->type_name("URL");
  app.add_flag("--json", r.json, "print JSON instead of text");
  if (name == "submit") {
    SubmitOptions& s = r.submit;
    app.add_option("PROMPT", b.prompt, "what the video shows");
    app.add_option("--negative", s.negative_prompt,
                   "negative prompt; absent = LTX-2.3's, framefarm.default_negative_prompt(); '' = none")
        ->type_name("TEXT")
        ->check(bytes(params::kNegativePrompt));
    app.add_option("--model", s.model, "model name; empty = any worker")->type_name("NAME")->check(bytes(params::kModel));
    app.add_option("--priority", s.priority, "higher runs first")
        ->type_name("N")
        ->check(integer(params::kPriority.min, params::kPriority.max));
    for (const auto& p : params::specs()) add_param_flag(app, p, b.params[std::string(p.key)]);
    app.add_option("--idempotency-key", s.idempotency_key, "submit at most once per key (prints the existing job)")
        ->type_name("KEY")
        ->check(bytes(params::kIdempotencyKey));
    app.add_option("--max-attempts", s.max_attempts, "attempts before the job is dead")
        ->type_name("N")
        ->check(integer(params::kMaxAttempts.min, params::kMaxAttempts.max));
    app.add_option("--delay-ms", s.delay_ms, "do not run before now + MS")->type_name("MS")->check(integer(0, kYearMs));
    auto* wait = app.add_flag("--wait", s.wait, "wait until the job finishes; exit 5 if it ends dead/cancelled");
    app.add_option("--wait-timeout-ms", s.wait_timeout_ms, "with --wait: give up after MS (exit 6); 0 = forever")
        ->type_name("MS")
        ->check(integer(1, kYearMs))
        ->needs(wait);
  } else if (name == "status" || name == "cancel" || name == "retry") {
    app.add_option("ID", r.job_id, "job id")->check(integer(1, INT64_MAX));
  } else if (name == "list") {
    app.add_option("--state", r.list.state, "only jobs in this state")
        ->type_name("STATE")
        ->check(CLI::Validator(job_state_problem, ""));
    app.add_option("--limit", r.list.limit, "at most N jobs, newest first")->type_name("N")->check(integer(1, 100000));
  } else if (name == "workers") {
    app.add_flag("--all", r.all_workers, "include dead and gone workers");
  } else if (name == "migrate") {
    r.schema_dir = default_schema_dir().string();
    app.add_option("--schema-dir", r.schema_dir, "directory of NNN_name.sql files")->type_name("DIR");
  } else if (name == "keygen") {
    app.add_option("--out", r.keygen.out, "write the key pair here (mode 0600; an existing file is refused)")
        ->type_name("FILE")
        ->required();
    app.add_option("--public-out", r.keygen.public_out,
                   "also write the public key alone here (to give to the other side)")
        ->type_name("FILE");
  }
}

// What parsing alone cannot check: positionals present, the URL, submit's prompt and params.
void decode(const Command& cmd, CLI::App& app, Bound& b) {
  CliRequest& r = b.req;
  if (*cmd.positional && app.get_option(cmd.positional)->count() == 0)
    throw UsageError("missing argument " + std::string(cmd.positional) + " (usage: framefarm-dispatcher " +
                     cmd.name + " " + cmd.args + ")");
  if (r.command == "serve") {
    finish_serve_config(r.serve);
    r.database_url = r.serve.database_url;
    return;
  }
  check_database_url(r.database_url);
  if (r.command != "submit") return;
  SubmitOptions& s = r.submit;
  s.prompt = *b.prompt;
  if (s.prompt.empty()) throw UsageError("the prompt must not be empty");
  if (s.prompt.size() > params::kPrompt.max_bytes)
    throw UsageError("the prompt is " + std::to_string(s.prompt.size()) + " bytes, the maximum is " +
                     std::to_string(params::kPrompt.max_bytes));
  // Params: checked with the rules the database applies (same messages), before connecting.
  json::Json params = json::Json::object();
  for (const auto& p : params::specs()) {
    const auto& text = b.params.at(std::string(p.key));
    if (!text) continue;
    json::Json value = params::flag_value(p, *text);
    const bool literal = value.is_number() || value.is_boolean();
    if (auto e = params::check(p, value, literal ? std::string_view(*text) : std::string_view()))
      throw UsageError("--" + std::string(p.flag) + ": " + *e);
    params[std::string(p.key)] = std::move(value);
  }
  s.params_json = params.dump();
}

std::string overview() {
  std::string s = "usage: framefarm-dispatcher COMMAND [options]\n\nCommands:\n";
  for (const auto& c : kCommands) {
    std::string left = "  " + std::string(c.name) + " " + c.args;
    left.resize(std::max<size_t>(left.size() + 1, 44), ' ');
    s += left + c.summary + "\n";
  }
  return s + "\nRun `framefarm-dispatcher COMMAND --help` for its options.\n\n" + kFooter + "\n";
}

}  // namespace

CliRequest parse_cli(const std::vector<std::string>& args) {
  if (args.empty()) throw UsageError("missing command (one of: " + command_names() + ")");
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    CliRequest req;
    req.help = true;
    return req;
  }
  const Command* cmd = find_command(args[0]);
  if (!cmd) throw UsageError("unknown command '" + args[0] + "' (one of: " + command_names() + ")");
  Bound b;
  b.req.command = cmd->name;
  CLI::App app("", "framefarm-dispatcher " + b.req.command);
  build(app, *cmd, b);
  if (!ff::cli::parse(app, std::vector<std::string>(args.begin() + 1, args.end()))) {
    CliRequest req;
    req.command = cmd->name;
    req.help = true;
    return req;
  }
  decode(*cmd, app, b);
  return b.req;
}

std::string cli_help(const std::string& command) {
  const Command* cmd = find_command(command);
  if (!cmd) return overview();
  Bound b;
  CLI::App app("", "framefarm-dispatcher " + command);
  build(app, *cmd, b);
  return app.help();
}

namespace commands {

std::unique_ptr<pqxx::connection> connect(const CliRequest& req) {
  auto c = std::make_unique<pqxx::connection>(req.database_url);
  sql::prepare_all(*c);
  return c;
}

std::string pg_message(const std::exception& e) {
  std::string s = e.what();
  if (s.rfind("ERROR:  ", 0) == 0) s = s.substr(8);
  auto nl = s.find('\n');
  if (nl != std::string::npos) s = s.substr(0, nl);
  return s;
}

}  // namespace commands

int run_cli(const CliRequest& req, std::ostream& out, std::ostream& err) {
  const std::string prog = "framefarm-dispatcher" + (req.command.empty() ? "" : " " + req.command);
  if (req.help) {
    out << cli_help(req.command);
    return kExitOk;
  }
  using Run = int (*)(const CliRequest&, std::ostream&, std::ostream&);
  static const std::map<std::string, Run> kRun = {
      {"submit", commands::submit},   {"status", commands::status},   {"list", commands::list},
      {"cancel", commands::cancel},   {"retry", commands::retry},     {"workers", commands::workers},
      {"migrate", commands::migrate}, {"serve", commands::serve},     {"keygen", commands::keygen},
  };
  try {
    auto it = kRun.find(req.command);
    if (it == kRun.end()) {
      err << "framefarm-dispatcher: unknown command '" << req.command << "'\n";
      return kExitUsage;
    }
    return it->second(req, out, err);
  } catch (const UsageError& e) {
    err << prog << ": " << e.what() << "\n(see `" << prog << " --help`)\n";
    return kExitUsage;
  } catch (const pqxx::broken_connection& e) {
    err << prog << ": cannot connect to the database: " << commands::pg_message(e) << '\n';
    return kExitError;
  } catch (const pqxx::sql_error& e) {
    err << prog << ": database error: " << commands::pg_message(e) << '\n';
    return kExitError;
  } catch (const std::exception& e) {
    err << prog << ": " << e.what() << '\n';
    return kExitError;
  }
}

int cli_main(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  CliRequest req;
  try {
    req = parse_cli(args);
  } catch (const UsageError& e) {
    const std::string cmd = !args.empty() && find_command(args[0]) ? " " + args[0] : "";
    err << "framefarm-dispatcher" << cmd << ": " << e.what() << "\n(see `framefarm-dispatcher" << cmd
        << " --help`)\n";
    return kExitUsage;
  }
  return run_cli(req, out, err);
}

}  // namespace ff::dispatcher
