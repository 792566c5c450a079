#include "bench/chaos/chaos_farm.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <thread>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

namespace ff::chaos {
namespace {

std::string pg_bin() {
  const char* b = std::getenv("FF_PG_BIN");
  return b && *b ? b : "/usr/lib/postgresql/15/bin";
}

}  // namespace

const char* audit_sql() {
  // AFTER triggers write one row per change that matters to the report; lease renewals (only
  // lease_expires_at changes) are not recorded. `at` is clock_timestamp(): when the row changed,
  // not when the statement began.
  return R"SQL(
CREATE SCHEMA IF NOT EXISTS chaos;
CREATE TABLE chaos.job_events (
  seq bigserial PRIMARY KEY, at double precision NOT NULL, job_id bigint NOT NULL,
  old_state text, new_state text NOT NULL, epoch bigint NOT NULL, lease_owner text,
  lease_worker text, attempts integer, error_kind text);
CREATE TABLE chaos.worker_events (
  seq bigserial PRIMARY KEY, at double precision NOT NULL, worker_id text NOT NULL,
  dispatcher_id text, status text);
CREATE FUNCTION chaos.log_job() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO chaos.job_events (at, job_id, old_state, new_state, epoch, lease_owner, lease_worker,
                                attempts, error_kind)
  VALUES (extract(epoch FROM clock_timestamp()), NEW.id, OLD.state::text, NEW.state::text,
          NEW.lease_epoch, NEW.lease_owner, NEW.lease_worker, NEW.attempts, NEW.error_kind);
  RETURN NULL;
END $$;
CREATE TRIGGER chaos_log_job AFTER UPDATE ON framefarm.jobs FOR EACH ROW
  WHEN (OLD.state IS DISTINCT FROM NEW.state OR OLD.lease_epoch IS DISTINCT FROM NEW.lease_epoch
        OR OLD.lease_owner IS DISTINCT FROM NEW.lease_owner
        OR OLD.lease_worker IS DISTINCT FROM NEW.lease_worker)
  EXECUTE FUNCTION chaos.log_job();
CREATE FUNCTION chaos.log_worker() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO chaos.worker_events (at, worker_id, dispatcher_id, status)
  VALUES (extract(epoch FROM clock_timestamp()), NEW.worker_id, NEW.dispatcher_id, NEW.status);
  RETURN NULL;
END $$;
CREATE TRIGGER chaos_log_worker_ins AFTER INSERT ON framefarm.workers FOR EACH ROW
  EXECUTE FUNCTION chaos.log_worker();
CREATE TRIGGER chaos_log_worker_upd AFTER UPDATE ON framefarm.workers FOR EACH ROW
  WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.dispatcher_id IS DISTINCT FROM NEW.dispatcher_id)
  EXECUTE FUNCTION chaos.log_worker();
)SQL";
}

Farm::Farm(FarmConfig cfg) : cfg_(std::move(cfg)) {
  if (cfg_.dispatchers < 1 || cfg_.workers < 1 || cfg_.slots < 1)
    throw std::invalid_argument("chaos farm: dispatchers, workers and slots must be >= 1");
  pg_ = std::make_unique<test::PgCluster>();
  dir_ = std::make_unique<test::TempDir>(cfg_.dir_prefix);
  model_ = std::make_unique<test::TempDir>(cfg_.dir_prefix + "-model");
  test::make_tokenizer_model(model_->path());
  test::run_command({FF_DISPATCHER_BIN, "migrate", "--database", pg_->url(), "--schema-dir", FF_SCHEMA_DIR});
  if (cfg_.audit) pg_->psql(audit_sql());
  proxy_ = std::make_unique<StallProxy>(pg_->port());
  if (cfg_.curve) write_keys();
  for (int i = 0; i < cfg_.dispatchers; ++i) {
    endpoints_.push_back("tcp://127.0.0.1:" + std::to_string(test::free_tcp_port()));
    dispatchers_.emplace_back();
    dispatcher_starts_.push_back(0);
    start_dispatcher(i);
  }
  for (int i = 0; i < cfg_.workers; ++i) {
    workers_.emplace_back();
    worker_starts_.push_back(0);
    start_worker(i);
  }
}

Farm::~Farm() {
  // Workers first (they hand back), then dispatchers; SIGCONT in case a fault left one stopped.
  for (auto& w : workers_)
    if (w) w->signal(SIGCONT), w->signal(SIGTERM);
  for (auto& w : workers_)
    if (w) w->wait(std::chrono::milliseconds(5000));
  for (auto& d : dispatchers_)
    if (d) d->signal(SIGCONT), d->signal(SIGTERM);
  for (auto& d : dispatchers_)
    if (d) d->wait(std::chrono::milliseconds(5000));
  if (proxy_) proxy_->resume();
  if (!cfg_.keep_logs_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(cfg_.keep_logs_dir, ec);
    for (const auto& e : std::filesystem::directory_iterator(dir(), ec))
      if (e.path().extension() == ".log")
        std::filesystem::copy_file(e.path(), std::filesystem::path(cfg_.keep_logs_dir) / e.path().filename(),
                                   std::filesystem::copy_options::overwrite_existing, ec);
    if (ec) std::fprintf(stderr, "chaos: cannot keep logs in %s: %s\n", cfg_.keep_logs_dir.c_str(), ec.message().c_str());
  }
}

void Farm::write_keys() {
  dispatcher_keys_ = generate_curve_keypair();
  spare_keys_ = generate_curve_keypair();
  write_curve_keys(dir() + "/dispatcher.key", dispatcher_keys_);
  std::ofstream(dir() + "/dispatcher.pub") << "public " << dispatcher_keys_.public_key << "\n";
  std::ofstream auth(dir() + "/authorized_workers");
  auth << "# chaos farm: one key per worker, and a spare for impostor trials\n";
  for (int i = 0; i < cfg_.workers; ++i) {
    const CurveKeyPair k = generate_curve_keypair();
    write_curve_keys(dir() + "/worker-" + std::to_string(i) + ".key", k);
    auth << k.public_key << " " << worker_id(i) << "\n";
  }
  auth << spare_keys_.public_key << " chaos-spare\n";
}

std::string Farm::engine_log(int i) const { return dir() + "/engine-" + std::to_string(i) + ".log"; }
std::string Farm::dispatcher_log(int i) const { return dir() + "/dispatcher-" + std::to_string(i) + ".log"; }

std::string Farm::dispatcher_db_url() const {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(proxy_->port()) + "/postgres";
}

void Farm::start_dispatcher(int i) {
  std::vector<std::string> argv{FF_DISPATCHER_BIN, "serve",         "--database", dispatcher_db_url(),
                                "--bind",          endpoints_[i],   "--dispatcher-id", dispatcher_id(i)};
  if (cfg_.curve) {
    argv.push_back("--curve-key-file");
    argv.push_back(dir() + "/dispatcher.key");
    argv.push_back("--authorized-keys");
    argv.push_back(dir() + "/authorized_workers");
  }
  for (const auto& a : cfg_.dispatcher_args) argv.push_back(a);
  ++dispatcher_starts_[i];
  dispatchers_[i] = std::make_unique<test::Child>(argv, std::map<std::string, std::string>{}, dispatcher_log(i));
}

void Farm::start_worker(int i) {
  test::WorkerSpec s;
  s.endpoint = endpoints_[i % cfg_.dispatchers];
  s.worker_id = worker_id(i);
  s.model_dir = model_->path();
  s.run_dir = dir() + "/run-" + std::to_string(i);
  s.output_root = dir() + "/out";
  s.database_url = pg_->url();
  s.slots = cfg_.slots;
  if (cfg_.curve) {
    s.curve_key_file = dir() + "/worker-" + std::to_string(i) + ".key";
    s.dispatcher_public_key_file = dir() + "/dispatcher.pub";
  }
  const std::string conf = dir() + "/worker-" + std::to_string(i) + ".json";
  test::write_worker_config(conf, s);
  if (cfg_.failover && cfg_.dispatchers > 1) {
    // Every dispatcher of the fleet, its own first: a worker whose dispatcher is presumed dead
    // registers with the next one, carrying its held jobs (worker README, dispatcher_endpoints).
    nlohmann::json j = nlohmann::json::parse(test::read_file(conf));
    j.erase("dispatcher_endpoint");
    nlohmann::json list = nlohmann::json::array();
    for (int k = 0; k < cfg_.dispatchers; ++k) list.push_back(endpoints_[(i + k) % cfg_.dispatchers]);
    j["dispatcher_endpoints"] = list;
    std::ofstream(conf) << j.dump(2) << "\n";
  }
  std::map<std::string, std::string> env{{"FF_TEST_ENGINE_STEPS", std::to_string(cfg_.engine_steps)},
                                         {"FF_TEST_ENGINE_STEP_MS", std::to_string(cfg_.engine_step_ms)},
                                         {"FF_TEST_ENGINE_LOG", engine_log(i)}};
  ++worker_starts_[i];
  workers_[i] = std::make_unique<test::Child>(
      std::vector<std::string>{FF_WORKER_BIN, "serve", "--config", conf}, env,
      dir() + "/worker-" + std::to_string(i) + "." + std::to_string(worker_starts_[i]) + ".log");
}

bool Farm::dispatcher_up(int i) { return dispatchers_[i] && dispatchers_[i]->running(); }
bool Farm::worker_up(int i) { return workers_[i] && workers_[i]->running(); }

pid_t Farm::engine_pid(int i) {
  if (!worker_up(i)) return -1;
  const pid_t parent = workers_[i]->pid();
  DIR* d = ::opendir("/proc");
  if (!d) return -1;
  pid_t found = -1;
  while (dirent* e = ::readdir(d)) {
    const pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0) continue;
    std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(st, line)) continue;
    // pid (comm) state ppid ...: comm may hold spaces, so parse after the last ')'.
    const size_t rp = line.rfind(')');
    const size_t lp = line.find('(');
    if (rp == std::string::npos || lp == std::string::npos) continue;
    const std::string comm = line.substr(lp + 1, rp - lp - 1);
    std::istringstream rest(line.substr(rp + 2));
    std::string state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent && comm.find("ff_test_engine") != std::string::npos) {
      found = pid;
      break;
    }
  }
  ::closedir(d);
  return found;
}

void Farm::pg_immediate_restart() {
  // pg_ctl restart reuses the command line recorded in postmaster.opts (port, socket dir, fsync).
  // Run with every descriptor but the log closed: the new postmaster inherits pg_ctl's, and an
  // inherited pipe (test::run_command) would never see EOF.
  std::vector<std::string> argv{pg_bin() + "/pg_ctl", "restart", "-D", pg_->data_dir(), "-m", "immediate",
                                "-w", "-t", "60", "-l", pg_->dir() + "/log"};
  if (::geteuid() == 0) argv.insert(argv.begin(), {"/usr/sbin/runuser", "-u", "postgres", "--"});
  const std::string out = pg_->dir() + "/pg_ctl.out";
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("chaos farm: fork failed");
  if (pid == 0) {
    const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0666);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::close_range(3, ~0U, 0);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    throw std::runtime_error("chaos farm: pg_ctl restart -m immediate failed (see " + out + ")");
}

namespace {
thread_local std::unique_ptr<pqxx::connection> tl_conn;
thread_local std::string tl_url;
}  // namespace

std::vector<std::string> Farm::sql(const std::string& q, double retry_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(retry_s);
  const std::string url = pg_->url();
  for (;;) {
    try {
      if (!tl_conn || tl_url != url || !tl_conn->is_open()) {
        tl_conn.reset();
        tl_conn = std::make_unique<pqxx::connection>(url);
        tl_url = url;
      }
      pqxx::nontransaction tx(*tl_conn);
      const pqxx::result r = tx.exec(q);
      std::vector<std::string> rows;
      for (const auto& row : r) {
        std::string line;
        for (int c = 0; c < static_cast<int>(row.size()); ++c) {
          if (c) line += '|';
          line += row[c].is_null() ? "" : row[c].c_str();
        }
        rows.push_back(std::move(line));
      }
      return rows;
    } catch (const pqxx::broken_connection&) {
      tl_conn.reset();
    } catch (const pqxx::sql_error& e) {
      // 57P01 admin shutdown, 57P02/57P03 crash / cannot connect now: the server is restarting.
      const std::string s = e.sqlstate();
      if (s.rfind("57P", 0) != 0 && s != "08006" && s != "08003") throw;
      tl_conn.reset();
    }
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("chaos farm: database unreachable for " + std::to_string(retry_s) + " s: " + q);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

int64_t Farm::sql_scalar(const std::string& q, double retry_s) {
  const auto rows = sql(q, retry_s);
  if (rows.empty() || rows[0].empty()) return 0;
  return std::stoll(rows[0]);
}

}  // namespace ff::chaos
