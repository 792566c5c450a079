#include "worker/cache/pg_connection.hpp"

#include <libpq-fe.h>

#include <stdexcept>

namespace ff::worker {

PgResult::PgResult(pg_result* r) : r_(r) {}
PgResult::~PgResult() {
  if (r_) PQclear(r_);
}
PgResult::PgResult(PgResult&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
PgResult& PgResult::operator=(PgResult&& o) noexcept {
  if (this != &o) {
    if (r_) PQclear(r_);
    r_ = o.r_;
    o.r_ = nullptr;
  }
  return *this;
}
int PgResult::rows() const { return PQntuples(r_); }
bool PgResult::is_null(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }
std::string_view PgResult::cell(int row, int col) const {
  return {PQgetvalue(r_, row, col), size_t(PQgetlength(r_, row, col))};
}
std::string PgResult::column_name(int col) const {
  const char* n = PQfname(r_, col);
  return n ? n : "?";
}
long PgResult::affected_rows() const {
  const char* n = PQcmdTuples(r_);
  return (n && *n) ? std::stol(n) : 0;
}

namespace {

std::string trim_newline(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Takes ownership of r; throws PgError naming `what` unless the statement succeeded.
PgResult checked(pg_conn* c, pg_result* r, const std::string& what) {
  if (!r) throw PgError(what + ": " + trim_newline(PQerrorMessage(c)), "");
  const ExecStatusType st = PQresultStatus(r);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return PgResult(r);
  const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  std::string msg = trim_newline(PQresultErrorMessage(r));
  if (msg.empty()) msg = trim_newline(PQerrorMessage(c));
  std::string sqlstate = state ? state : "";
  PQclear(r);
  throw PgError(what + ": " + msg, sqlstate);
}

}  // namespace

PgConnection::PgConnection(const std::string& url,
                           const std::vector<std::pair<std::string, std::string>>& statements)
    : c_(nullptr) {
  // A default connect_timeout (seconds) so that an unreachable server cannot hang the caller;
  // the URL's own connect_timeout, expanded after it, overrides it.
  const char* keys[] = {"connect_timeout", "dbname", nullptr};
  const char* vals[] = {"5", url.c_str(), nullptr};
  c_ = PQconnectdbParams(keys, vals, /*expand_dbname=*/1);
  if (!c_) throw PgError("out of memory opening a PostgreSQL connection", "");
  try {
    if (PQstatus(c_) != CONNECTION_OK) throw PgError(trim_newline(PQerrorMessage(c_)), "");
    if (PQsetClientEncoding(c_, "UTF8") != 0)
      throw PgError("setting client_encoding: " + trim_newline(PQerrorMessage(c_)), "");
    for (const auto& [name, sql] : statements)
      checked(c_, PQprepare(c_, name.c_str(), sql.c_str(), 0, nullptr), "preparing " + name);
  } catch (...) {
    PQfinish(c_);
    throw;
  }
}

PgConnection::~PgConnection() { PQfinish(c_); }

bool PgConnection::ok() const { return PQstatus(c_) == CONNECTION_OK; }

PgResult PgConnection::exec_prepared(const std::string& name, const std::vector<PgParam>& params,
                                     bool binary_result) {
  // Text parameters must be NUL-terminated: copy them (they are small: arrays, numbers).
  std::vector<std::string> text_copies(params.size());
  std::vector<const char*> values(params.size(), nullptr);
  std::vector<int> lengths(params.size(), 0), formats(params.size(), 0);
  for (size_t i = 0; i < params.size(); ++i) {
    const auto& p = params[i];
    if (!p.value) continue;
    if (p.binary) {
      values[i] = p.value->data();
      lengths[i] = int(p.value->size());
      formats[i] = 1;
    } else {
      text_copies[i] = std::string(*p.value);
      values[i] = text_copies[i].c_str();
    }
  }
  return checked(c_, PQexecPrepared(c_, name.c_str(), int(params.size()), values.data(),
                                    lengths.data(), formats.data(), binary_result ? 1 : 0),
                 name);
}

int64_t pg_binary_int(std::string_view cell) {
  uint64_t v = 0;
  for (unsigned char c : cell) v = (v << 8) | c;
  if (cell.size() == 4) return int32_t(uint32_t(v));
  return int64_t(v);
}

}  // namespace ff::worker
