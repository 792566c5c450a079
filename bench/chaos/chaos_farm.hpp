// A whole farm for chaos runs: a throwaway PostgreSQL, a stall proxy in front of it for the
// dispatchers, N real `framefarm-dispatcher serve` processes and M real `framefarm-worker serve`
// supervisors with the torch-free test engine double, all over CURVE (one dispatcher key pair, a
// key per worker, one spare authorized key for impostor trials). It also installs an audit of the
// queue in the database (schema `chaos`, triggers on framefarm.jobs and framefarm.workers) that
// the report reads: every change of a job's state / epoch / owner / worker and every change of a
// worker's status, stamped with clock_timestamp() (Unix seconds, the machine's clock).
//
// Thread contract: one owner thread calls everything, except sql()/sql_scalar() which open their
// own connection per thread (thread_local) and may be called from a feeder thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <sys/types.h>

#include "bench/chaos/chaos_proxy.hpp"
#include "common/curve_keys.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/worker/process_harness.hpp"

namespace ff::chaos {

struct FarmConfig {
  int dispatchers = 2;
  int workers = 6;                // worker i connects to dispatcher i % dispatchers first
  bool failover = true;           // workers list every dispatcher (dispatcher_endpoints), own first
  int slots = 2;                  // per worker
  int engine_steps = 4;           // FF_TEST_ENGINE_STEPS
  int engine_step_ms = 250;       // FF_TEST_ENGINE_STEP_MS
  bool curve = true;
  bool audit = true;              // install the chaos.* audit triggers
  // Extra `serve` flags for every dispatcher (none: the dispatcher's defaults).
  std::vector<std::string> dispatcher_args;
  std::string dir_prefix = "ff-chaos";
  // Non-empty: the processes' logs (dispatchers, workers, engines) are copied here when the farm
  // stops, for a post-mortem of a slow rescue (the farm's own directory is removed).
  std::string keep_logs_dir;
};

class Farm {
 public:
  explicit Farm(FarmConfig cfg);
  ~Farm();

  const FarmConfig& config() const { return cfg_; }
  test::PgCluster& pg() { return *pg_; }
  StallProxy& proxy() { return *proxy_; }
  const std::string& dir() const { return dir_->path(); }

  std::string dispatcher_id(int i) const { return "chaos-d" + std::to_string(i); }
  std::string worker_id(int i) const { return "chaos-w" + std::to_string(i); }
  const std::string& endpoint(int i) const { return endpoints_[i]; }
  std::string engine_log(int i) const;
  std::string dispatcher_log(int i) const;
  // Dispatchers' database URL: through the stall proxy.
  std::string dispatcher_db_url() const;

  void start_dispatcher(int i);
  void start_worker(int i);
  test::Child* dispatcher(int i) { return dispatchers_[i].get(); }
  test::Child* worker(int i) { return workers_[i].get(); }
  bool dispatcher_up(int i);
  bool worker_up(int i);
  // pid of worker i's engine process (a child of its supervisor), -1 if none.
  pid_t engine_pid(int i);
  // pg_ctl restart -m immediate (crash-stop, recovery on start); returns once it accepts again.
  void pg_immediate_restart();

  // Runs SQL as superuser on a per-thread connection, reconnecting (for up to `retry_s`) while
  // the server restarts. sql() returns rows of '|'-joined columns.
  std::vector<std::string> sql(const std::string& q, double retry_s = 60);
  int64_t sql_scalar(const std::string& q, double retry_s = 60);

  // Key material (files in dir()).
  const CurveKeyPair& dispatcher_keys() const { return dispatcher_keys_; }
  const CurveKeyPair& spare_keys() const { return spare_keys_; }  // authorized as "chaos-spare"

 private:
  void write_keys();
  void install_audit();
  FarmConfig cfg_;
  std::unique_ptr<test::PgCluster> pg_;
  std::unique_ptr<test::TempDir> dir_, model_;
  std::unique_ptr<StallProxy> proxy_;
  std::vector<std::string> endpoints_;
  std::vector<std::unique_ptr<test::Child>> dispatchers_, workers_;
  std::vector<int> dispatcher_starts_, worker_starts_;
  CurveKeyPair dispatcher_keys_, spare_keys_;
};

// The audit's SQL (schema chaos: job_events, worker_events and their triggers).
const char* audit_sql();

}  // namespace ff::chaos
