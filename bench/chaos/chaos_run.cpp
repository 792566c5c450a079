#include "bench/chaos/chaos_run.hpp"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>

namespace ff::chaos {

const std::vector<std::string>& all_fault_kinds() {
  static const std::vector<std::string> k{"kill_worker",     "kill_engine", "kill_dispatcher",
                                          "pg_restart",      "stop_worker", "stop_dispatcher",
                                          "table_lock",      "db_stall",    "intruder"};
  return k;
}

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

namespace {
std::atomic<bool> g_stop{false};
}  // namespace

void request_stop() { g_stop = true; }
void throw_if_stopped() {
  if (g_stop) throw std::runtime_error("chaos: interrupted");
}

namespace {

// Rough seconds one fault of `kind` takes, for pacing the job feed over the fault phase.
double estimate_s(const std::string& kind, const RunConfig& c) {
  if (kind == "kill_worker") return c.worker_restart_s + 1;
  if (kind == "kill_engine") return 2;
  if (kind == "kill_dispatcher") return (c.dispatcher_restart_s + c.dispatcher_down_s) / 2 + 2;
  if (kind == "pg_restart") return 4;
  if (kind == "stop_worker" || kind == "stop_dispatcher") return (c.stop_min_s + c.stop_max_s) / 2 + 1;
  if (kind == "table_lock") return c.lock_s + c.settle_s + 1;
  if (kind == "db_stall") return c.stall_s + c.settle_s;
  return 5;  // intruder: three trials of 1.5 s
}

std::vector<std::pair<int64_t, int64_t>> parse_pairs(const std::vector<std::string>& rows) {
  std::vector<std::pair<int64_t, int64_t>> v;
  for (const auto& r : rows) {
    const size_t bar = r.find('|');
    if (bar == std::string::npos) continue;
    v.emplace_back(std::stoll(r.substr(0, bar)), std::stoll(r.substr(bar + 1)));
  }
  return v;
}

class Driver {
 public:
  Driver(Farm& f, const RunConfig& c) : f_(f), c_(c), rng_(c.seed) {}
  ~Driver() {
    abandon_ = true;
    if (feeder_.joinable()) feeder_.join();
  }

  RunData run() {
    RunData d;
    d.cfg = c_;
    d.t_start = unix_now();
    std::vector<std::string> schedule;
    for (const auto& k : c_.kinds.empty() ? all_fault_kinds() : c_.kinds)
      for (int i = 0; i < c_.faults_per_kind; ++i) schedule.push_back(k);
    std::shuffle(schedule.begin(), schedule.end(), rng_);
    double est = 10;
    for (const auto& k : schedule) est += estimate_s(k, c_) + c_.gap_s;
    rate_ = static_cast<double>(c_.jobs) / est;
    log("chaos: " + std::to_string(c_.jobs) + " jobs at " + std::to_string(rate_) + "/s over ~" +
        std::to_string(static_cast<int>(est)) + " s, " + std::to_string(schedule.size()) + " faults, seed " +
        std::to_string(c_.seed));
    feeder_ = std::thread([this] { feed(); });
    // Warm-up: the farm runs jobs before the first fault.
    wait_for([&] { return f_.sql_scalar("SELECT count(*) FROM framefarm.jobs WHERE state = 'succeeded'") >= 5; }, 120);
    for (const auto& kind : schedule) {
      wait_restarts();
      idle(c_.gap_s);
      FaultRecord r;
      r.kind = kind;
      if (!inject(r)) {
        ++d.skipped[kind];
        log("fault " + kind + ": skipped (no eligible target)");
        continue;
      }
      log("fault " + kind + " on " + r.target + (r.note.empty() ? "" : " (" + r.note + ")") + ", " +
          std::to_string(r.victims.size()) + " leases hit, " +
          std::to_string(f_.sql_scalar("SELECT count(*) FROM framefarm.jobs WHERE state = 'succeeded'")) +
          " succeeded so far");
      wait_rescued(r);
      d.faults.push_back(std::move(r));
    }
    wait_restarts();
    d.t_faults_done = unix_now();
    flush_ = true;
    feeder_.join();
    d.jobs_inserted = inserted_;
    d.drained = wait_for([&] {
      return f_.sql_scalar("SELECT count(*) FROM framefarm.jobs WHERE state NOT IN ('succeeded', 'dead', 'cancelled')") == 0;
    }, c_.drain_timeout_s);
    d.t_end = unix_now();
    log(std::string("chaos: drained: ") + (d.drained ? "yes" : "NO") + " after " +
        std::to_string(static_cast<int>(d.t_end - d.t_start)) + " s");
    return d;
  }

 private:
  void log(const std::string& s) {
    if (c_.verbose) std::cerr << "[chaos +" << static_cast<int>(unix_now() - t0_) << "s] " << s << std::endl;
  }

  // Inserts jobs chaos-1..N at rate_ (all at once after flush_), idempotently: a retried INSERT
  // after a lost reply (PostgreSQL restarting) never creates a second row.
  void feed() {
    const auto t0 = std::chrono::steady_clock::now();
    while (inserted_ < c_.jobs && !abandon_ && !g_stop) {
      const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      int64_t due = flush_ ? c_.jobs : std::min<int64_t>(c_.jobs, static_cast<int64_t>(rate_ * el) + 1);
      if (due > inserted_) {
        f_.sql("INSERT INTO framefarm.jobs (prompt, max_attempts, idempotency_key, params) SELECT 'chaos ' || g, " +
               std::to_string(c_.max_attempts) + ", 'chaos-' || g, '{\"num_inference_steps\": " +
               std::to_string(f_.config().engine_steps) + "}' FROM generate_series(" + std::to_string(inserted_ + 1) +
               ", " + std::to_string(due) + ") g ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL "
               "DO NOTHING", 120);
        inserted_ = due;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }

  struct Pending {
    bool dispatcher;
    int index;
    double at;
  };

  void tick() {
    const double now = unix_now();
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->at <= now) {
        if (it->dispatcher) f_.start_dispatcher(it->index);
        else f_.start_worker(it->index);
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
  }
  void idle(double s) {
    const double until = unix_now() + s;
    while (unix_now() < until) {
      throw_if_stopped();
      tick();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    tick();
  }
  template <class F>
  bool wait_for(F pred, double timeout_s) {
    const double until = unix_now() + timeout_s;
    while (unix_now() < until) {
      if (pred()) return true;
      idle(0.2);
    }
    return pred();
  }
  // One fault at a time means one rescue window at a time: the next fault waits until every lease
  // this one hit is running again under a newer epoch or its job has finished (at most
  // rescue_wait_s). Otherwise a database stall starting during a dispatcher's restart would be
  // charged to the kill's rescue time (seen: a 10 s stall 3 s after a kill, a 15.3 s "rescue").
  void wait_rescued(const FaultRecord& r) {
    if (r.victims.empty()) return;
    std::string values;
    for (const auto& [id, epoch] : r.victims)
      values += (values.empty() ? "(" : ", (") + std::to_string(id) + ", " + std::to_string(epoch) + ")";
    const std::string q =
        "SELECT count(*) FROM framefarm.jobs j JOIN (VALUES " + values + ") AS v(id, epoch) ON j.id = v.id "
        "WHERE j.state NOT IN ('succeeded', 'dead', 'cancelled') AND NOT (j.state = 'running' AND j.lease_epoch > v.epoch)";
    if (!wait_for([&] { return f_.sql_scalar(q) == 0; }, c_.rescue_wait_s))
      log("fault " + r.kind + ": not every lease it hit was rescued within " + std::to_string(c_.rescue_wait_s) + " s");
  }
  void wait_restarts() {
    while (!pending_.empty()) idle(0.05);
  }
  bool pending_for(bool dispatcher, int i) const {
    return std::any_of(pending_.begin(), pending_.end(), [&](const Pending& p) { return p.dispatcher == dispatcher && p.index == i; });
  }
  double uniform(double a, double b) { return std::uniform_real_distribution<double>(a, b)(rng_); }
  template <class T>
  T pick(const std::vector<T>& v) {
    return v[std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng_)];
  }

  std::vector<int> up_workers() {
    std::vector<int> v;
    for (int i = 0; i < f_.config().workers; ++i)
      if (f_.worker_up(i) && !pending_for(false, i)) v.push_back(i);
    return v;
  }
  // One of `candidates` for which `holds_sql(i)` (a count) is > 0, waiting up to 15 s for one;
  // `fallback` when none shows up.
  template <typename HoldsSql>
  int pick_holding(const std::vector<int>& candidates, HoldsSql holds_sql, int fallback) {
    int found = fallback;
    wait_for([&] {
      std::vector<int> busy;
      for (int i : candidates)
        if (f_.sql_scalar(holds_sql(i)) > 0) busy.push_back(i);
      if (busy.empty()) return false;
      found = pick(busy);
      return true;
    }, 15);
    return found;
  }
  // A live worker running at least one job (waits up to 15 s for one), or -1.
  int busy_worker() {
    return pick_holding(up_workers(), [&](int i) {
      return "SELECT count(*) FROM framefarm.jobs WHERE state = 'running' AND lease_worker = '" + f_.worker_id(i) + "'";
    }, -1);
  }
  // A live dispatcher holding at least one lease (waits up to 15 s for one; else any live one), or -1.
  int busy_dispatcher() {
    std::vector<int> up;
    for (int i = 0; i < f_.config().dispatchers; ++i)
      if (f_.dispatcher_up(i) && !pending_for(true, i)) up.push_back(i);
    if (up.empty()) return -1;
    return pick_holding(up, [&](int i) {
      return "SELECT count(*) FROM framefarm.jobs WHERE state IN ('leased', 'running') AND lease_owner = '" +
             f_.dispatcher_id(i) + "'";
    }, pick(up));
  }
  std::vector<std::pair<int64_t, int64_t>> running_on(int w) {
    return parse_pairs(f_.sql("SELECT id, lease_epoch FROM framefarm.jobs WHERE state = 'running' AND lease_worker = '" +
                              f_.worker_id(w) + "'"));
  }
  std::vector<std::pair<int64_t, int64_t>> in_flight(const std::string& owner = "") {
    return parse_pairs(f_.sql("SELECT id, lease_epoch FROM framefarm.jobs WHERE state IN ('leased', 'running')" +
                              (owner.empty() ? std::string() : " AND lease_owner = '" + owner + "'")));
  }

  bool inject(FaultRecord& r) {
    const std::string& k = r.kind;
    if (k == "kill_worker" || k == "kill_engine") {
      const int w = busy_worker();
      if (w < 0) return false;
      r.target = f_.worker_id(w);
      if (k == "kill_worker") {
        r.victims = running_on(w);
        r.start = unix_now();
        f_.worker(w)->signal(SIGKILL);
        f_.worker(w)->wait(std::chrono::milliseconds(5000));
        pending_.push_back({false, w, r.start + c_.worker_restart_s});
      } else {
        const pid_t e = f_.engine_pid(w);
        if (e <= 0) return false;
        r.victims = running_on(w);
        r.start = unix_now();
        ::kill(e, SIGKILL);
        r.note = "engine pid " + std::to_string(e);
      }
      r.end = r.start;
      return true;
    }
    if (k == "kill_dispatcher") {
      const int di = busy_dispatcher();
      if (di < 0) return false;
      const double down = (kills_++ % 2 == 0) ? c_.dispatcher_restart_s : c_.dispatcher_down_s;
      r.target = f_.dispatcher_id(di);
      r.note = "restarted after " + std::to_string(static_cast<int>(down)) + " s";
      r.victims = in_flight(r.target);
      r.start = r.end = unix_now();
      f_.dispatcher(di)->signal(SIGKILL);
      f_.dispatcher(di)->wait(std::chrono::milliseconds(5000));
      pending_.push_back({true, di, r.start + down});
      return true;
    }
    if (k == "pg_restart") {
      r.target = "postgresql";
      r.victims = in_flight();
      r.start = unix_now();
      f_.pg_immediate_restart();
      r.end = unix_now();
      return true;
    }
    if (k == "stop_worker" || k == "stop_dispatcher") {
      const bool disp = k == "stop_dispatcher";
      test::Child* c = nullptr;
      if (disp) {
        const int di = static_cast<int>(std::uniform_int_distribution<int>(0, f_.config().dispatchers - 1)(rng_));
        if (!f_.dispatcher_up(di)) return false;
        c = f_.dispatcher(di);
        r.target = f_.dispatcher_id(di);
        r.victims = in_flight(r.target);
      } else {
        const auto ups = up_workers();
        if (ups.empty()) return false;
        const int w = pick(ups);
        c = f_.worker(w);
        r.target = f_.worker_id(w);
        r.victims = running_on(w);
      }
      const double s = uniform(c_.stop_min_s, c_.stop_max_s);
      r.note = "stopped " + std::to_string(s).substr(0, 4) + " s";
      r.start = unix_now();
      c->signal(SIGSTOP);
      idle(s);
      c->signal(SIGCONT);
      r.end = unix_now();
      return true;
    }
    if (k == "table_lock") {
      r.target = "framefarm.jobs";
      r.victims = in_flight();
      const char* b = std::getenv("FF_PG_BIN");
      const std::string psql = std::string(b && *b ? b : "/usr/lib/postgresql/15/bin") + "/psql";
      r.start = unix_now();
      test::Child locker({psql, "-X", "-q", "-h", "127.0.0.1", "-p", std::to_string(f_.pg().port()), "-U", "postgres",
                          "-d", "postgres", "-c",
                          "BEGIN; LOCK TABLE framefarm.jobs IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(" +
                              std::to_string(c_.lock_s) + "); COMMIT;"},
                         {}, f_.dir() + "/lock.log");
      while (locker.running()) idle(0.05);
      r.end = unix_now();
      r.note = "held " + std::to_string(r.end - r.start).substr(0, 4) + " s";
      idle(c_.settle_s);
      return true;
    }
    if (k == "db_stall") {
      r.target = "dispatchers<->postgresql";
      r.victims = in_flight();
      r.start = unix_now();
      f_.proxy().stall();
      idle(c_.stall_s);
      f_.proxy().resume();
      r.end = unix_now();
      idle(c_.settle_s);
      return true;
    }
    if (k == "intruder") {
      const int di = static_cast<int>(std::uniform_int_distribution<int>(0, f_.config().dispatchers - 1)(rng_));
      std::vector<int> mine;
      for (int w : up_workers())
        if (w % f_.config().dispatchers == di) mine.push_back(w);
      if (!f_.dispatcher_up(di) || mine.empty() || !f_.config().curve) return false;
      const std::string victim = f_.worker_id(pick(mine));
      r.target = f_.dispatcher_id(di);
      r.note = "impostor of " + victim;
      r.victims = in_flight();
      r.start = unix_now();
      r.intruders = run_intruders(ctx_, f_.endpoint(di), f_.dispatcher_keys(), f_.spare_keys(), victim, r.victims);
      r.end = unix_now();
      return true;
    }
    throw std::invalid_argument("chaos: unknown fault kind '" + k + "'");
  }

  Farm& f_;
  const RunConfig& c_;
  std::mt19937_64 rng_;
  zmq::context_t ctx_{1};
  std::thread feeder_;
  std::atomic<bool> flush_{false};
  std::atomic<bool> abandon_{false};  // the run failed or was interrupted: the feeder stops
  std::atomic<int64_t> inserted_{0};
  double rate_ = 1;
  double t0_ = unix_now();
  int kills_ = 0;
  std::vector<Pending> pending_;
};

}  // namespace

RunData run_chaos(Farm& farm, const RunConfig& cfg) {
  const auto& all = all_fault_kinds();
  for (const auto& k : cfg.kinds)
    if (std::find(all.begin(), all.end(), k) == all.end())
      throw std::invalid_argument("chaos: unknown fault kind '" + k + "' (known: kill_worker, kill_engine, "
                                  "kill_dispatcher, pg_restart, stop_worker, stop_dispatcher, table_lock, db_stall, intruder)");
  if (cfg.jobs < 1) throw std::invalid_argument("chaos: jobs must be >= 1");
  if (cfg.faults_per_kind < 0) throw std::invalid_argument("chaos: faults_per_kind must be >= 0");
  if (cfg.stop_min_s <= 0 || cfg.stop_max_s < cfg.stop_min_s)
    throw std::invalid_argument("chaos: stop_min_s must be > 0 and <= stop_max_s");
  if (cfg.max_attempts < 1 || cfg.max_attempts > 100) throw std::invalid_argument("chaos: max_attempts must be in [1, 100]");
  Driver d(farm, cfg);
  return d.run();
}

}  // namespace ff::chaos
