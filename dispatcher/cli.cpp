#include "dispatcher/cli.hpp"

#include <csignal>
#include <iostream>
#include <map>
#include <thread>

#include <pqxx/pqxx>

#include "common/job_params.hpp"
#include "common/job_state.hpp"
#include "common/json.hpp"
#include "common/protocol.hpp"
#include "dispatcher/config.hpp"
#include "dispatcher/curve_auth.hpp"
#include "dispatcher/metrics.hpp"
#include "dispatcher/migrate.hpp"
#include "dispatcher/queries.hpp"
#include "dispatcher/server.hpp"

namespace ff::dispatcher {

using ff::config::FlagSpec;
using ff::config::UsageError;

namespace {

const std::vector<std::string> kCommands = {"submit",  "status",  "list",  "cancel", "retry",
                                            "workers", "migrate", "serve", "keygen"};

std::vector<FlagSpec> common_flags() {
  return {{"database", "URL", "PostgreSQL URL without password (default: libpq environment)"},
          {"json", "", "print JSON instead of text"},
          {"help", "", "show help for this command"}};
}

// `submit --<flag>` of a params key; the help names the key, its rule and its default.
FlagSpec param_flag(const params::ParamSpec& p) {
  static const std::map<params::Kind, std::string> kValueName = {
      {params::Kind::kInteger, "N"}, {params::Kind::kNumber, "X"}, {params::Kind::kBoolean, "BOOL"},
      {params::Kind::kString, "TEXT"}};
  std::string help = "params." + std::string(p.key) + ": " + std::string(p.doc) + "; " +
                     std::string(params::kind_name(p.kind));
  if (!p.min.empty()) help += " in [" + std::string(p.min) + ", " + std::string(p.max) + "]";
  if (p.step > 0)
    help += p.step_offset == 0 ? ", a multiple of " + std::to_string(p.step)
                               : ", " + std::to_string(p.step) + "k+" + std::to_string(p.step_offset);
  if (!p.choices.empty()) help += ", one of " + std::string(p.choices);
  help += " (default " + params::default_json(p) + ")";
  return {std::string(p.flag), kValueName.at(p.kind), help};
}

// The value of `--<flag>` as JSON: a JSON scalar literal, else (or for string keys) the text.
json::Value param_value(const params::ParamSpec& p, const std::string& text) {
  if (p.kind == params::Kind::kString) return json::Value(text);
  try {
    json::Value v = json::parse(text);
    if (!v.is_array() && !v.is_object() && !v.is_null()) return v;
  } catch (const json::ParseError&) {
  }
  return json::Value(text);
}

std::vector<FlagSpec> flags_of(const std::string& cmd) {
  std::vector<FlagSpec> f;
  if (cmd == "serve") return serve_flag_specs();
  if (cmd == "submit") {
    f = {{"negative", "TEXT",
          "negative prompt (default: LTX-2.3's, framefarm.default_negative_prompt(); '' = none)"},
         {"model", "NAME", "model name; empty = any worker (default empty)"},
         {"priority", "N", "higher runs first (default 0)"}};
    for (const auto& p : params::specs()) f.push_back(param_flag(p));
    for (FlagSpec x : {FlagSpec{"idempotency-key", "KEY", "submit at most once per key (prints the existing job)"},
                       FlagSpec{"max-attempts", "N", "attempts before the job is dead (default 3)"},
                       FlagSpec{"delay-ms", "MS", "do not run before now + MS"},
                       FlagSpec{"wait", "", "wait until the job finishes; exit 5 if it ends dead/cancelled"},
                       FlagSpec{"wait-timeout-ms", "MS", "with --wait: give up after MS (exit 6); default: forever"}})
      f.push_back(std::move(x));
  }
  else if (cmd == "list")
    f = {{"state", "STATE", "only jobs in this state"}, {"limit", "N", "at most N jobs, newest first (default 20)"}};
  else if (cmd == "workers")
    f = {{"all", "", "include dead and gone workers"}};
  else if (cmd == "migrate")
    f = {{"schema-dir", "DIR", "directory of NNN_name.sql files (default: the source tree's schema/)"}};
  else if (cmd == "keygen")
    f = {{"out", "FILE", "write the key pair here (mode 0600; an existing file is refused)"},
         {"public-out", "FILE", "also write the public key alone here (to give to the other side)"}};
  for (auto& c : common_flags()) {
    bool dup = false;
    for (auto& x : f) dup |= x.name == c.name;
    if (!dup) f.push_back(c);
  }
  return f;
}

const std::map<std::string, std::string> kUsage = {
    {"submit", "submit PROMPT [options]     insert a job (prints its id)"},
    {"status", "status ID                   show one job"},
    {"list", "list [--state S] [--limit N] list jobs, newest first"},
    {"cancel", "cancel ID                   cancel a queued or running job"},
    {"retry", "retry ID                    requeue a dead, cancelled or retry_wait job"},
    {"workers", "workers [--all]             list workers known to dispatchers"},
    {"migrate", "migrate [--schema-dir DIR]  apply pending schema/NNN_*.sql files"},
    {"serve", "serve [options]             run a dispatcher"},
    {"keygen", "keygen --out FILE           make a CURVE key pair (dispatcher or worker)"},
};

size_t positionals_of(const std::string& cmd) {
  if (cmd == "submit" || cmd == "status" || cmd == "cancel" || cmd == "retry") return 1;
  return 0;
}

// First line of a PostgreSQL error without the "ERROR:  " prefix.
std::string pg_message(const std::exception& e) {
  std::string s = e.what();
  if (s.rfind("ERROR:  ", 0) == 0) s = s.substr(8);
  auto nl = s.find('\n');
  if (nl != std::string::npos) s = s.substr(0, nl);
  return s;
}

json::Value opt_text(const pqxx::field& f) {
  if (f.is_null()) return json::Value();
  return json::Value(f.as<std::string>());
}
json::Value opt_int(const pqxx::field& f) {
  if (f.is_null()) return json::Value();
  return json::Value(static_cast<long long>(f.as<int64_t>()));
}
json::Value opt_json(const pqxx::field& f) {
  if (f.is_null()) return json::Value();
  try {
    return json::parse(f.as<std::string>());
  } catch (const std::exception&) {
    return json::Value(f.as<std::string>());
  }
}

// Row of kJobColumns -> JSON object (column order fixed in queries.cpp).
json::Object job_json(const pqxx::row& r) {
  json::Object o;
  o.set("id", opt_int(r[0]));
  o.set("state", opt_text(r[1]));
  o.set("priority", opt_int(r[2]));
  o.set("prompt", opt_text(r[3]));
  o.set("negative_prompt", opt_text(r[4]));
  o.set("model", opt_text(r[5]));
  o.set("params", opt_json(r[6]));
  o.set("idempotency_key", opt_text(r[7]));
  o.set("attempts", opt_int(r[8]));
  o.set("max_attempts", opt_int(r[9]));
  o.set("run_after", opt_text(r[10]));
  o.set("lease_owner", opt_text(r[11]));
  o.set("lease_worker", opt_text(r[12]));
  o.set("lease_epoch", opt_int(r[13]));
  o.set("lease_expires_at", opt_text(r[14]));
  o.set("cancel_requested", json::Value(r[15].as<bool>()));
  o.set("phase", opt_text(r[16]));
  o.set("step", opt_int(r[17]));
  o.set("total_steps", opt_int(r[18]));
  o.set("created_at", opt_text(r[19]));
  o.set("leased_at", opt_text(r[20]));
  o.set("started_at", opt_text(r[21]));
  o.set("finished_at", opt_text(r[22]));
  o.set("error_kind", opt_text(r[23]));
  o.set("error", opt_text(r[24]));
  o.set("result", opt_json(r[25]));
  return o;
}

// result.media (the worker's MP4, see proto::MediaInfo) as four readable lines.
void print_media_text(const json::Value& m, std::ostream& out) {
  auto num = [&](const char* k) {
    const json::Value* v = m.find(k);
    return v && v->is_number() ? v->as_double() : 0.0;
  };
  auto text = [&](const char* k) {
    const json::Value* v = m.find(k);
    return v && v->is_string() ? v->as_string() : std::string();
  };
  char line[256];
  out << "mp4: " << text("mp4_path") << '\n' << "poster: " << text("poster_path") << '\n';
  std::snprintf(line, sizeof line, "video: %lldx%lld, %lld frames at %g fps, %.3f s, %lld bytes\n",
                static_cast<long long>(num("width")), static_cast<long long>(num("height")),
                static_cast<long long>(num("frames")), num("fps"), num("duration_s"),
                static_cast<long long>(num("bytes")));
  out << line;
  if (num("audio_channels") > 0)
    std::snprintf(line, sizeof line, "audio: AAC %lld Hz, %lld channels\n",
                  static_cast<long long>(num("audio_sample_rate")), static_cast<long long>(num("audio_channels")));
  else
    std::snprintf(line, sizeof line, "audio: none\n");
  out << line;
}

void print_job_text(const json::Object& o, std::ostream& out) {
  for (const auto& [k, v] : o) {
    if (v.is_null()) continue;
    out << k << ": ";
    if (v.is_string()) out << v.as_string();
    else out << json::dump(v);
    out << '\n';
  }
  if (const json::Value* r = o.find("result"); r && r->is_object())
    if (const json::Value* m = r->find("media"); m && m->is_object()) print_media_text(*m, out);
}

std::unique_ptr<pqxx::connection> connect(const CliRequest& req) {
  auto c = std::make_unique<pqxx::connection>(req.database_url);
  sql::prepare_all(*c);
  return c;
}

std::optional<json::Object> fetch_job(pqxx::connection& c, int64_t id) {
  pqxx::nontransaction tx(c);
  auto r = tx.exec_prepared(sql::kJobStatus, id);
  if (r.empty()) return std::nullopt;
  return job_json(r[0]);
}

// Waits until job `id` is terminal; returns its final row, or nullopt on timeout.
std::optional<json::Object> wait_job(pqxx::connection& c, int64_t id, int64_t timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  int64_t sleep_ms = 20;
  while (true) {
    auto j = fetch_job(c, id);
    if (!j) return std::nullopt;
    auto st = parse_job_state(j->at("state").as_string());
    if (st && is_terminal(*st)) return j;
    if (timeout_ms > 0 && std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
    sleep_ms = std::min<int64_t>(sleep_ms * 2, 250);
  }
}

int cmd_submit(const CliRequest& req, std::ostream& out, std::ostream& err) {
  SubmitOptions o = decode_submit(req);
  auto c = connect(req);
  int64_t id = 0;
  bool existing = false;
  try {
    pqxx::nontransaction tx(*c);
    std::optional<std::string> key = o.idempotency_key;
    auto r = tx.exec_prepared(sql::kSubmitJob, o.prompt, o.negative_prompt, o.model, o.params_json,
                              o.priority, key, o.max_attempts, o.delay_ms);
    if (r.empty()) {
      auto e = tx.exec_prepared(sql::kJobByIdempotencyKey, *o.idempotency_key);
      if (e.empty()) throw std::runtime_error("idempotency key conflict but no job found");
      id = e[0][0].as<int64_t>();
      existing = true;
    } else {
      id = r[0][0].as<int64_t>();
    }
  } catch (const pqxx::sql_error& e) {
    if (dynamic_cast<const pqxx::broken_connection*>(&e)) throw;
    err << "framefarm-dispatcher submit: rejected: " << pg_message(e) << '\n';
    return kExitRejected;
  }
  if (!o.wait) {
    if (req.json) {
      json::Object j;
      j.set("id", static_cast<long long>(id));
      j.set("existing", existing);
      out << json::dump(json::Value(std::move(j))) << '\n';
    } else {
      out << (existing ? "existing job " : "submitted job ") << id << '\n';
    }
    return kExitOk;
  }
  if (!req.json) err << (existing ? "existing job " : "submitted job ") << id << ", waiting\n";
  auto j = wait_job(*c, id, o.wait_timeout_ms);
  if (!j) {
    err << "framefarm-dispatcher submit: job " << id << " did not finish within "
        << o.wait_timeout_ms << " ms\n";
    return kExitTimeout;
  }
  if (req.json) out << json::dump(json::Value(*j)) << '\n';
  else print_job_text(*j, out);
  return j->at("state").as_string() == "succeeded" ? kExitOk : kExitJobFailed;
}

int cmd_status(const CliRequest& req, std::ostream& out, std::ostream& err) {
  int64_t id = parse_job_id(req);
  auto c = connect(req);
  auto j = fetch_job(*c, id);
  if (!j) {
    err << "framefarm-dispatcher status: no job with id " << id << '\n';
    return kExitNotFound;
  }
  if (req.json) out << json::dump(json::Value(*j)) << '\n';
  else print_job_text(*j, out);
  return kExitOk;
}

int cmd_list(const CliRequest& req, std::ostream& out, std::ostream&) {
  std::optional<std::string> state;
  if (auto s = req.flags.get("state")) {
    if (!parse_job_state(*s)) {
      std::string all;
      for (auto n : kJobStateNames) all += (all.empty() ? "" : ", ") + std::string(n);
      throw UsageError("--state: '" + *s + "' is not a job state (" + all + ")");
    }
    state = *s;
  }
  int64_t limit = 20;
  if (auto l = req.flags.get("limit")) limit = ff::config::parse_int("--limit", *l, 1, 100000);
  auto c = connect(req);
  pqxx::nontransaction tx(*c);
  auto r = tx.exec_prepared(sql::kListJobs, state, limit);
  if (req.json) {
    json::Array a;
    for (const auto& row : r) a.push_back(json::Value(job_json(row)));
    out << json::dump(json::Value(std::move(a))) << '\n';
    return kExitOk;
  }
  out << "ID        STATE       ATTEMPTS  WORKER                PROMPT\n";
  for (const auto& row : r) {
    std::string prompt = row[3].as<std::string>();
    if (prompt.size() > 40) prompt = prompt.substr(0, 37) + "...";
    for (auto& ch : prompt)
      if (ch == '\n' || ch == '\t') ch = ' ';
    char line[256];
    std::snprintf(line, sizeof line, "%-9lld %-11s %d/%-7d %-21s ", static_cast<long long>(row[0].as<int64_t>()),
                  row[1].c_str(), row[8].as<int>(), row[9].as<int>(),
                  row[12].is_null() ? "-" : row[12].c_str());
    out << line << prompt << '\n';
  }
  return kExitOk;
}

int cmd_cancel(const CliRequest& req, std::ostream& out, std::ostream& err) {
  int64_t id = parse_job_id(req);
  auto c = connect(req);
  pqxx::nontransaction tx(*c);
  auto r = tx.exec_prepared1(sql::kCancelJob, id);
  if (r[0].is_null()) {
    err << "framefarm-dispatcher cancel: no job with id " << id << '\n';
    return kExitNotFound;
  }
  std::string state = r[0].as<std::string>();
  std::string outcome;
  int rc = kExitOk;
  if (state == "cancelled") outcome = "cancelled";
  else if (state == "leased" || state == "running") outcome = "cancel requested (the worker stops at its next step)";
  else {
    outcome = "not cancelled: the job already ended as " + state;
    rc = kExitRejected;
  }
  if (req.json) {
    json::Object j;
    j.set("id", static_cast<long long>(id));
    j.set("state", state);
    j.set("cancelled", state == "cancelled");
    j.set("cancel_requested", state == "leased" || state == "running");
    out << json::dump(json::Value(std::move(j))) << '\n';
  } else {
    (rc == kExitOk ? out : err) << "job " << id << ": " << outcome << '\n';
  }
  return rc;
}

int cmd_retry(const CliRequest& req, std::ostream& out, std::ostream& err) {
  int64_t id = parse_job_id(req);
  auto c = connect(req);
  pqxx::nontransaction tx(*c);
  auto r = tx.exec_prepared(sql::kRetryJob, id);
  if (r.empty()) {
    err << "framefarm-dispatcher retry: no job with id " << id << '\n';
    return kExitNotFound;
  }
  std::string before = r[0][0].as<std::string>();
  bool requeued = r[0][1].as<bool>();
  if (req.json) {
    json::Object j;
    j.set("id", static_cast<long long>(id));
    j.set("previous_state", before);
    j.set("requeued", requeued);
    out << json::dump(json::Value(std::move(j))) << '\n';
  } else if (requeued) {
    out << "job " << id << ": requeued (was " << before << ")\n";
  }
  if (!requeued) {
    if (!req.json)
      err << "framefarm-dispatcher retry: job " << id << " is " << before
          << "; only dead, cancelled or retry_wait jobs can be retried\n";
    return kExitRejected;
  }
  return kExitOk;
}

int cmd_workers(const CliRequest& req, std::ostream& out, std::ostream&) {
  auto c = connect(req);
  pqxx::nontransaction tx(*c);
  auto r = tx.exec_prepared(sql::kListWorkers, req.flags.has("all"));
  if (req.json) {
    json::Array a;
    for (const auto& row : r) {
      json::Object o;
      o.set("worker_id", opt_text(row[0]));
      o.set("dispatcher_id", opt_text(row[1]));
      o.set("status", opt_text(row[2]));
      o.set("gpu_name", opt_text(row[3]));
      o.set("model", opt_text(row[4]));
      o.set("vram_total_bytes", opt_int(row[5]));
      o.set("vram_budget_bytes", opt_int(row[6]));
      o.set("max_encode_batch", opt_int(row[7]));
      o.set("encoder_fingerprint", opt_text(row[8]));
      o.set("components_resident", opt_text(row[9]));
      o.set("credit", opt_int(row[10]));
      o.set("jobs_in_flight", opt_int(row[11]));
      o.set("registered_at", opt_text(row[12]));
      o.set("last_seen_at", opt_text(row[13]));
      o.set("last_seen_ms_ago", opt_int(row[14]));
      a.push_back(json::Value(std::move(o)));
    }
    out << json::dump(json::Value(std::move(a))) << '\n';
    return kExitOk;
  }
  out << "WORKER                    STATUS  GPU                 MODEL        CREDIT  IN_FLIGHT  SEEN_MS_AGO  DISPATCHER\n";
  for (const auto& row : r) {
    char line[512];
    std::snprintf(line, sizeof line, "%-25s %-7s %-19s %-12s %-7lld %-10lld %-12lld %s\n", row[0].c_str(),
                  row[2].c_str(), row[3].c_str(), row[4].c_str(),
                  static_cast<long long>(row[10].as<int64_t>()), static_cast<long long>(row[11].as<int64_t>()),
                  static_cast<long long>(row[14].as<int64_t>()), row[1].c_str());
    out << line;
  }
  return kExitOk;
}

int cmd_migrate(const CliRequest& req, std::ostream& out, std::ostream&) {
  std::string dir = default_schema_dir().string();
  if (auto d = req.flags.get("schema-dir")) dir = *d;
  auto r = migrate(req.database_url, dir);
  if (req.json) {
    json::Array a, s;
    for (auto& f : r.applied) a.push_back(json::Value(f));
    for (auto& f : r.skipped) s.push_back(json::Value(f));
    json::Object o;
    o.set("applied", json::Value(std::move(a)));
    o.set("already_applied", json::Value(std::move(s)));
    out << json::dump(json::Value(std::move(o))) << '\n';
  } else {
    for (auto& f : r.applied) out << "applied " << f << '\n';
    if (r.applied.empty()) out << "schema up to date (" << r.skipped.size() << " migrations applied before)\n";
  }
  return kExitOk;
}

// keygen: a CURVE key pair for a dispatcher (--curve-key-file) or a worker (its public key goes
// into the dispatcher's --authorized-keys as "<key> <worker name>").
int cmd_keygen(const CliRequest& req, std::ostream& out, std::ostream& err) {
  auto file = req.flags.get("out");
  if (!file) throw UsageError("keygen: --out FILE is required");
  CurveKeyPair keys = generate_curve_keypair();
  write_curve_keys(*file, keys);
  if (auto pub = req.flags.get("public-out")) write_curve_keys(*pub, CurveKeyPair{keys.public_key, ""});
  if (req.json) {
    json::Object o;
    o.set("public_key", keys.public_key);
    o.set("file", *file);
    out << json::dump(json::Value(std::move(o))) << '\n';
  } else {
    out << keys.public_key << '\n';
  }
  (void)err;
  return kExitOk;
}

std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) { g_stop.store(true); }

int cmd_serve(const CliRequest& req, std::ostream& out, std::ostream& err) {
  ServeConfig cfg = decode_serve_config(req.flags);
  std::signal(SIGTERM, on_stop_signal);
  std::signal(SIGINT, on_stop_signal);
  zmq::context_t ctx(1);
  Dispatcher d(cfg, ctx);
  std::string ep;
  try {
    ep = d.bind();
  } catch (const zmq::error_t& e) {
    err << "framefarm-dispatcher serve: cannot bind " << cfg.bind_endpoint << ": " << e.what() << '\n';
    return kExitUsage;
  }
  std::unique_ptr<DispatcherMetrics> metrics;  // dispatcher/metrics.hpp: own thread + connection
  if (!cfg.metrics_bind.empty()) {
    try {
      metrics = std::make_unique<DispatcherMetrics>(
          DispatcherMetricsConfig{cfg.metrics_bind, cfg.database_url, cfg.metrics_interval_ms}, &d.stats());
    } catch (const std::exception& e) {
      err << "framefarm-dispatcher serve: --metrics-bind: " << e.what() << '\n';
      return kExitUsage;
    }
    metrics->start();
  }
  if (req.json) {
    json::Object o;
    o.set("endpoint", ep);
    o.set("dispatcher_id", d.config().dispatcher_id);
    if (metrics) o.set("metrics_port", json::Value(metrics->port()));
    out << json::dump(json::Value(std::move(o))) << std::endl;
  } else {
    out << "dispatcher " << d.config().dispatcher_id << " listening on " << ep << std::endl;
  }
  d.run(g_stop);
  return kExitOk;
}

}  // namespace

CliRequest parse_cli(const std::vector<std::string>& args) {
  CliRequest req;
  if (args.empty()) throw UsageError("missing command (one of: submit, status, list, cancel, retry, workers, migrate, serve)");
  req.command = args[0];
  if (req.command == "--help" || req.command == "-h" || req.command == "help") {
    req.command.clear();
    req.help = true;
    return req;
  }
  if (std::find(kCommands.begin(), kCommands.end(), req.command) == kCommands.end())
    throw UsageError("unknown command '" + req.command + "' (one of: submit, status, list, cancel, retry, workers, migrate, serve)");
  std::vector<std::string> rest(args.begin() + 1, args.end());
  auto specs = flags_of(req.command);
  req.flags = ff::config::parse_flags(rest, specs);
  req.help = req.flags.has("help");
  req.json = req.flags.has("json");
  if (req.help) return req;
  if (auto d = req.flags.get("database")) {
    check_database_url(*d);
    req.database_url = *d;
  }
  size_t want = positionals_of(req.command);
  if (req.flags.positionals.size() != want) {
    if (req.flags.positionals.size() < want)
      throw UsageError(req.command + ": missing argument (usage: framefarm-dispatcher " + kUsage.at(req.command) + ")");
    throw UsageError(req.command + ": unexpected argument '" + req.flags.positionals[want] + "'");
  }
  return req;
}

SubmitOptions decode_submit(const CliRequest& req) {
  using ff::config::parse_int;
  SubmitOptions o;
  const auto& f = req.flags;
  o.prompt = f.positionals.at(0);
  if (o.prompt.empty()) throw UsageError("submit: the prompt must not be empty");
  if (o.prompt.size() > proto::kMaxPromptBytes)
    throw UsageError("submit: the prompt is " + std::to_string(o.prompt.size()) + " bytes, the maximum is " +
                     std::to_string(proto::kMaxPromptBytes));
  if (auto v = f.get("negative")) o.negative_prompt = *v;
  if (o.negative_prompt && o.negative_prompt->size() > proto::kMaxPromptBytes)
    throw UsageError("--negative: the negative prompt is " + std::to_string(o.negative_prompt->size()) +
                     " bytes, the maximum is " + std::to_string(proto::kMaxPromptBytes));
  if (auto v = f.get("model")) o.model = *v;
  if (auto v = f.get("priority")) o.priority = parse_int("--priority", *v, -1000000, 1000000);
  // Params: checked with the rules the database applies (same messages), before connecting.
  json::Object params;
  for (const auto& p : params::specs()) {
    auto v = f.get(std::string(p.flag));
    if (!v) continue;
    json::Value value = param_value(p, *v);
    const bool literal = value.is_number() || value.is_bool();
    if (auto e = params::check(p, value, literal ? std::string_view(*v) : std::string_view()))
      throw UsageError("--" + std::string(p.flag) + ": " + *e);
    params.set(std::string(p.key), std::move(value));
  }
  o.params_json = json::dump(json::Value(std::move(params)));
  if (auto v = f.get("idempotency-key")) {
    if (v->empty() || v->size() > 200) throw UsageError("--idempotency-key: must be 1..200 bytes");
    o.idempotency_key = *v;
  }
  if (auto v = f.get("max-attempts")) o.max_attempts = parse_int("--max-attempts", *v, 1, 100);
  if (auto v = f.get("delay-ms")) o.delay_ms = parse_int("--delay-ms", *v, 0, 365LL * 86400 * 1000);
  o.wait = f.has("wait");
  if (auto v = f.get("wait-timeout-ms")) {
    if (!o.wait) throw UsageError("--wait-timeout-ms needs --wait");
    o.wait_timeout_ms = parse_int("--wait-timeout-ms", *v, 1, 365LL * 86400 * 1000);
  }
  return o;
}

int64_t parse_job_id(const CliRequest& req) {
  return ff::config::parse_int(req.command + ": job id", req.flags.positionals.at(0), 1, INT64_MAX);
}

std::string cli_help(const std::string& command) {
  std::string exit_codes =
      "\nExit codes: 0 ok, 1 runtime error (database unreachable), 2 usage error, 3 rejected (bad job\n"
      "or not allowed in the job's state), 4 no such job, 5 --wait: job ended dead/cancelled,\n"
      "6 --wait timed out.\n"
      "Database: --database postgresql://user@host:port/db, or the libpq environment (PGHOST,\n"
      "PGPORT, PGUSER, PGDATABASE, PGPASSWORD/~/.pgpass). A password in the URL is refused.\n";
  if (command.empty()) {
    std::string s = "usage: framefarm-dispatcher COMMAND [options]\n\nCommands:\n";
    for (const auto& c : kCommands) s += "  " + kUsage.at(c) + "\n";
    s += "\nRun `framefarm-dispatcher COMMAND --help` for its options.\n" + exit_codes;
    return s;
  }
  auto specs = flags_of(command);
  return "usage: framefarm-dispatcher " + kUsage.at(command) + "\n\nOptions:\n" +
         ff::config::format_flags(specs) + exit_codes;
}

int run_cli(const CliRequest& req, std::ostream& out, std::ostream& err) {
  const std::string prog = "framefarm-dispatcher" + (req.command.empty() ? "" : " " + req.command);
  if (req.help) {
    out << cli_help(req.command);
    return kExitOk;
  }
  try {
    if (req.command == "submit") return cmd_submit(req, out, err);
    if (req.command == "status") return cmd_status(req, out, err);
    if (req.command == "list") return cmd_list(req, out, err);
    if (req.command == "cancel") return cmd_cancel(req, out, err);
    if (req.command == "retry") return cmd_retry(req, out, err);
    if (req.command == "workers") return cmd_workers(req, out, err);
    if (req.command == "migrate") return cmd_migrate(req, out, err);
    if (req.command == "serve") return cmd_serve(req, out, err);
    if (req.command == "keygen") return cmd_keygen(req, out, err);
    err << "framefarm-dispatcher: unknown command '" << req.command << "'\n";
    return kExitUsage;
  } catch (const UsageError& e) {
    err << prog << ": " << e.what() << "\n(see `" << prog << " --help`)\n";
    return kExitUsage;
  } catch (const pqxx::broken_connection& e) {
    err << prog << ": cannot connect to the database: " << pg_message(e) << '\n';
    return kExitError;
  } catch (const pqxx::sql_error& e) {
    err << prog << ": database error: " << pg_message(e) << '\n';
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
    std::string cmd = !args.empty() && std::find(kCommands.begin(), kCommands.end(), args[0]) != kCommands.end()
                          ? " " + args[0] : "";
    err << "framefarm-dispatcher" << cmd << ": " << e.what() << "\n(see `framefarm-dispatcher" << cmd
        << " --help`)\n";
    return kExitUsage;
  }
  return run_cli(req, out, err);
}

}  // namespace ff::dispatcher
