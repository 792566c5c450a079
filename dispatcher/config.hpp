// Dispatcher configuration: plain structs, decoded from flags in ONE place (config.cpp): each
// `serve` flag is a CLI11 option bound to a field below, whose initializer is the default shown
// in --help; finish_serve_config() checks what one flag alone cannot.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/config.hpp"  // ff::config::UsageError
#include "dispatcher/pg_options.hpp"

namespace CLI {
class App;
}

namespace ff::dispatcher {

// Exponential backoff with jitter for retries and reconnects.
struct BackoffConfig {
  int64_t base_ms = 1000;    // delay before the 2nd attempt (before jitter)
  int64_t max_ms = 60000;    // cap (before jitter)
};

struct ServeConfig {
  std::string database_url;                 // "" = libpq environment (PGHOST, PGDATABASE, ...)
  std::string bind_endpoint = "tcp://*:5555";
  // "" = default_dispatcher_id(bound endpoint), set by Dispatcher::bind(): <hostname>:<port>,
  // the same after a restart, so the restarted process releases what its predecessor leased and
  // no worker re-announces (one silence window after it connects) instead of waiting for expiry.
  std::string dispatcher_id;
  int64_t heartbeat_interval_ms = 1000;
  int64_t heartbeat_misses_dead = 3;        // a worker silent this many intervals is dead
  int64_t lease_timeout_ms = 30000;         // renewed every lease_timeout_ms/3 while alive
  int64_t poll_interval_ms = 250;           // backstop when no NOTIFY arrives
  int64_t reap_interval_ms = 1000;          // how often expired leases (any dispatcher) are requeued
  int64_t claim_batch_max = 512;            // jobs per claim statement
  int64_t shutdown_grace_ms = 5000;         // SIGTERM: wait this long for running jobs' results
  BackoffConfig retry_backoff{1000, 60000};   // failed attempts -> retry_wait.run_after
  BackoffConfig reconnect_backoff{100, 5000}; // PostgreSQL reconnects
  std::string metrics_bind;                 // host:port of /metrics (dispatcher/metrics.hpp); "" = none
  int64_t metrics_interval_ms = 5000;       // queue metrics refresh period (own connection, own thread)
  PgTimeouts pg;                            // statement/connect timeouts, TCP keepalives
  // A job running longer than this on one worker (jobs.deadline_ms overrides it per job) is
  // cancelled on the worker and fails with error_kind 'deadline_exceeded' (retried while
  // attempts remain). 0 = no default deadline.
  int64_t job_deadline_ms = 4 * 3600 * 1000;
  // The worker link (dispatcher/curve_auth.hpp). Without CURVE keys a wildcard bind is narrowed
  // to 127.0.0.1 (and a non-loopback address refused) unless insecure_bind.
  std::string curve_key_file;         // --curve-key-file (read by finish_serve_config)
  std::string curve_secret_key;       // Z85, from curve_key_file
  std::string curve_public_key;
  std::string authorized_keys_file;   // --authorized-keys
  bool insecure_bind = false;
  int64_t handshake_timeout_ms = 5000;
  int64_t max_worker_slots = 1024;    // a Register/Credit beyond it is capped
  // Retention: terminal jobs finished longer ago than this are deleted (0 = keep forever), at
  // most retention_batch rows per statement, one statement per retention_interval_ms (at once
  // again while batches come back full).
  int64_t retention_ms = 7LL * 86400000;
  int64_t retention_batch = 500;
  int64_t retention_interval_ms = 10000;
  int64_t max_worker_msgs_per_s = 20000;  // per connection, sustained (bursts of as many)
};

// The endpoint to bind given the CURVE setting: `endpoint` itself with CURVE or insecure_bind;
// otherwise a wildcard host (*, 0.0.0.0) becomes 127.0.0.1 and another non-loopback host is
// refused (UsageError). `note` gets a line to log when the endpoint was narrowed.
std::string secure_bind_endpoint(const ServeConfig& c, std::string& note);

// Adds the flags of `serve` (plus --database) to `app`, bound to the fields of `c`; `c` must
// outlive the parse. Single-flag rules (ranges, endpoint forms) are checked while parsing.
void add_serve_flags(CLI::App& app, ServeConfig& c);

// Checks what needs several flags or I/O once `c` is parsed: a password in database_url, the
// CURVE pair (both or neither; the files are read now so a typo is a usage error, not a crash
// later), timeouts that are 0 or >= 100, backoff max >= base, lease >= 2 heartbeats. Throws
// ff::config::UsageError naming the flags.
void finish_serve_config(ServeConfig& c);

// add_serve_flags + parse `args` (without the command) + finish_serve_config: the whole decode,
// for tests. Throws ff::config::UsageError (--help is one too here).
ServeConfig decode_serve_config(const std::vector<std::string>& args);

// Rejects a database URL/conninfo that carries a password (command lines are visible to every
// user via ps): throws UsageError telling to use ~/.pgpass or PGPASSWORD instead.
void check_database_url(const std::string& url);

// Default dispatcher id: "<hostname>:<port>" of a tcp:// endpoint (stable across restarts; two
// live dispatchers on one host cannot share a port), else "<hostname>:<pid>:<4 random hex>".
std::string default_dispatcher_id(const std::string& bound_endpoint);

}  // namespace ff::dispatcher
