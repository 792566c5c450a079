// pg: dispatcher liveness in the database (schema/009_dispatchers.sql, dispatcher/serve_leases.cpp).
// A dispatcher is dead when its heartbeat row is older than its limit AND no database session
// holds its advisory lock; a live dispatcher then releases its leases (unstarted: queued, attempt
// given back; started: retried at once; dead at max_attempts). Dead and alive dispatchers are
// played here by rows and a held lock (a real kill -9 is tests/dispatcher/test_e2e_takeover.cpp);
// the dispatchers that judge them are real, in-process. Assertions are on states, attempts,
// owners and epochs, never on how long something took.
#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include "tests/dispatcher/dispatcher_env.hpp"
#include "tests/dispatcher/sim_worker.hpp"

using namespace ff;
using namespace std::chrono_literals;
using test::DispatcherEnv;
using test::RunningDispatcher;
using test::SimWorker;

namespace {
std::string col(const DispatcherEnv& env, const std::string& column, int64_t id) {
  return env.q("SELECT " + column + " FROM framefarm.jobs WHERE id = " + std::to_string(id));
}
// Puts job `id` under a lease of dispatcher `owner` that expires only in an hour (so only a
// takeover, never expiry, can release it in this test); started = running on worker `worker`.
void lease_to(const DispatcherEnv& env, int64_t id, const std::string& owner, bool started,
              int attempts, const std::string& worker = "gone-worker") {
  env.exec("UPDATE framefarm.jobs SET state = '" + std::string(started ? "running" : "leased") +
           "', attempts = " + std::to_string(attempts) + ", lease_owner = '" + owner +
           "', lease_worker = " + (started ? "'" + worker + "'" : "NULL") +
           ", lease_epoch = nextval('framefarm.lease_epoch_seq'), leased_at = now(), "
           "started_at = " + (started ? "now()" : "NULL") +
           ", lease_expires_at = now() + interval '1 hour' WHERE id = " + std::to_string(id));
}
// Fast judgement: the live dispatchers' own rows are dead after 12 x 200 ms without a beat; their
// workers after 10 x 200 ms of silence (room for the test thread's queries between heartbeats).
dispatcher::ServeConfig fast(const DispatcherEnv& env, const std::string& id) {
  auto c = env.config(id);
  c.heartbeat_interval_ms = 200;
  c.heartbeat_misses_dead = 10;
  return c;
}
// Receives until a Job arrives, heartbeating meanwhile (a live worker); nullopt after `timeout`.
std::optional<proto::Job> job_alive(SimWorker& w, std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    auto m = w.recv(50ms);
    w.send(proto::Heartbeat{0});
    if (m && std::holds_alternative<proto::Job>(*m)) return std::get<proto::Job>(*m);
  }
  return std::nullopt;
}
}  // namespace

TEST_CASE("a dead dispatcher (stale heartbeat, no session) loses its leases to a live one: unstarted back unused, started retried at once, dead at max") {
  DispatcherEnv env;
  int64_t a = env.insert("(prompt, priority) VALUES ('unstarted', 3)");
  int64_t b = env.insert("(prompt, priority) VALUES ('started', 2)");
  int64_t c = env.insert("(prompt, priority, max_attempts) VALUES ('last attempt', 1, 3)");
  env.exec("INSERT INTO framefarm.dispatchers (dispatcher_id, dead_after_ms, heartbeat_at) "
           "VALUES ('ghost', 800, now() - interval '1 hour')");
  env.exec("INSERT INTO framefarm.workers (worker_id, dispatcher_id, status, registered_at, last_seen_at) "
           "VALUES ('gone-worker', 'ghost', 'alive', now(), now())");
  lease_to(env, a, "ghost", false, 1);
  lease_to(env, b, "ghost", true, 1);
  lease_to(env, c, "ghost", true, 3);
  const std::string run_after_b = col(env, "run_after", b);

  RunningDispatcher d(env.ctx, fast(env, "live"));
  // The live dispatcher's own row and its session's lock, which tell others it lives.
  CHECK(env.wait_for("SELECT count(*) FROM framefarm.dispatchers WHERE dispatcher_id = 'live'", "1") == "1");
  CHECK(env.q("SELECT count(*) FROM pg_locks l JOIN framefarm.dispatchers d ON l.objid::int = d.lock_key "
              "WHERE l.locktype = 'advisory' AND l.classid = 7142009 AND l.mode = 'ShareLock' AND l.granted "
              "AND d.dispatcher_id = 'live'") == "1");

  // The last attempt ends at once; the two others are waiting for a worker.
  CHECK(env.wait_for("SELECT state FROM framefarm.jobs WHERE id = " + std::to_string(c), "dead") == "dead");
  CHECK(col(env, "error_kind", c) == "dispatcher_lost");
  CHECK(col(env, "error", c) == "dispatcher ghost stopped heartbeating while the job ran (attempt 3 of 3)");
  CHECK(col(env, "state", a) == "queued");
  CHECK(col(env, "attempts", a) == "0");  // the attempt it never started is given back
  CHECK(col(env, "state", b) == "retry_wait");
  CHECK(col(env, "attempts", b) == "1");  // started: the attempt counts
  CHECK(col(env, "error_kind", b) == "dispatcher_lost");
  CHECK(col(env, "run_after", b) == run_after_b);  // no backoff: its old place in the queue
  CHECK(col(env, "lease_owner", b).empty());
  CHECK(env.q("SELECT count(*) FROM framefarm.dispatchers WHERE dispatcher_id = 'ghost'") == "0");
  CHECK(env.q("SELECT status FROM framefarm.workers WHERE worker_id = 'gone-worker'") == "gone");
  CHECK(d.stats().leases_taken_over_total.load() == 3);

  // A worker of the live dispatcher runs both, in their order: attempt 1 and attempt 2.
  SimWorker w(env.ctx, d.endpoint());
  REQUIRE(w.register_as("w1", 2));
  auto j1 = w.recv_until<proto::Job>(5s);
  auto j2 = w.recv_until<proto::Job>(5s);
  REQUIRE(j1);
  REQUIRE(j2);
  CHECK(j1->job_id == a);
  CHECK(j1->attempt == 1);
  CHECK(j2->job_id == b);
  CHECK(j2->attempt == 2);
  CHECK(col(env, "lease_owner", a) == "live");
}

TEST_CASE("live dispatchers are not robbed: a heartbeat late by less than the limit, a stale one whose session holds its lock, a busy peer") {
  DispatcherEnv env;
  int64_t s1 = env.insert("(prompt) VALUES ('of a slow dispatcher')");
  int64_t s2 = env.insert("(prompt) VALUES ('of a stopped dispatcher')");
  // "slow": beats every 1.2 s where its limit is 2 s (late, but less than the limit).
  env.exec("INSERT INTO framefarm.dispatchers (dispatcher_id, dead_after_ms) VALUES ('slow', 2000)");
  // "stopped": no beat for an hour (SIGSTOP, a loop blocked on SQL), but its session still holds
  // its lock: the process lives.
  env.exec("INSERT INTO framefarm.dispatchers (dispatcher_id, dead_after_ms, heartbeat_at) "
           "VALUES ('stopped', 800, now() - interval '1 hour')");
  lease_to(env, s1, "slow", true, 1);
  lease_to(env, s2, "stopped", false, 1);
  const std::string epoch1 = col(env, "lease_epoch", s1), epoch2 = col(env, "lease_epoch", s2);
  auto holder = std::make_unique<pqxx::connection>(env.pg.url());
  {
    pqxx::nontransaction tx(*holder);
    tx.exec("SELECT pg_advisory_lock_shared(7142009, lock_key) FROM framefarm.dispatchers "
            "WHERE dispatcher_id = 'stopped'");
  }
  std::atomic<bool> slow_beats{true};
  std::thread slow([&] {
    pqxx::connection conn(env.pg.url());
    while (slow_beats) {
      pqxx::nontransaction(conn).exec(
          "UPDATE framefarm.dispatchers SET heartbeat_at = now() WHERE dispatcher_id = 'slow'");
      for (int i = 0; i < 24 && slow_beats; ++i) std::this_thread::sleep_for(50ms);
    }
  });

  // A real peer with a job running on its worker, and the judge with an idle worker.
  RunningDispatcher peer(env.ctx, fast(env, "peer"));
  SimWorker wp(env.ctx, peer.endpoint());
  REQUIRE(wp.register_as("wp", 1));
  int64_t p = env.insert("(prompt) VALUES ('running on the peer')");
  auto jp = wp.recv_until<proto::Job>(5s);
  REQUIRE(jp);
  REQUIRE(jp->job_id == p);
  wp.send(proto::Progress{p, jp->epoch, "stage1", 1, 10});
  std::atomic<bool> wp_alive{true};
  std::thread wp_pump([&] {  // the peer's worker stays busy and alive for the whole test
    while (wp_alive) {
      wp.recv(50ms);
      wp.send(proto::Heartbeat{0});
    }
  });
  RunningDispatcher judge(env.ctx, fast(env, "judge"));
  SimWorker wj(env.ctx, judge.endpoint());
  REQUIRE(wj.register_as("wj", 2));

  // Several beats of "slow", past the judge's settle time (2.4 s + 0.5 s reconnect cap).
  CHECK_FALSE(job_alive(wj, 6s));
  CHECK(col(env, "lease_owner", s1) == "slow");
  CHECK(col(env, "lease_epoch", s1) == epoch1);
  CHECK(col(env, "state", s1) == "running");
  CHECK(col(env, "lease_owner", s2) == "stopped");
  CHECK(col(env, "lease_epoch", s2) == epoch2);
  CHECK(col(env, "lease_owner", p) == "peer");
  CHECK(col(env, "lease_epoch", p) == std::to_string(jp->epoch));
  CHECK(col(env, "state", p) == "running");
  CHECK(judge.stats().leases_taken_over_total.load() == 0);
  CHECK(peer.stats().leases_taken_over_total.load() == 0);

  // The stopped one's process goes away (its session closes): its lease is taken over.
  holder.reset();
  auto got = job_alive(wj, 5s);
  REQUIRE(got);
  CHECK(got->job_id == s2);
  CHECK(got->attempt == 1);
  // The slow one stops beating altogether: taken over too (started: attempt 2).
  slow_beats = false;
  slow.join();
  got = job_alive(wj, 10s);
  REQUIRE(got);
  CHECK(got->job_id == s1);
  CHECK(got->attempt == 2);
  // The peer kept its job throughout.
  CHECK(col(env, "lease_owner", p) == "peer");
  CHECK(col(env, "lease_epoch", p) == std::to_string(jp->epoch));
  wp_alive = false;
  wp_pump.join();
}

TEST_CASE("a worker that failed over hands back the unstarted jobs of its old dispatcher: the new one requeues them at once (fenced by epoch), not after the takeover") {
  DispatcherEnv env;
  const int64_t job = env.insert("(prompt) VALUES ('unstarted, sent by the old dispatcher')");
  const int64_t other = env.insert("(prompt, priority) VALUES ('leased to a worker of this dispatcher', 5)");
  // The old dispatcher is alive (fresh row), so no takeover can explain a release here.
  env.exec("INSERT INTO framefarm.dispatchers (dispatcher_id, dead_after_ms) VALUES ('old', 3600000)");
  lease_to(env, job, "old", false, 1);
  const int64_t epoch = std::stoll(col(env, "lease_epoch", job));
  RunningDispatcher live(env.ctx, env.config("live"));
  SimWorker holder(env.ctx, live.endpoint());
  REQUIRE(holder.register_as("holder", 1));
  auto held = holder.recv_alive<proto::Job>(5s);
  REQUIRE(held);
  CHECK(held->job_id == other);

  SimWorker w(env.ctx, live.endpoint());
  REQUIRE(w.register_as("failed-over", 0));
  w.send(proto::HandBack{other, held->epoch});  // not its lease: another worker here holds it
  w.send(proto::HandBack{job, epoch + 1});      // a stale epoch: fenced out in SQL
  std::this_thread::sleep_for(500ms);
  CHECK(col(env, "state", job) == "leased");
  CHECK(col(env, "state", other) == "leased");
  w.send(proto::HandBack{job, epoch});
  CHECK(env.wait_for("SELECT state FROM framefarm.jobs WHERE id = " + std::to_string(job), "queued", 5s) == "queued");
  CHECK(col(env, "attempts", job) == "0");  // the attempt is given back
  CHECK(col(env, "lease_owner", other) == "live");
}
