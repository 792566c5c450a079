// Test fixture: a migrated throwaway cluster plus in-process dispatchers run on threads.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <pqxx/pqxx>
#include <zmq.hpp>

#include "dispatcher/migrate.hpp"
#include "dispatcher/server.hpp"
#include "tests/support/pg_cluster.hpp"

namespace ff::test {

// One throwaway cluster for the whole test process, migrated on first use: for files whose cases
// share a database (DispatcherEnv gives a case its own). Destroyed at exit.
inline PgCluster& migrated_cluster() {
  static PgCluster c;
  static const bool migrated = [] {
    dispatcher::migrate(c.url(), dispatcher::default_schema_dir());
    return true;
  }();
  (void)migrated;
  return c;
}

// A Dispatcher serving on its own thread until destroyed (stop flag, then join).
class RunningDispatcher {
 public:
  RunningDispatcher(zmq::context_t& ctx, dispatcher::ServeConfig cfg) : d_(std::move(cfg), ctx) {
    endpoint_ = d_.bind();
    thread_ = std::thread([this] { d_.run(stop_); });
  }
  ~RunningDispatcher() { stop(); }
  // Sets the stop flag (as SIGTERM does) and waits for run() to return.
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  const std::string& endpoint() const { return endpoint_; }
  const dispatcher::DispatcherStats& stats() const { return d_.stats(); }

 private:
  dispatcher::Dispatcher d_;
  std::atomic<bool> stop_{false};
  std::string endpoint_;
  std::thread thread_;
};

struct DispatcherEnv {
  PgCluster pg;
  zmq::context_t ctx{1};
  DispatcherEnv() { dispatcher::migrate(pg.url(), dispatcher::default_schema_dir()); }

  // Test-friendly timings; heartbeats of 1 s unless a test needs faster death detection.
  dispatcher::ServeConfig config(const std::string& id) const {
    dispatcher::ServeConfig c;
    c.database_url = pg.url();
    c.bind_endpoint = "tcp://127.0.0.1:*";
    c.dispatcher_id = id;
    c.heartbeat_interval_ms = 1000;
    c.lease_timeout_ms = 30000;
    c.poll_interval_ms = 50;
    c.reap_interval_ms = 100;
    c.retry_backoff = {50, 200};
    c.reconnect_backoff = {50, 500};
    c.shutdown_grace_ms = 200;
    return c;
  }

  // One-row, one-column query as text ("" for NULL).
  std::string q(const std::string& sql) const {
    pqxx::connection c(pg.url());
    pqxx::nontransaction tx(c);
    auto r = tx.exec(sql);
    if (r.empty() || r[0][0].is_null()) return "";
    return r[0][0].as<std::string>();
  }
  void exec(const std::string& sql) const {
    pqxx::connection c(pg.url());
    pqxx::nontransaction tx(c);
    tx.exec(sql);
  }
  // INSERT INTO framefarm.jobs <values_sql> RETURNING id.
  int64_t insert(const std::string& values_sql) const {
    return std::stoll(q("INSERT INTO framefarm.jobs " + values_sql + " RETURNING id"));
  }
  std::string state_of(int64_t id) const {
    return q("SELECT state FROM framefarm.jobs WHERE id = " + std::to_string(id));
  }
  // Polls a job's state until it is `want` or timeout; returns the last value.
  std::string wait_state(int64_t id, const std::string& want,
                         std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
    return wait_for("SELECT state FROM framefarm.jobs WHERE id = " + std::to_string(id), want, timeout);
  }
  // Polls `sql` until it returns `want` or timeout; returns the last value.
  std::string wait_for(const std::string& sql, const std::string& want,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string v;
    while (std::chrono::steady_clock::now() < deadline) {
      try {
        v = q(sql);
      } catch (const std::exception& e) {
        v = std::string("error: ") + e.what();
      }
      if (v == want) return v;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return v;
  }
};

}  // namespace ff::test
