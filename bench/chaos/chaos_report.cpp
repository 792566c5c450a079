#include "bench/chaos/chaos_report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

namespace ff::chaos {
namespace {

struct Ev {
  double at;
  std::string old_state, new_state, lease_worker, error_kind;
  int64_t epoch;
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> v;
  std::string cur;
  for (char c : s) {
    if (c == '|') {
      v.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  v.push_back(cur);
  return v;
}

bool terminal(const std::string& s) { return s == "succeeded" || s == "dead" || s == "cancelled"; }
bool in_flight(const std::string& s) { return s == "leased" || s == "running"; }
bool released(const Ev& e) {
  return in_flight(e.old_state) && (e.new_state == "queued" || e.new_state == "retry_wait" || e.new_state == "dead");
}

constexpr double kNever = 1e9;  // rescue of a lease whose job never ran again

std::string fmt(double v, int prec = 2) {
  if (v >= kNever) return "never";
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}

}  // namespace

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double idx = p * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(idx)), hi = static_cast<size_t>(std::ceil(idx));
  if (v[hi] >= kNever) return v[hi];
  return v[lo] + (v[hi] - v[lo]) * (idx - static_cast<double>(lo));
}

Report analyze(Farm& farm, const RunData& run) {
  Report r;
  const RunConfig& c = run.cfg;
  r.jobs = run.jobs_inserted;
  r.drained = run.drained;
  r.duration_s = run.t_end - run.t_start;
  r.fault_phase_s = run.t_faults_done - run.t_start;
  r.rows = farm.sql_scalar("SELECT count(*) FROM framefarm.jobs WHERE idempotency_key LIKE 'chaos-%'");
  r.lost = r.jobs - r.rows;
  r.succeeded = farm.sql_scalar("SELECT count(*) FROM framefarm.jobs WHERE state = 'succeeded'");
  r.dead = farm.sql_scalar("SELECT count(*) FROM framefarm.jobs WHERE state = 'dead'");
  r.cancelled = farm.sql_scalar("SELECT count(*) FROM framefarm.jobs WHERE state = 'cancelled'");
  r.stuck = farm.sql_scalar("SELECT count(*) FROM framefarm.jobs WHERE state NOT IN ('succeeded', 'dead', 'cancelled')");
  r.forged_applied = farm.sql_scalar("SELECT count(*) FROM framefarm.jobs WHERE result->>'output_path' LIKE '/forged%'");

  std::map<int64_t, std::vector<Ev>> ev;
  for (const auto& row : farm.sql("SELECT at, job_id, coalesce(old_state, ''), new_state, epoch, coalesce(lease_worker, ''), "
                                  "coalesce(error_kind, '') FROM chaos.job_events ORDER BY seq")) {
    const auto f = split(row);
    if (f.size() < 7) continue;
    ev[std::stoll(f[1])].push_back(Ev{std::stod(f[0]), f[2], f[3], f[5], f[6], std::stoll(f[4])});
  }
  for (const auto& [id, v] : ev) {
    std::set<int64_t> epochs;
    int succ = 0;
    for (const auto& e : v) {
      if (e.new_state == "leased" && e.epoch > 0) epochs.insert(e.epoch);
      succ += e.new_state == "succeeded" && e.old_state != "succeeded";
      if ((e.new_state == "retry_wait" || e.new_state == "dead") && !e.error_kind.empty()) ++r.error_kinds[e.error_kind];
    }
    r.lease_epochs += static_cast<int64_t>(epochs.size());
    r.max_epochs_one_job = std::max<int64_t>(r.max_epochs_one_job, static_cast<int64_t>(epochs.size()));
    r.completed_twice += succ > 1;
  }
  r.epochs_per_job = r.jobs ? static_cast<double>(r.lease_epochs) / static_cast<double>(r.jobs) : 0;

  std::map<int64_t, int64_t> results;
  for (int i = 0; i < farm.config().workers; ++i) {
    std::istringstream in(test::read_file(farm.engine_log(i)));
    for (std::string l; std::getline(in, l);)
      if (l.rfind("result ", 0) == 0) ++results[std::stoll(l.substr(7))];
  }
  for (const auto& row : farm.sql("SELECT id FROM framefarm.jobs WHERE idempotency_key LIKE 'chaos-%'")) {
    auto it = results.find(std::stoll(row));
    ++r.executions_histogram[it == results.end() ? 0 : it->second];
  }

  struct WEv {
    double at;
    std::string worker, status;
  };
  std::vector<WEv> wev;
  for (const auto& row : farm.sql("SELECT at, worker_id, status FROM chaos.worker_events ORDER BY seq")) {
    const auto f = split(row);
    if (f.size() >= 3) wev.push_back({std::stod(f[0]), f[1], f[2]});
  }

  // A fault's window ends settle_s after it, or when the next fault starts, whichever is first
  // (faults run one at a time; a death the next one causes is not this one's).
  std::vector<double> window_end(run.faults.size());
  for (size_t i = 0; i < run.faults.size(); ++i) {
    window_end[i] = run.faults[i].end + c.settle_s;
    if (i + 1 < run.faults.size()) window_end[i] = std::min(window_end[i], run.faults[i + 1].start);
  }
  const auto& kinds = c.kinds.empty() ? all_fault_kinds() : c.kinds;
  for (const auto& k : kinds) {
    KindStats ks;
    ks.kind = k;
    for (size_t fi = 0; fi < run.faults.size(); ++fi) {
      const FaultRecord& fr = run.faults[fi];
      if (fr.kind != k) continue;
      ++ks.count;
      const double w0 = fr.start, w1 = window_end[fi];
      if (k == "kill_worker" || k == "kill_engine" || k == "kill_dispatcher") {
        for (const auto& [id, epoch] : fr.victims) {
          // The victims are read just before the kill: a job that finished in between was not hit.
          bool finished_before = false;
          for (const auto& e : ev[id])
            if (e.at <= fr.start && e.epoch == epoch && e.new_state == "succeeded") finished_before = true;
          if (finished_before) continue;
          double t = kNever;
          for (const auto& e : ev[id])
            if (e.at > fr.start && ((e.new_state == "running" && e.epoch != epoch) || e.new_state == "succeeded")) {
              t = e.at - fr.start;
              break;
            }
          // A job that ended dead (attempts used up) is not rescued either.
          if (t >= kNever) ++ks.unrescued;
          ks.rescue_s.push_back(t);
          nlohmann::json trail = nlohmann::json::array();
          for (const auto& e : ev[id])
            if (e.at > fr.start - 1 && trail.size() < 8)
              trail.push_back({{"t_s", e.at - fr.start}, {"state", e.new_state}, {"epoch", e.epoch},
                               {"worker", e.lease_worker}, {"error_kind", e.error_kind}});
          ks.slowest.push_back({{"job_id", id}, {"epoch", epoch}, {"rescue_s", t >= kNever ? nlohmann::json(nullptr) : nlohmann::json(t)},
                                {"target", fr.target}, {"note", fr.note}, {"trail", trail}});
          std::sort(ks.slowest.begin(), ks.slowest.end(), [](const nlohmann::json& a, const nlohmann::json& b) {
            const double x = a["rescue_s"].is_null() ? kNever : a["rescue_s"].get<double>();
            const double y = b["rescue_s"].is_null() ? kNever : b["rescue_s"].get<double>();
            return x > y;
          });
          if (ks.slowest.size() > 3) ks.slowest.pop_back();
        }
      }
      for (const auto& w : wev)
        if (w.status == "dead" && w.at >= w0 && w.at <= w1) ++ks.workers_dead_in_window;
      for (const auto& [id, v] : ev) {
        for (size_t i = 0; i < v.size(); ++i) {
          if (!released(v[i]) || v[i].at < w0 || v[i].at > w1) continue;
          ++ks.leases_released_in_window;
          if (v[i].old_state != "running") continue;
          for (size_t j = i + 1; j < v.size(); ++j)
            if (v[j].new_state == "running" && v[j].epoch != v[i].epoch) {
              ++ks.executed_twice_in_window;
              break;
            }
        }
      }
      for (const auto& o : fr.intruders) {
        ks.intruder_welcomed += o.welcomed;
        ks.intruder_jobs += o.jobs_received;
        ks.intruder_messages += o.messages_received;
        if (o.mode == "impostor")
          for (const auto& w : wev)
            if (w.worker == o.worker_id && w.status != "alive" && w.at >= fr.start && w.at <= fr.end + 2) ++ks.identity_taken;
      }
    }
    r.kinds.push_back(std::move(ks));
  }

  auto add = [&](std::string n, double v, std::string op, double lim) { r.floors.push_back({std::move(n), v, std::move(op), lim}); };
  add("jobs lost", static_cast<double>(r.lost), "<=", 0);
  add("jobs stuck (not terminal)", static_cast<double>(r.stuck), "<=", 0);
  add("jobs completed twice", static_cast<double>(r.completed_twice), "<=", 0);
  add("forged results applied", static_cast<double>(r.forged_applied), "<=", 0);
  add("lease epochs per job", r.epochs_per_job, "<=", 1.05);
  for (const auto& ks : r.kinds) {
    add(ks.kind + ": faults injected", ks.count, ">=", c.faults_per_kind);
    const double mx = ks.rescue_s.empty() ? 0 : *std::max_element(ks.rescue_s.begin(), ks.rescue_s.end());
    if (ks.kind == "kill_worker") {
      add("kill_worker: rescue p50 s", percentile(ks.rescue_s, 0.5), "<=", 5);
      add("kill_worker: rescue max s", mx, "<=", 8);
    }
    if (ks.kind == "kill_dispatcher") add("kill_dispatcher: rescue max s", mx, "<=", 10);
    if (ks.kind == "table_lock" || ks.kind == "db_stall") {
      add(ks.kind + ": workers declared dead", ks.workers_dead_in_window, "<=", 0);
      add(ks.kind + ": jobs executed twice", ks.executed_twice_in_window, "<=", 0);
    }
    if (ks.kind == "intruder") {
      add("intruder: welcomes + prompts received", ks.intruder_welcomed + ks.intruder_jobs, "<=", 0);
      add("intruder: identity taken over", ks.identity_taken, "<=", 0);
    }
  }
  return r;
}

bool Report::pass() const {
  return drained && std::all_of(floors.begin(), floors.end(), [](const Floor& f) { return f.pass(); });
}

nlohmann::json Report::to_json() const {
  nlohmann::json j;
  j["jobs"] = jobs;
  j["rows"] = rows;
  j["succeeded"] = succeeded;
  j["dead"] = dead;
  j["cancelled"] = cancelled;
  j["lost"] = lost;
  j["stuck"] = stuck;
  j["completed_twice"] = completed_twice;
  j["forged_applied"] = forged_applied;
  j["lease_epochs"] = lease_epochs;
  j["lease_epochs_per_job"] = epochs_per_job;
  j["max_lease_epochs_one_job"] = max_epochs_one_job;
  nlohmann::json h = nlohmann::json::object();
  for (const auto& [n, c] : executions_histogram) h[std::to_string(n)] = c;
  j["engine_executions_per_job"] = h;
  j["failed_attempts_by_error_kind"] = error_kinds;
  j["duration_s"] = duration_s;
  j["fault_phase_s"] = fault_phase_s;
  j["drained"] = drained;
  nlohmann::json ks = nlohmann::json::array();
  for (const auto& k : kinds) {
    nlohmann::json o;
    o["kind"] = k.kind;
    o["count"] = k.count;
    o["leases_hit"] = k.rescue_s.size();
    std::vector<double> finite;
    for (double v : k.rescue_s)
      if (v < kNever) finite.push_back(v);
    o["rescue_s"] = finite;
    o["rescue_p50_s"] = percentile(k.rescue_s, 0.5) >= kNever ? nlohmann::json(nullptr) : nlohmann::json(percentile(k.rescue_s, 0.5));
    o["rescue_max_s"] = k.unrescued ? nlohmann::json(nullptr)
                                    : nlohmann::json(k.rescue_s.empty() ? 0.0 : *std::max_element(k.rescue_s.begin(), k.rescue_s.end()));
    o["unrescued"] = k.unrescued;
    if (!k.slowest.empty()) o["slowest_rescues"] = k.slowest;
    o["workers_dead_in_window"] = k.workers_dead_in_window;
    o["leases_released_in_window"] = k.leases_released_in_window;
    o["executed_twice_in_window"] = k.executed_twice_in_window;
    if (k.kind == "intruder") {
      o["intruder_welcomed"] = k.intruder_welcomed;
      o["intruder_prompts"] = k.intruder_jobs;
      o["intruder_messages"] = k.intruder_messages;
      o["identity_taken"] = k.identity_taken;
    }
    ks.push_back(o);
  }
  j["kinds"] = ks;
  nlohmann::json fl = nlohmann::json::array();
  for (const auto& f : floors)
    fl.push_back({{"name", f.name}, {"value", f.value >= kNever ? nlohmann::json(nullptr) : nlohmann::json(f.value)},
                  {"op", f.op}, {"limit", f.limit}, {"pass", f.pass()}});
  j["floors"] = fl;
  j["pass"] = pass();
  return j;
}

std::string Report::table() const {
  std::ostringstream o;
  char line[256];
  std::snprintf(line, sizeof line, "%-16s %5s %6s %9s %9s %6s %8s %6s  %-24s %s\n", "fault", "count", "leases",
                "rescue50", "rescueMax", "dead", "released", "twice", "floor (issue 10)", "pass");
  o << line;
  for (const auto& k : kinds) {
    std::string floor = "-";
    bool ok = true;
    const double p50 = percentile(k.rescue_s, 0.5);
    const double mx = k.rescue_s.empty() ? 0 : *std::max_element(k.rescue_s.begin(), k.rescue_s.end());
    if (k.kind == "kill_worker") floor = "p50<=5 max<=8", ok = p50 <= 5 && mx <= 8;
    if (k.kind == "kill_dispatcher") floor = "max<=10", ok = mx <= 10;
    if (k.kind == "table_lock" || k.kind == "db_stall")
      floor = "0 dead, 0 twice", ok = k.workers_dead_in_window == 0 && k.executed_twice_in_window == 0;
    if (k.kind == "intruder")
      floor = "0 welcome/prompt/identity", ok = k.intruder_welcomed + k.intruder_jobs + k.identity_taken == 0;
    const bool has_rescue = k.kind.rfind("kill_", 0) == 0;
    std::snprintf(line, sizeof line, "%-16s %5d %6zu %9s %9s %6d %8d %6d  %-24s %s\n", k.kind.c_str(), k.count,
                  k.rescue_s.size(), has_rescue ? fmt(p50).c_str() : "-", has_rescue ? fmt(mx).c_str() : "-",
                  k.workers_dead_in_window, k.leases_released_in_window, k.executed_twice_in_window, floor.c_str(),
                  floor == "-" ? "-" : ok ? "PASS" : "FAIL");
    o << line;
  }
  std::snprintf(line, sizeof line,
                "jobs %lld: succeeded %lld, dead %lld, lost %lld, stuck %lld, completed twice %lld, forged applied %lld; "
                "lease epochs/job %.3f (<= 1.05: %s)\n",
                static_cast<long long>(jobs), static_cast<long long>(succeeded), static_cast<long long>(dead),
                static_cast<long long>(lost), static_cast<long long>(stuck), static_cast<long long>(completed_twice),
                static_cast<long long>(forged_applied), epochs_per_job, epochs_per_job <= 1.05 ? "PASS" : "FAIL");
  o << line;
  o << "engine executions per job:";
  for (const auto& [n, c] : executions_histogram) o << " " << n << "x: " << c;
  o << "\nfloors: ";
  int failed = 0;
  for (const auto& f : floors)
    if (!f.pass()) o << (failed++ ? "; " : "FAILED ") << f.name << " = " << fmt(f.value, 3) << " (" << f.op << " " << f.limit << ")";
  if (!failed) o << "all pass";
  o << (drained ? "" : " (queue NOT drained)") << "\n";
  return o.str();
}

}  // namespace ff::chaos
