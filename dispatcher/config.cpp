#include "dispatcher/config.hpp"

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
      {"dispatcher-id", "ID", "name of this dispatcher instance (default host:pid:random)"},
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
  if (c.retry_backoff.max_ms < c.retry_backoff.base_ms)
    throw UsageError("--retry-backoff-max-ms must be >= --retry-backoff-base-ms");
  if (c.lease_timeout_ms < 2 * c.heartbeat_interval_ms)
    throw UsageError("--lease-timeout-ms must be at least 2 x --heartbeat-interval-ms");
  if (c.dispatcher_id.empty()) c.dispatcher_id = default_dispatcher_id();
  return c;
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

std::string default_dispatcher_id() {
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  std::random_device rd;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04x", static_cast<unsigned>(rd() & 0xffff));
  return std::string(host) + ":" + std::to_string(::getpid()) + ":" + buf;
}

}  // namespace ff::dispatcher
