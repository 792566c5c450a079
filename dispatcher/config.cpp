#include "dispatcher/config.hpp"

#include <libpq-fe.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <random>

#include "common/cli_flags.hpp"
#include "dispatcher/curve_auth.hpp"

namespace ff::dispatcher {

using ff::config::UsageError;

namespace {

// --bind: a ZeroMQ endpoint (transport://address).
std::string endpoint_problem(std::string& v) {
  if (v.find("://") == std::string::npos) return "'" + v + "' is not a ZeroMQ endpoint like tcp://*:5555";
  return {};
}

std::string dispatcher_id_problem(std::string& v) {
  if (v.empty() || v.size() > 200) return "must be 1..200 characters";
  return {};
}

std::string metrics_bind_problem(std::string& v) {
  const auto colon = v.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == v.size() ||
      v.find_first_not_of("0123456789", colon + 1) != std::string::npos)
    return "'" + v + "' is not ADDR:PORT like 127.0.0.1:9460";
  return {};
}

}  // namespace

void add_serve_flags(CLI::App& app, ServeConfig& c) {
  using ff::cli::integer;
  app.add_option("--database", c.database_url, "PostgreSQL URL without password; empty = libpq environment")
      ->type_name("URL");
  app.add_option("--bind", c.bind_endpoint, "ZeroMQ ROUTER endpoint for workers")
      ->type_name("ENDPOINT")
      ->check(CLI::Validator(endpoint_problem, ""));
  app.add_option("--dispatcher-id", c.dispatcher_id,
                 "name of this dispatcher instance, owner of its leases; empty = <hostname>:<port> "
                 "(the same after a restart)")
      ->type_name("ID")
      ->check(CLI::Validator(dispatcher_id_problem, ""));
  auto ms = [&](const char* flag, int64_t& field, int64_t lo, int64_t hi, const char* help) {
    app.add_option(flag, field, help)->type_name("MS")->check(integer(lo, hi));
  };
  auto n = [&](const char* flag, int64_t& field, int64_t lo, int64_t hi, const char* help) {
    app.add_option(flag, field, help)->type_name("N")->check(integer(lo, hi));
  };
  ms("--heartbeat-interval-ms", c.heartbeat_interval_ms, 10, 600000, "heartbeat period both ways");
  n("--heartbeat-misses-dead", c.heartbeat_misses_dead, 2, 100, "silent intervals before a worker is dead");
  ms("--lease-timeout-ms", c.lease_timeout_ms, 100, 86400000, "lease expiry, renewed while the worker lives");
  ms("--poll-interval-ms", c.poll_interval_ms, 1, 600000, "claim poll backstop besides LISTEN");
  ms("--reap-interval-ms", c.reap_interval_ms, 10, 600000, "expired-lease sweep period");
  n("--claim-batch-max", c.claim_batch_max, 1, 100000, "most jobs claimed by one statement");
  ms("--shutdown-grace-ms", c.shutdown_grace_ms, 0, 3600000, "on SIGTERM, wait for running jobs this long");
  ms("--retry-backoff-base-ms", c.retry_backoff.base_ms, 0, 86400000, "first retry delay before jitter");
  ms("--retry-backoff-max-ms", c.retry_backoff.max_ms, 0, 86400000, "retry delay cap before jitter");
  app.add_option("--metrics-bind", c.metrics_bind, "serve Prometheus /metrics here, e.g. 127.0.0.1:9460; empty = none")
      ->type_name("ADDR:PORT")
      ->check(CLI::Validator(metrics_bind_problem, ""));
  ms("--metrics-interval-ms", c.metrics_interval_ms, 100, 3600000, "queue metrics refresh period");
  ms("--statement-timeout-ms", c.pg.statement_timeout_ms, 0, 86400000,
     "the server cancels a statement blocked this long; 0 = none, else >= 100");
  app.add_option("--db-connect-timeout-s", c.pg.connect_timeout_s, "give up a PostgreSQL connect attempt after this")
      ->type_name("S")
      ->check(integer(2, 3600));
  ms("--job-deadline-ms", c.job_deadline_ms, 0, 30LL * 86400000,
     "cancel and fail a job running this long; jobs.deadline_ms overrides; 0 = none, else >= 100");
  app.add_option("--curve-key-file", c.curve_key_file,
                 "this dispatcher's CURVE key pair (framefarm-dispatcher keygen); enables encryption + "
                 "worker authentication")
      ->type_name("FILE");
  app.add_option("--authorized-keys", c.authorized_keys_file,
                 "worker public keys, '<key> <worker name>' per line; reloaded when it changes (required "
                 "with --curve-key-file)")
      ->type_name("FILE");
  app.add_flag("--insecure-bind", c.insecure_bind,
               "without CURVE keys, bind a non-loopback --bind anyway (anyone reaching the port can act as "
               "a worker)");
  ms("--handshake-timeout-ms", c.handshake_timeout_ms, 100, 600000,
     "drop a connection that has not completed its handshake");
  n("--max-worker-slots", c.max_worker_slots, 1, 100000, "most jobs one worker may hold (credit cap)");
  n("--max-worker-msgs-per-s", c.max_worker_msgs_per_s, 10, 10000000,
    "messages per second per worker connection; beyond it frames are dropped");
  ms("--retention-ms", c.retention_ms, 0, 100LL * 365 * 86400000,
     "delete succeeded/dead/cancelled jobs finished longer ago; 0 = keep");
  n("--retention-batch", c.retention_batch, 1, 100000, "rows per retention delete");
  ms("--retention-interval-ms", c.retention_interval_ms, 10, 86400000, "retention sweep period");
}

void finish_serve_config(ServeConfig& c) {
  check_database_url(c.database_url);
  if (c.pg.statement_timeout_ms != 0 && c.pg.statement_timeout_ms < 100)
    throw UsageError("--statement-timeout-ms must be 0 (none) or at least 100");
  if (c.job_deadline_ms != 0 && c.job_deadline_ms < 100)
    throw UsageError("--job-deadline-ms must be 0 (none) or at least 100");
  if (c.curve_key_file.empty() != c.authorized_keys_file.empty())
    throw UsageError("--curve-key-file and --authorized-keys go together");
  if (!c.curve_key_file.empty()) {
    try {
      if (!curve_available()) throw std::runtime_error("this libzmq was built without CURVE (libsodium)");
      auto keys = load_curve_keys(c.curve_key_file, true);
      (void)load_authorized_keys(c.authorized_keys_file);  // checked now: a typo is a usage error, not a crash
      c.curve_secret_key = keys.secret_key;
      c.curve_public_key = keys.public_key;
    } catch (const std::runtime_error& e) {
      throw UsageError(std::string("--curve-key-file/--authorized-keys: ") + e.what());
    }
  }
  if (c.retry_backoff.max_ms < c.retry_backoff.base_ms)
    throw UsageError("--retry-backoff-max-ms must be >= --retry-backoff-base-ms");
  if (c.lease_timeout_ms < 2 * c.heartbeat_interval_ms)
    throw UsageError("--lease-timeout-ms must be at least 2 x --heartbeat-interval-ms");
}

ServeConfig decode_serve_config(const std::vector<std::string>& args) {
  ServeConfig c;
  CLI::App app("framefarm-dispatcher serve");
  ff::cli::configure(app, "framefarm-dispatcher serve [options]");
  add_serve_flags(app, c);
  if (!ff::cli::parse(app, args)) throw UsageError("--help is not a configuration");
  finish_serve_config(c);
  return c;
}

std::string secure_bind_endpoint(const ServeConfig& c, std::string& note) {
  note.clear();
  if (!c.curve_secret_key.empty() || c.insecure_bind) return c.bind_endpoint;
  const std::string ep = c.bind_endpoint;
  if (ep.rfind("tcp://", 0) != 0) return ep;  // ipc://, inproc://: local by nature
  std::string rest = ep.substr(6);
  auto colon = rest.rfind(':');
  std::string host = colon == std::string::npos ? rest : rest.substr(0, colon);
  std::string port = colon == std::string::npos ? "" : rest.substr(colon);
  if (host == "127.0.0.1" || host == "localhost" || host == "[::1]" || host == "::1" ||
      host.rfind("127.", 0) == 0)
    return ep;
  if (host == "*" || host == "0.0.0.0" || host == "[::]") {
    note = "no CURVE keys (--curve-key-file/--authorized-keys): listening on loopback only (" +
           std::string("tcp://127.0.0.1") + port + ", not " + ep + "); give keys, or --insecure-bind";
    return "tcp://127.0.0.1" + port;
  }
  throw UsageError("--bind " + ep + " is not loopback: without CURVE keys anyone reaching it could act as a "
                   "worker; give --curve-key-file and --authorized-keys (or --insecure-bind)");
}

void check_database_url(const std::string& url) {
  if (url.empty()) return;  // the libpq environment
  const std::string advice =
      "; never put a password on the command line: use ~/.pgpass, PGPASSFILE or PGPASSWORD";
  // libpq's own parser: the URI form (postgresql://user:pw@host/db?password=...) and key=value
  // conninfo (quoting, spaces around '=') are read exactly as the connection will read them.
  char* error = nullptr;
  std::unique_ptr<PQconninfoOption, void (*)(PQconninfoOption*)> options(PQconninfoParse(url.c_str(), &error),
                                                                         PQconninfoFree);
  if (!options) {
    std::string why = error ? error : "out of memory";
    PQfreemem(error);
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    throw UsageError("--database: not a PostgreSQL URL or connection string: " + why);
  }
  for (const PQconninfoOption* o = options.get(); o->keyword; ++o)
    if (std::string_view(o->keyword) == "password" && o->val)
      throw UsageError(std::string("--database: the ") +
                       (url.find("://") != std::string::npos ? "URL" : "connection string") +
                       " contains a password" + advice);
}

std::string default_dispatcher_id(const std::string& bound_endpoint) {
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  if (bound_endpoint.rfind("tcp://", 0) == 0) {
    auto colon = bound_endpoint.rfind(':');
    std::string port = bound_endpoint.substr(colon + 1);
    if (!port.empty() && port.find_first_not_of("0123456789") == std::string::npos)
      return std::string(host) + ":" + port;
  }
  std::random_device rd;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04x", static_cast<unsigned>(rd() & 0xffff));
  return std::string(host) + ":" + std::to_string(::getpid()) + ":" + buf;
}

}  // namespace ff::dispatcher
