#include "dispatcher/config.hpp"

#include "dispatcher/curve_auth.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <random>

namespace ff::dispatcher {

using ff::config::FlagSpec;
using ff::config::parse_int;
using ff::config::UsageError;

std::vector<FlagSpec> serve_flag_specs() {
  return {
      {"database", "URL", "PostgreSQL URL without password (default: libpq environment)"},
      {"bind", "ENDPOINT", "ZeroMQ ROUTER endpoint for workers (default tcp://*:5555)"},
      {"dispatcher-id", "ID", "name of this dispatcher instance, owner of its leases (default <hostname>:<port>: the same after a restart)"},
      {"heartbeat-interval-ms", "MS", "heartbeat period both ways (default 1000)"},
      {"heartbeat-misses-dead", "N", "silent intervals before a worker is dead (default 3)"},
      {"lease-timeout-ms", "MS", "lease expiry, renewed while the worker lives (default 30000)"},
      {"poll-interval-ms", "MS", "claim poll backstop besides LISTEN (default 250)"},
      {"reap-interval-ms", "MS", "expired-lease sweep period (default 1000)"},
      {"claim-batch-max", "N", "most jobs claimed by one statement (default 512)"},
      {"shutdown-grace-ms", "MS", "on SIGTERM, wait for running jobs this long (default 5000)"},
      {"retry-backoff-base-ms", "MS", "first retry delay before jitter (default 1000)"},
      {"retry-backoff-max-ms", "MS", "retry delay cap before jitter (default 60000)"},
      {"metrics-bind", "ADDR:PORT", "serve Prometheus /metrics here, e.g. 127.0.0.1:9460 (default: none)"},
      {"metrics-interval-ms", "MS", "queue metrics refresh period (default 5000)"},
      {"statement-timeout-ms", "MS", "server cancels a statement blocked this long; 0 = none (default 10000)"},
      {"db-connect-timeout-s", "S", "give up a PostgreSQL connect attempt after this (default 5)"},
      {"job-deadline-ms", "MS", "cancel and fail a job running this long; jobs.deadline_ms overrides; 0 = none (default 14400000)"},
      {"curve-key-file", "FILE", "this dispatcher's CURVE key pair (framefarm-dispatcher keygen); enables encryption + worker authentication"},
      {"authorized-keys", "FILE", "worker public keys, '<key> <worker name>' per line; reloaded when it changes (required with --curve-key-file)"},
      {"insecure-bind", "", "without CURVE keys, bind a non-loopback --bind anyway (anyone reaching the port can act as a worker)"},
      {"handshake-timeout-ms", "MS", "drop a connection that has not completed its handshake (default 5000)"},
      {"max-worker-slots", "N", "most jobs one worker may hold (credit cap, default 1024)"},
      {"max-worker-msgs-per-s", "N", "messages per second per worker connection; beyond it frames are dropped (default 20000)"},
      {"retention-ms", "MS", "delete succeeded/dead/cancelled jobs finished longer ago; 0 = keep (default 604800000 = 7 days)"},
      {"retention-batch", "N", "rows per retention delete (default 500)"},
      {"retention-interval-ms", "MS", "retention sweep period (default 10000)"},
      {"json", "", "print the bound endpoint as JSON on start"},
      {"help", "", "show this help"},
  };
}

ServeConfig decode_serve_config(const ff::config::ParsedFlags& f) {
  ServeConfig c;
  auto i64 = [&](const char* flag, int64_t& field, int64_t lo, int64_t hi) {
    if (auto v = f.get(flag)) field = parse_int(std::string("--") + flag, *v, lo, hi);
  };
  if (auto v = f.get("database")) {
    check_database_url(*v);
    c.database_url = *v;
  }
  if (auto v = f.get("bind")) {
    if (v->find("://") == std::string::npos)
      throw UsageError("--bind: '" + *v + "' is not a ZeroMQ endpoint like tcp://*:5555");
    c.bind_endpoint = *v;
  }
  if (auto v = f.get("dispatcher-id")) {
    if (v->empty() || v->size() > 200) throw UsageError("--dispatcher-id: must be 1..200 characters");
    c.dispatcher_id = *v;
  }
  i64("heartbeat-interval-ms", c.heartbeat_interval_ms, 10, 600000);
  i64("heartbeat-misses-dead", c.heartbeat_misses_dead, 2, 100);
  i64("lease-timeout-ms", c.lease_timeout_ms, 100, 86400000);
  i64("poll-interval-ms", c.poll_interval_ms, 1, 600000);
  i64("reap-interval-ms", c.reap_interval_ms, 10, 600000);
  i64("claim-batch-max", c.claim_batch_max, 1, 100000);
  i64("shutdown-grace-ms", c.shutdown_grace_ms, 0, 3600000);
  i64("retry-backoff-base-ms", c.retry_backoff.base_ms, 0, 86400000);
  i64("retry-backoff-max-ms", c.retry_backoff.max_ms, 0, 86400000);
  i64("metrics-interval-ms", c.metrics_interval_ms, 100, 3600000);
  if (auto v = f.get("metrics-bind")) {
    const auto colon = v->rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == v->size() ||
        v->find_first_not_of("0123456789", colon + 1) != std::string::npos)
      throw UsageError("--metrics-bind: '" + *v + "' is not ADDR:PORT like 127.0.0.1:9460");
    c.metrics_bind = *v;
  }
  i64("statement-timeout-ms", c.pg.statement_timeout_ms, 0, 86400000);
  i64("db-connect-timeout-s", c.pg.connect_timeout_s, 2, 3600);
  i64("job-deadline-ms", c.job_deadline_ms, 0, 30LL * 86400000);
  if (c.pg.statement_timeout_ms != 0 && c.pg.statement_timeout_ms < 100)
    throw UsageError("--statement-timeout-ms must be 0 (none) or at least 100");
  if (c.job_deadline_ms != 0 && c.job_deadline_ms < 100)
    throw UsageError("--job-deadline-ms must be 0 (none) or at least 100");
  i64("handshake-timeout-ms", c.handshake_timeout_ms, 100, 600000);
  i64("retention-ms", c.retention_ms, 0, 100LL * 365 * 86400000);
  i64("retention-batch", c.retention_batch, 1, 100000);
  i64("retention-interval-ms", c.retention_interval_ms, 10, 86400000);
  i64("max-worker-slots", c.max_worker_slots, 1, 100000);
  i64("max-worker-msgs-per-s", c.max_worker_msgs_per_s, 10, 10000000);
  c.insecure_bind = f.get("insecure-bind").has_value();
  auto key_file = f.get("curve-key-file");
  auto auth_file = f.get("authorized-keys");
  if (key_file.has_value() != auth_file.has_value())
    throw UsageError("--curve-key-file and --authorized-keys go together");
  if (key_file) {
    try {
      if (!curve_available()) throw std::runtime_error("this libzmq was built without CURVE (libsodium)");
      auto keys = load_curve_keys(*key_file, true);
      (void)load_authorized_keys(*auth_file);  // checked now: a typo is a usage error, not a crash
      c.curve_secret_key = keys.secret_key;
      c.curve_public_key = keys.public_key;
      c.authorized_keys_file = *auth_file;
    } catch (const std::runtime_error& e) {
      throw UsageError(std::string("--curve-key-file/--authorized-keys: ") + e.what());
    }
  }
  if (c.retry_backoff.max_ms < c.retry_backoff.base_ms)
    throw UsageError("--retry-backoff-max-ms must be >= --retry-backoff-base-ms");
  if (c.lease_timeout_ms < 2 * c.heartbeat_interval_ms)
    throw UsageError("--lease-timeout-ms must be at least 2 x --heartbeat-interval-ms");
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
  const std::string advice =
      "; never put a password on the command line: use ~/.pgpass, PGPASSFILE or PGPASSWORD";
  // URI form: postgresql://user:password@host/...
  for (const char* scheme : {"postgresql://", "postgres://"}) {
    if (url.rfind(scheme, 0) == 0) {
      std::string rest = url.substr(std::char_traits<char>::length(scheme));
      auto at = rest.find('@');
      auto slash = rest.find('/');
      if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
        std::string userinfo = rest.substr(0, at);
        if (userinfo.find(':') != std::string::npos)
          throw UsageError("--database: the URL contains a password" + advice);
      }
      std::string lower = url;
      std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
      if (lower.find("password=") != std::string::npos)
        throw UsageError("--database: the URL contains a password parameter" + advice);
      return;
    }
  }
  // key=value conninfo form
  std::string lower = url;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  auto p = lower.find("password");
  while (p != std::string::npos) {
    size_t q = p + 8;
    while (q < lower.size() && std::isspace(static_cast<unsigned char>(lower[q]))) ++q;
    if (q < lower.size() && lower[q] == '=' && (p == 0 || !std::isalnum(static_cast<unsigned char>(lower[p - 1]))))
      throw UsageError("--database: the connection string contains a password" + advice);
    p = lower.find("password", p + 1);
  }
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
