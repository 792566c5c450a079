// Throwaway PostgreSQL 15 cluster for pg/e2e tests and benchmarks.
//
// The constructor copies a data directory made once per machine by initdb (kept in
// /tmp/ff-pg-template-15-<user>; initdb takes seconds on a busy machine) and runs pg_ctl start (binaries from /usr/lib/postgresql/15/bin, or
// $FF_PG_BIN) in a fresh mktemp directory, on a free loopback port, with fsync off and the unix
// socket in that directory. When the process runs as root, both run as user `postgres` via
// runuser (initdb refuses root). The destructor stops the server (immediate mode) and removes the
// directory. Not thread-safe: one owner thread calls every method.
#pragma once

#include <string>

namespace ff::test {

class PgCluster {
 public:
  // Starts a cluster; throws std::runtime_error (with the server log tail) on failure.
  PgCluster();
  ~PgCluster();
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  // libpq URL of the `postgres` database as superuser `postgres` (trust auth, no password),
  // e.g. "postgresql://postgres@127.0.0.1:54012/postgres".
  std::string url() const;
  // Same server, another database name / user (the database must exist).
  std::string url(const std::string& dbname, const std::string& user = "postgres") const;
  int port() const { return port_; }
  const std::string& dir() const { return root_; }     // temp root (socket dir, log)
  std::string data_dir() const { return root_ + "/data"; }

  // Stops the server (fast mode: disconnects clients). Idempotent.
  void stop();
  // Starts it again on the same port and data directory. Idempotent.
  void start();
  // stop() then start().
  void restart();
  bool running() const { return running_; }

  // Runs SQL through psql as superuser; returns stdout; throws with stderr on failure.
  std::string psql(const std::string& sql) const;
  // Applies every NNN_*.sql file of schema_dir in name order, each in one transaction, to
  // database `dbname` as superuser: the tables the migrations make, without the dispatcher (and
  // without its framefarm.schema_migrations bookkeeping). Throws naming the file that failed
  // (with psql's message), or when schema_dir holds no such file.
  void apply_schema(const std::string& schema_dir, const std::string& dbname = "postgres") const;
  // Last `max_bytes` of the server log, for diagnostics.
  std::string log_tail(size_t max_bytes = 4000) const;

 private:
  std::string as_pg_user(const std::string& cmd) const;
  std::string root_;
  std::string bin_;
  int port_ = 0;
  bool root_user_ = false;
  bool running_ = false;
};

// Picks a currently free TCP port on 127.0.0.1 (bind to port 0, read it back, close).
int free_tcp_port();

}  // namespace ff::test
