// pg: a dispatcher's liveness (heartbeat row + session lock, schema/009) lives on a connection of
// its own (dispatcher/liveness_link.hpp). A table lock that blocks the serve loop's connection, and
// the loss of that connection (statement_timeout, terminated), must not take the lock away:
// otherwise another dispatcher finds a stale heartbeat and no session, and takes over the running
// jobs of a live dispatcher (seen in the chaos suite: a 10 s lock, jobs run twice).
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include <pqxx/pqxx>

#include "dispatcher/liveness_link.hpp"
#include "dispatcher/pg_options.hpp"
#include "tests/dispatcher/dispatcher_env.hpp"

using namespace ff;
using namespace std::chrono_literals;

namespace {
// The pid whose session holds dispatcher `id`'s shared lock ("" when none).
std::string lock_holder(const test::DispatcherEnv& env, const std::string& id) {
  return env.q("SELECT string_agg(l.pid::text, ',') FROM pg_locks l JOIN framefarm.dispatchers d"
               " ON l.locktype = 'advisory' AND l.classid = 7142009 AND l.objid = d.lock_key AND l.granted"
               " WHERE d.dispatcher_id = '" + id + "'");
}
}  // namespace

TEST_CASE("liveness link: beats, holds the lock on its own session, is not blocked by a jobs table lock, reconnects after its session is terminated") {
  test::DispatcherEnv env;
  dispatcher::LivenessLink link(dispatcher::with_pg_timeouts(env.pg.url(), {}));
  REQUIRE(link.beat("d1", 5000));
  const std::string pid = lock_holder(env, "d1");
  REQUIRE_FALSE(pid.empty());
  CHECK(env.q("SELECT dead_after_ms FROM framefarm.dispatchers WHERE dispatcher_id = 'd1'") == "5000");

  pqxx::connection locker(env.pg.url());
  pqxx::work tx(locker);
  tx.exec("LOCK TABLE framefarm.jobs IN ACCESS EXCLUSIVE MODE");
  env.exec("UPDATE framefarm.dispatchers SET heartbeat_at = now() - interval '1 hour' WHERE dispatcher_id = 'd1'");
  CHECK(link.beat("d1", 5000));  // would hang on a jobs statement if it shared the loop's connection
  CHECK(env.q("SELECT heartbeat_at > now() - interval '1 minute' FROM framefarm.dispatchers WHERE dispatcher_id = 'd1'") == "t");
  CHECK(lock_holder(env, "d1") == pid);  // one lock per session, taken once
  tx.commit();

  env.exec("SELECT pg_terminate_backend(" + pid + ")");
  for (int i = 0; i < 20 && lock_holder(env, "d1") == pid; ++i) std::this_thread::sleep_for(50ms);
  CHECK(lock_holder(env, "d1").empty());
  CHECK_FALSE(link.beat("d1", 5000));  // the broken session is noticed and dropped
  CHECK(link.beat("d1", 5000));        // the next beat reconnects and takes the lock again
  const std::string again = lock_holder(env, "d1");
  CHECK_FALSE(again.empty());
  CHECK(again != pid);
}

TEST_CASE("a serving dispatcher blocked on a jobs table lock keeps its lock on a session that is not blocked, and losing the blocked connection does not lose the lock") {
  test::DispatcherEnv env;
  test::RunningDispatcher d(env.ctx, env.config("live"));
  std::string pid;
  for (int i = 0; i < 100 && (pid = lock_holder(env, "live")).empty(); ++i) std::this_thread::sleep_for(50ms);
  REQUIRE_FALSE(pid.empty());

  pqxx::connection locker(env.pg.url());
  pqxx::work tx(locker);
  tx.exec("LOCK TABLE framefarm.jobs IN ACCESS EXCLUSIVE MODE");
  const std::string me = std::to_string(locker.backendpid());
  // The serve loop polls the queue every 50 ms: its connection is soon waiting on the table lock.
  std::string blocked;
  for (int i = 0; i < 100; ++i) {
    blocked = env.q("SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND datname = current_database() AND pid <> " + me);
    if (!blocked.empty()) break;
    std::this_thread::sleep_for(50ms);
  }
  REQUIRE_FALSE(blocked.empty());
  CHECK(env.q("SELECT coalesce(wait_event_type, '') FROM pg_stat_activity WHERE pid = " + pid) != "Lock");
  CHECK(blocked.find(pid) == std::string::npos);

  // The loop's connection goes away (as after a statement_timeout): the lock stays, so no other
  // dispatcher could find this one dead, whatever its heartbeat says.
  env.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
           " AND datname = current_database() AND pid <> " + me);
  std::this_thread::sleep_for(300ms);
  CHECK(lock_holder(env, "live") == pid);
  env.exec("UPDATE framefarm.dispatchers SET heartbeat_at = now() - interval '1 hour' WHERE dispatcher_id = 'live'");
  tx.exec("SELECT * FROM framefarm.take_over_dead_dispatchers('judge')");
  CHECK(env.q("SELECT count(*) FROM framefarm.dispatchers WHERE dispatcher_id = 'live'") == "1");
  tx.commit();
}
