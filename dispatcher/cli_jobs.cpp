// The job commands of framefarm-dispatcher: submit, status, list, cancel, retry (cli_commands.hpp).
// Rows are read by column name (the statements are in queries.cpp); JSON output keeps the
// column order of kJobFields, which is the order `status --json` has always printed.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/job_state.hpp"
#include "dispatcher/cli_commands.hpp"
#include "dispatcher/queries.hpp"

namespace ff::dispatcher::commands {
namespace {

using Json = nlohmann::ordered_json;

enum class Kind { kText, kInt, kBool, kJson };
struct Field {
  const char* column;  // result column == JSON key
  Kind kind;
};

// The columns of sql::kJobStatus / sql::kListJobs, in output order.
constexpr Field kJobFields[] = {
    {"id", Kind::kInt},           {"state", Kind::kText},         {"priority", Kind::kInt},
    {"prompt", Kind::kText},      {"negative_prompt", Kind::kText}, {"model", Kind::kText},
    {"params", Kind::kJson},      {"idempotency_key", Kind::kText}, {"attempts", Kind::kInt},
    {"max_attempts", Kind::kInt}, {"run_after", Kind::kText},     {"lease_owner", Kind::kText},
    {"lease_worker", Kind::kText}, {"lease_epoch", Kind::kInt},   {"lease_expires_at", Kind::kText},
    {"cancel_requested", Kind::kBool}, {"phase", Kind::kText},    {"step", Kind::kInt},
    {"total_steps", Kind::kInt},  {"created_at", Kind::kText},    {"leased_at", Kind::kText},
    {"started_at", Kind::kText},  {"finished_at", Kind::kText},   {"error_kind", Kind::kText},
    {"error", Kind::kText},       {"result", Kind::kJson},
};

Json field_json(const pqxx::field& f, Kind kind) {
  if (f.is_null()) return nullptr;
  switch (kind) {
    case Kind::kText: return f.as<std::string>();
    case Kind::kInt: return f.as<int64_t>();
    case Kind::kBool: return f.as<bool>();
    case Kind::kJson: {
      // jsonb from our own columns; a value nlohmann cannot read is shown as its text.
      Json v = Json::parse(f.as<std::string>(), nullptr, false);
      return v.is_discarded() ? Json(f.as<std::string>()) : v;
    }
  }
  return nullptr;
}

Json job_json(const pqxx::row& r) {
  Json o = Json::object();
  for (const Field& f : kJobFields) o[f.column] = field_json(r[f.column], f.kind);
  return o;
}

// result.media (the worker's MP4, see proto::MediaInfo) as four readable lines.
void print_media_text(const Json& m, std::ostream& out) {
  auto num = [&](const char* k) {
    auto it = m.find(k);
    return it != m.end() && it->is_number() ? it->get<double>() : 0.0;
  };
  auto text = [&](const char* k) {
    auto it = m.find(k);
    return it != m.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  char line[256];
  out << "mp4: " << text("mp4_path") << '\n' << "poster: " << text("poster_path") << '\n';
  std::snprintf(line, sizeof line, "video: %lldx%lld, %lld frames at %g fps, %.3f s, %lld bytes\n",
                static_cast<long long>(num("width")), static_cast<long long>(num("height")),
                static_cast<long long>(num("frames")), num("fps"), num("duration_s"),
                static_cast<long long>(num("bytes")));
  out << line;
  if (num("audio_channels") > 0)
    std::snprintf(line, sizeof line, "audio: AAC %lld Hz, %lld channels\n",
                  static_cast<long long>(num("audio_sample_rate")), static_cast<long long>(num("audio_channels")));
  else
    std::snprintf(line, sizeof line, "audio: none\n");
  out << line;
}

void print_job_text(const Json& o, std::ostream& out) {
  for (const auto& [k, v] : o.items()) {
    if (v.is_null()) continue;
    out << k << ": " << (v.is_string() ? v.get<std::string>() : v.dump()) << '\n';
  }
  if (auto r = o.find("result"); r != o.end() && r->is_object())
    if (auto m = r->find("media"); m != r->end() && m->is_object()) print_media_text(*m, out);
}

std::optional<Json> fetch_job(pqxx::connection& c, int64_t id) {
  pqxx::nontransaction tx(c);
  auto r = tx.exec_prepared(sql::kJobStatus, id);
  if (r.empty()) return std::nullopt;
  return job_json(r[0]);
}

// Waits until job `id` is terminal; returns its final row, or nullopt on timeout.
std::optional<Json> wait_job(pqxx::connection& c, int64_t id, int64_t timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  int64_t sleep_ms = 20;
  while (true) {
    auto j = fetch_job(c, id);
    if (!j) return std::nullopt;
    auto st = parse_job_state(j->at("state").get<std::string>());
    if (st && is_terminal(*st)) return j;
    if (timeout_ms > 0 && std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
    sleep_ms = std::min<int64_t>(sleep_ms * 2, 250);
  }
}

}  // namespace

int submit(const CliRequest& req, std::ostream& out, std::ostream& err) {
  const SubmitOptions& o = req.submit;
  auto c = connect(req);
  int64_t id = 0;
  bool existing = false;
  try {
    pqxx::nontransaction tx(*c);
    auto r = tx.exec_prepared(sql::kSubmitJob, o.prompt, o.negative_prompt, o.model, o.params_json,
                              o.priority, o.idempotency_key, o.max_attempts, o.delay_ms);
    if (r.empty()) {  // the idempotency key exists: report that job
      auto e = tx.exec_prepared(sql::kJobByIdempotencyKey, *o.idempotency_key);
      if (e.empty()) throw std::runtime_error("idempotency key conflict but no job found");
      id = e[0]["id"].as<int64_t>();
      existing = true;
    } else {
      id = r[0]["id"].as<int64_t>();
    }
  } catch (const pqxx::sql_error& e) {
    if (dynamic_cast<const pqxx::broken_connection*>(&e)) throw;
    err << "framefarm-dispatcher submit: rejected: " << pg_message(e) << '\n';
    return kExitRejected;
  }
  if (!o.wait) {
    if (req.json) out << Json{{"id", id}, {"existing", existing}}.dump() << '\n';
    else out << (existing ? "existing job " : "submitted job ") << id << '\n';
    return kExitOk;
  }
  if (!req.json) err << (existing ? "existing job " : "submitted job ") << id << ", waiting\n";
  auto j = wait_job(*c, id, o.wait_timeout_ms);
  if (!j) {
    err << "framefarm-dispatcher submit: job " << id << " did not finish within " << o.wait_timeout_ms << " ms\n";
    return kExitTimeout;
  }
  if (req.json) out << j->dump() << '\n';
  else print_job_text(*j, out);
  return j->at("state") == "succeeded" ? kExitOk : kExitJobFailed;
}

int status(const CliRequest& req, std::ostream& out, std::ostream& err) {
  auto c = connect(req);
  auto j = fetch_job(*c, req.job_id);
  if (!j) {
    err << "framefarm-dispatcher status: no job with id " << req.job_id << '\n';
    return kExitNotFound;
  }
  if (req.json) out << j->dump() << '\n';
  else print_job_text(*j, out);
  return kExitOk;
}

int list(const CliRequest& req, std::ostream& out, std::ostream&) {
  auto c = connect(req);
  pqxx::nontransaction tx(*c);
  auto r = tx.exec_prepared(sql::kListJobs, req.list.state, req.list.limit);
  if (req.json) {
    Json a = Json::array();
    for (const auto& row : r) a.push_back(job_json(row));
    out << a.dump() << '\n';
    return kExitOk;
  }
  out << "ID        STATE       ATTEMPTS  WORKER                PROMPT\n";
  for (const auto& row : r) {
    std::string prompt = row["prompt"].as<std::string>();
    if (prompt.size() > 40) prompt = prompt.substr(0, 37) + "...";
    for (auto& ch : prompt)
      if (ch == '\n' || ch == '\t') ch = ' ';
    char line[256];
    std::snprintf(line, sizeof line, "%-9lld %-11s %d/%-7d %-21s ",
                  static_cast<long long>(row["id"].as<int64_t>()), row["state"].c_str(),
                  row["attempts"].as<int>(), row["max_attempts"].as<int>(),
                  row["lease_worker"].is_null() ? "-" : row["lease_worker"].c_str());
    out << line << prompt << '\n';
  }
  return kExitOk;
}

int cancel(const CliRequest& req, std::ostream& out, std::ostream& err) {
  const int64_t id = req.job_id;
  auto c = connect(req);
  pqxx::nontransaction tx(*c);
  auto r = tx.exec_prepared1(sql::kCancelJob, id);
  if (r["state"].is_null()) {  // the state after the request; NULL = no such job
    err << "framefarm-dispatcher cancel: no job with id " << id << '\n';
    return kExitNotFound;
  }
  const std::string state = r["state"].as<std::string>();
  std::string outcome;
  int rc = kExitOk;
  if (state == "cancelled") outcome = "cancelled";
  else if (state == "leased" || state == "running") outcome = "cancel requested (the worker stops at its next step)";
  else {
    outcome = "not cancelled: the job already ended as " + state;
    rc = kExitRejected;
  }
  if (req.json) {
    out << Json{{"id", id},
                {"state", state},
                {"cancelled", state == "cancelled"},
                {"cancel_requested", state == "leased" || state == "running"}}
               .dump()
        << '\n';
  } else {
    (rc == kExitOk ? out : err) << "job " << id << ": " << outcome << '\n';
  }
  return rc;
}

int retry(const CliRequest& req, std::ostream& out, std::ostream& err) {
  const int64_t id = req.job_id;
  auto c = connect(req);
  pqxx::nontransaction tx(*c);
  auto r = tx.exec_prepared(sql::kRetryJob, id);
  if (r.empty()) {
    err << "framefarm-dispatcher retry: no job with id " << id << '\n';
    return kExitNotFound;
  }
  const std::string before = r[0]["previous_state"].as<std::string>();
  const bool requeued = r[0]["requeued"].as<bool>();
  if (req.json)
    out << Json{{"id", id}, {"previous_state", before}, {"requeued", requeued}}.dump() << '\n';
  else if (requeued)
    out << "job " << id << ": requeued (was " << before << ")\n";
  if (!requeued) {
    if (!req.json)
      err << "framefarm-dispatcher retry: job " << id << " is " << before
          << "; only dead, cancelled or retry_wait jobs can be retried\n";
    return kExitRejected;
  }
  return kExitOk;
}

}  // namespace ff::dispatcher::commands
