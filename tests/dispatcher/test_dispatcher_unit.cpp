// unit: backoff, connection timeouts, scheduler, registry, protocol, CURVE key files. (Array
// literals and UTF-8 sanitising: tests/common.) No I/O. (Command line and serve flags: test_cli.cpp.)
#include <doctest/doctest.h>

#include <map>
#include <unistd.h>
#include <fstream>
#include <filesystem>

#include "dispatcher/backoff.hpp"
#include "dispatcher/curve_auth.hpp"
#include "dispatcher/pg_options.hpp"
#include "dispatcher/registry.hpp"
#include "dispatcher/scheduler.hpp"

using namespace ff::dispatcher;
using doctest::Contains;

TEST_CASE("backoff doubles per failed attempt, is capped, and jitters within d/2 to d") {
  BackoffConfig c{1000, 60000};
  CHECK(backoff_delay_ms(1, c, 0.0) == 500);
  CHECK(backoff_delay_ms(1, c, 0.999) < 1000);
  CHECK(backoff_delay_ms(1, c, 0.999) >= 999);
  CHECK(backoff_delay_ms(2, c, 0.0) == 1000);
  CHECK(backoff_delay_ms(3, c, 0.0) == 2000);
  CHECK(backoff_delay_ms(7, c, 0.0) == 30000);
  CHECK(backoff_delay_ms(8, c, 0.0) == 30000);   // 64000 capped to 60000
  CHECK(backoff_delay_ms(100, c, 0.5) == 45000);  // no overflow
  CHECK(backoff_delay_ms(0, c, 0.0) == 500);      // clamped to the first attempt
  for (int a = 1; a < 12; ++a)
    for (double u : {0.0, 0.25, 0.5, 0.75, 0.9999}) {
      int64_t d = std::min<int64_t>(60000, 1000LL << (a - 1));
      auto v = backoff_delay_ms(a, c, u);
      CHECK(v >= d / 2);
      CHECK(v < d);
    }
}


TEST_CASE("every database connection gets timeouts and keepalives, never overriding the caller's") {
  PgTimeouts t;
  t.statement_timeout_ms = 1500;
  CHECK(with_pg_timeouts("", t) ==
        "connect_timeout='5' keepalives='1' keepalives_idle='10' keepalives_interval='3' "
        "keepalives_count='3' tcp_user_timeout='20000' options='-c statement_timeout=1500'");
  CHECK(with_pg_timeouts("postgresql://u@h:5/db", t) ==
        "postgresql://u@h:5/db?connect_timeout=5&keepalives=1&keepalives_idle=10&keepalives_interval=3"
        "&keepalives_count=3&tcp_user_timeout=20000&options=-c%20statement_timeout%3D1500");
  // Keys already there are kept (URI and conninfo forms).
  std::string u = with_pg_timeouts("postgresql://u@h/db?connect_timeout=30", t);
  CHECK(u.find("connect_timeout=30") != std::string::npos);
  CHECK(u.find("connect_timeout=5") == std::string::npos);
  CHECK(u.find("&keepalives=1") != std::string::npos);
  std::string k = with_pg_timeouts("host=h keepalives_idle = 60", t);
  CHECK(k.find("keepalives_idle='10'") == std::string::npos);
  CHECK(k.find("keepalives_interval='3'") != std::string::npos);
  t.statement_timeout_ms = 0;  // none: no options parameter
  CHECK(with_pg_timeouts("", t).find("statement_timeout") == std::string::npos);
}

namespace {
ClaimedJob job(int64_t id, int priority = 0, std::vector<std::string> cached = {}, std::string model = "") {
  ClaimedJob c;
  c.job.job_id = id;
  c.job.epoch = id * 10;
  c.priority = priority;
  c.cached_fps = std::move(cached);
  c.job.model = std::move(model);
  return c;
}
}  // namespace

TEST_CASE("scheduler: cached jobs go anywhere, misses are grouped up to max_encode_batch") {
  std::vector<WorkerSlot> slots = {{"A", "m", "fp1", 4, 2}, {"B", "m", "fp1", 3, 8}};
  int64_t group = 0;
  auto r = schedule({job(1, 0, {"fp1"}), job(2), job(3), job(4), job(5, 0, {"fp1"})}, slots, group);
  CHECK(r.unassigned.empty());
  REQUIRE(r.assignments.size() == 5);
  std::map<int64_t, Assignment> by;
  for (auto& a : r.assignments) by[a.job.job.job_id] = a;
  CHECK(by[1].job.job.embedding_cached);
  CHECK(by[1].job.job.encode_group == 0);
  CHECK(by[5].job.job.embedding_cached);
  // misses 2,3,4: the worker with most credit left gets up to its max_encode_batch in one group
  int64_t g = by[2].job.job.encode_group;
  CHECK(g != 0);
  CHECK(!by[2].job.job.embedding_cached);
  std::string w = by[2].identity;
  int same = 0;
  for (int64_t id : {2, 3, 4}) same += by[id].identity == w && by[id].job.job.encode_group == g;
  int32_t batch = w == "A" ? 2 : 8;
  CHECK(same == std::min(3, batch));
  int64_t left = 0;
  for (auto& s : slots) left += s.credit;
  CHECK(left == 2);
}

TEST_CASE("scheduler: priority order, model matching, unassignable jobs returned") {
  std::vector<WorkerSlot> slots = {{"A", "ltx", "", 1, 4}};
  int64_t group = 0;
  auto r = schedule({job(1, 0), job(2, 5), job(3, 0, {}, "other")}, slots, group);
  REQUIRE(r.assignments.size() == 1);
  CHECK(r.assignments[0].job.job.job_id == 2);  // highest priority first
  REQUIRE(r.unassigned.size() == 2);
  CHECK(slots[0].credit == 0);
  std::vector<WorkerSlot> none = {{"A", "ltx", "", 0, 4}};
  auto r2 = schedule({job(9)}, none, group);
  CHECK(r2.assignments.empty());
  CHECK(r2.unassigned.size() == 1);
}

TEST_CASE("registry: register, leases, silence, re-register from a new identity") {
  WorkerRegistry reg;
  auto t0 = Clock::now();
  ff::proto::Register r;
  r.worker_id = "w1";
  r.free_slots = 3;
  CHECK(!reg.register_worker("id-a", r, t0));
  CHECK(reg.total_credit() == 3);
  reg.add_lease("id-a", Lease{7, 70, 1, 3});
  CHECK(reg.holder(7) == reg.find("id-a"));
  auto old = reg.register_worker("id-b", r, t0);  // same worker id, new connection
  REQUIRE(old);
  CHECK(old->leases.count(7) == 1);
  CHECK(reg.find("id-a") == nullptr);
  CHECK(reg.holder(7) == nullptr);
  reg.add_lease("id-b", Lease{8, 80, 1, 3});
  CHECK(reg.drop_lease("id-b", 8)->epoch == 80);
  CHECK(!reg.drop_lease("id-b", 8));
  auto dead = reg.take_silent(t0 + std::chrono::seconds(4), std::chrono::seconds(3));
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].caps.worker_id == "w1");
  CHECK(reg.size() == 0);
}

TEST_CASE("protocol: Register carries held jobs, Reregister round-trips") {
  ff::proto::Register r;
  r.worker_id = "w";
  r.held = {ff::proto::HeldLease{7, 70, true}, ff::proto::HeldLease{8, 80, false}};
  auto d = ff::proto::decode(ff::proto::encode(r));
  REQUIRE(std::holds_alternative<ff::proto::Message>(d));
  auto back = std::get<ff::proto::Register>(std::get<ff::proto::Message>(d));
  REQUIRE(back.held.size() == 2);
  CHECK(back.held[0].job_id == 7);
  CHECK(back.held[0].epoch == 70);
  CHECK(back.held[0].started);
  CHECK_FALSE(back.held[1].started);
  auto rr = ff::proto::decode(ff::proto::encode(ff::proto::Reregister{"why"}));
  REQUIRE(std::holds_alternative<ff::proto::Message>(rr));
  CHECK(std::get<ff::proto::Reregister>(std::get<ff::proto::Message>(rr)).reason == "why");
  CHECK(ff::proto::type_name(ff::proto::MsgType::kReregister) == "reregister");
}

TEST_CASE("CURVE key files and authorized keys: parsed strictly, errors name file and line") {
  using namespace ff;  // common/curve_keys.hpp
  REQUIRE(curve_available());
  auto dir = std::filesystem::temp_directory_path() / ("ff-curve-unit-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto a = generate_curve_keypair(), b = generate_curve_keypair();
  CHECK(valid_z85_key(a.public_key));
  CHECK_FALSE(valid_z85_key("short"));
  write_curve_keys(dir / "k", a);
  auto back = load_curve_keys(dir / "k", true);
  CHECK(back.public_key == a.public_key);
  CHECK(back.secret_key == a.secret_key);
  CHECK_THROWS_WITH(write_curve_keys(dir / "k", a), Contains("cannot create"));
  write_curve_keys(dir / "pub", CurveKeyPair{a.public_key, ""});
  CHECK_THROWS_WITH(load_curve_keys(dir / "pub", true), Contains("no 'secret' line"));
  {
    std::ofstream f(dir / "mixed");
    f << "public " << a.public_key << "\nsecret " << b.secret_key << "\n";
  }
  CHECK_THROWS_WITH(load_curve_keys(dir / "mixed", true), Contains("does not belong"));
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream f(dir / name);
    f << text;
    return dir / name;
  };
  auto keys = load_authorized_keys(write("ok", "# comment\n\n" + a.public_key + " w1\n  " + b.public_key + "\tw2  \n"));
  CHECK(keys.size() == 2);
  CHECK(keys.at(a.public_key) == "w1");
  CHECK(keys.at(b.public_key) == "w2");
  CHECK_THROWS_WITH(load_authorized_keys(write("dupname", a.public_key + " w1\n" + b.public_key + " w1\n")),
                    Contains(":2: worker name 'w1' listed twice"));
  CHECK_THROWS_WITH(load_authorized_keys(write("dupkey", a.public_key + " w1\n" + a.public_key + " w2\n")),
                    Contains(":2: key listed twice"));
  CHECK_THROWS_WITH(load_authorized_keys(write("bad", "notakey w1\n")), Contains(":1: not a 40-character"));
  CHECK_THROWS_WITH(load_authorized_keys(write("nowname", a.public_key + "\n")), Contains(":1: expected"));
  std::filesystem::remove_all(dir);
}
