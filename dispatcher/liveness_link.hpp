// A dispatcher's liveness in the database (schema/009): its row's heartbeat and a shared advisory
// lock held by a session of its own. Other dispatchers take over its leases only when both are
// gone (stale heartbeat AND no session holding the lock).
//
// Why a connection of its own: the serve loop drops and replaces its connection after a statement
// cancelled by statement_timeout (a table lock longer than the timeout, a stalled server). A lock
// held on that connection vanished with it, and for the reconnect backoff a live dispatcher
// looked dead to the others (its last heartbeat older than the lock) and was robbed: its running
// jobs ran twice. This connection runs nothing but the beat, which touches framefarm.dispatchers
// only, so a lock on framefarm.jobs neither blocks it nor cancels it: the session and its lock
// live as long as the process and the database do.
//
// Loop thread only. Owns its connection; reconnects lazily on the next beat after a failure.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <pqxx/connection>

namespace ff::dispatcher {

class LivenessLink {
 public:
  explicit LivenessLink(std::string url);  // url with the timeouts of pg_options.hpp
  ~LivenessLink();

  // Upserts this dispatcher's row (heartbeat = now) and, once per session, takes its lock.
  // Returns false when the database could not be reached (the connection is dropped and retried
  // next beat). Rethrows pqxx::sql_error (e.g. 42P01 when the schema predates 009).
  bool beat(const std::string& dispatcher_id, int64_t dead_after_ms);

 private:
  std::string url_;
  std::unique_ptr<pqxx::connection> conn_;
  std::optional<int32_t> locked_key_;  // the lock this session holds
};

}  // namespace ff::dispatcher
