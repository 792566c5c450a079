#include "dispatcher/liveness_link.hpp"

#include <pqxx/pqxx>

#include "dispatcher/queries.hpp"

namespace ff::dispatcher {

LivenessLink::LivenessLink(std::string url) : url_(std::move(url)) {}
LivenessLink::~LivenessLink() = default;

bool LivenessLink::beat(const std::string& dispatcher_id, int64_t dead_after_ms) {
  try {
    if (!conn_) {
      conn_ = std::make_unique<pqxx::connection>(url_);
      locked_key_.reset();
    }
    pqxx::nontransaction tx(*conn_);
    const auto key = tx.exec_params1(sql::kDispatcherBeatSql, dispatcher_id, dead_after_ms)[0].as<int32_t>();
    if (locked_key_ != key) {
      tx.exec_params(sql::kDispatcherLockSql, key);
      locked_key_ = key;
    }
    return true;
  } catch (const pqxx::sql_error&) {
    throw;  // a statement error on a live session: the caller decides (the lock stays held)
  } catch (const std::exception&) {
    conn_.reset();  // broken or unreachable: the server drops the session's lock with it
    locked_key_.reset();
    return false;
  }
}

}  // namespace ff::dispatcher
