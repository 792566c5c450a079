// The operator commands of framefarm-dispatcher: workers, migrate, keygen, serve
// (cli_commands.hpp).
#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "dispatcher/cli_commands.hpp"
#include "dispatcher/curve_auth.hpp"
#include "dispatcher/metrics.hpp"
#include "dispatcher/migrate.hpp"
#include "dispatcher/queries.hpp"
#include "dispatcher/server.hpp"

namespace ff::dispatcher::commands {
namespace {

using Json = nlohmann::ordered_json;

Json text_or_null(const pqxx::field& f) { return f.is_null() ? Json(nullptr) : Json(f.as<std::string>()); }
Json int_or_null(const pqxx::field& f) { return f.is_null() ? Json(nullptr) : Json(f.as<int64_t>()); }

// One row of sql::kListWorkers as JSON.
Json worker_json(const pqxx::row& row) {
  Json o = Json::object();
  for (const char* c : {"worker_id", "dispatcher_id", "status", "gpu_name", "model"}) o[c] = text_or_null(row[c]);
  for (const char* c : {"vram_total_bytes", "vram_budget_bytes", "max_encode_batch"}) o[c] = int_or_null(row[c]);
  o["encoder_fingerprint"] = text_or_null(row["encoder_fingerprint"]);
  o["components_resident"] = text_or_null(row["components_resident"]);
  o["credit"] = int_or_null(row["credit"]);
  o["jobs_in_flight"] = int_or_null(row["jobs_in_flight"]);
  o["registered_at"] = text_or_null(row["registered_at"]);
  o["last_seen_at"] = text_or_null(row["last_seen_at"]);
  o["last_seen_ms_ago"] = int_or_null(row["last_seen_ms_ago"]);
  return o;
}

std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) { g_stop.store(true); }

}  // namespace

int workers(const CliRequest& req, std::ostream& out, std::ostream&) {
  auto c = connect(req);
  pqxx::nontransaction tx(*c);
  auto r = tx.exec_prepared(sql::kListWorkers, req.all_workers);
  if (req.json) {
    Json a = Json::array();
    for (const auto& row : r) a.push_back(worker_json(row));
    out << a.dump() << '\n';
    return kExitOk;
  }
  out << "WORKER                    STATUS  GPU                 MODEL        CREDIT  IN_FLIGHT  SEEN_MS_AGO  DISPATCHER\n";
  for (const auto& row : r) {
    char line[512];
    std::snprintf(line, sizeof line, "%-25s %-7s %-19s %-12s %-7lld %-10lld %-12lld %s\n", row["worker_id"].c_str(),
                  row["status"].c_str(), row["gpu_name"].c_str(), row["model"].c_str(),
                  static_cast<long long>(row["credit"].as<int64_t>()),
                  static_cast<long long>(row["jobs_in_flight"].as<int64_t>()),
                  static_cast<long long>(row["last_seen_ms_ago"].as<int64_t>()), row["dispatcher_id"].c_str());
    out << line;
  }
  return kExitOk;
}

int migrate(const CliRequest& req, std::ostream& out, std::ostream&) {
  const std::string dir = req.schema_dir.empty() ? default_schema_dir().string() : req.schema_dir;
  auto r = ff::dispatcher::migrate(req.database_url, dir);
  if (req.json) {
    out << Json{{"applied", r.applied}, {"already_applied", r.skipped}}.dump() << '\n';
  } else {
    for (auto& f : r.applied) out << "applied " << f << '\n';
    if (r.applied.empty()) out << "schema up to date (" << r.skipped.size() << " migrations applied before)\n";
  }
  return kExitOk;
}

// keygen: a CURVE key pair for a dispatcher (--curve-key-file) or a worker (its public key goes
// into the dispatcher's --authorized-keys as "<key> <worker name>").
int keygen(const CliRequest& req, std::ostream& out, std::ostream&) {
  CurveKeyPair keys = generate_curve_keypair();
  write_curve_keys(req.keygen.out, keys);
  if (!req.keygen.public_out.empty()) write_curve_keys(req.keygen.public_out, CurveKeyPair{keys.public_key, ""});
  if (req.json) out << Json{{"public_key", keys.public_key}, {"file", req.keygen.out}}.dump() << '\n';
  else out << keys.public_key << '\n';
  return kExitOk;
}

int serve(const CliRequest& req, std::ostream& out, std::ostream& err) {
  const ServeConfig& cfg = req.serve;
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
    Json o = {{"endpoint", ep}, {"dispatcher_id", d.config().dispatcher_id}};
    if (metrics) o["metrics_port"] = metrics->port();
    out << o.dump() << std::endl;
  } else {
    out << "dispatcher " << d.config().dispatcher_id << " listening on " << ep << std::endl;
  }
  d.run(g_stop);
  return kExitOk;
}

}  // namespace ff::dispatcher::commands
