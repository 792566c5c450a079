// unit: backoff, config decoding, CLI parsing, URL password refusal, scheduler, registry,
// array literals, text sanitising. No I/O.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <sstream>
#include <unistd.h>
#include <fstream>
#include <filesystem>

#include "common/config.hpp"
#include "common/job_params.hpp"
#include "dispatcher/backoff.hpp"
#include "dispatcher/cli.hpp"
#include "dispatcher/config.hpp"
#include "dispatcher/curve_auth.hpp"
#include "dispatcher/pg_array.hpp"
#include "dispatcher/pg_options.hpp"
#include "dispatcher/registry.hpp"
#include "dispatcher/scheduler.hpp"
#include "dispatcher/text.hpp"

using namespace ff::dispatcher;
using ff::config::UsageError;
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

TEST_CASE("flag parser rejects unknown, repeated and valueless flags") {
  std::vector<ff::config::FlagSpec> specs = {{"a-ms", "MS", ""}, {"sw", "", ""}};
  auto f = ff::config::parse_flags({"--a-ms", "5", "pos", "--sw"}, specs);
  CHECK(f.get("a-ms") == std::optional<std::string>("5"));
  CHECK(f.has("sw"));
  CHECK(f.positionals == std::vector<std::string>{"pos"});
  CHECK(ff::config::parse_flags({"--a-ms=7"}, specs).get("a-ms") == std::optional<std::string>("7"));
  CHECK_THROWS_WITH_AS(ff::config::parse_flags({"--nope"}, specs), "unknown option '--nope'", UsageError);
  CHECK_THROWS_WITH_AS(ff::config::parse_flags({"--a-ms"}, specs), Contains("needs a value"), UsageError);
  CHECK_THROWS_WITH_AS(ff::config::parse_flags({"--a-ms", "1", "--a-ms", "2"}, specs), Contains("given twice"), UsageError);
  CHECK_THROWS_WITH_AS(ff::config::parse_flags({"--sw=1"}, specs), Contains("takes no value"), UsageError);
  CHECK_THROWS_WITH_AS(ff::config::parse_flags({"-x"}, specs), Contains("unknown option '-x'"), UsageError);
  CHECK(ff::config::parse_flags({"--", "--sw"}, specs).positionals == std::vector<std::string>{"--sw"});
  CHECK_THROWS_WITH_AS(ff::config::parse_int("--n", "12x", 0, 100), "--n: expected an integer, got '12x'", UsageError);
  CHECK_THROWS_WITH_AS(ff::config::parse_int("--n", "101", 0, 100), "--n: 101 is out of range [0, 100]", UsageError);
  CHECK(ff::config::parse_double("--g", "3.5", 0, 10) == 3.5);
  CHECK_THROWS_AS(ff::config::parse_double("--g", "nan", 0, 10), UsageError);
}

TEST_CASE("serve config decodes every flag in one place, with units and ranges") {
  auto flags = ff::config::parse_flags(
      {"--bind", "tcp://127.0.0.1:7000", "--heartbeat-interval-ms", "200", "--heartbeat-misses-dead", "4",
       "--lease-timeout-ms", "5000", "--poll-interval-ms", "50", "--claim-batch-max", "64",
       "--shutdown-grace-ms", "0", "--retry-backoff-base-ms", "10", "--retry-backoff-max-ms", "100",
       "--dispatcher-id", "d1", "--reap-interval-ms", "100"},
      serve_flag_specs());
  ServeConfig c = decode_serve_config(flags);
  CHECK(c.bind_endpoint == "tcp://127.0.0.1:7000");
  CHECK(c.heartbeat_interval_ms == 200);
  CHECK(c.heartbeat_misses_dead == 4);
  CHECK(c.lease_timeout_ms == 5000);
  CHECK(c.poll_interval_ms == 50);
  CHECK(c.claim_batch_max == 64);
  CHECK(c.shutdown_grace_ms == 0);
  CHECK(c.retry_backoff.base_ms == 10);
  CHECK(c.retry_backoff.max_ms == 100);
  CHECK(c.dispatcher_id == "d1");
  CHECK(c.reap_interval_ms == 100);
  ServeConfig d = decode_serve_config(ff::config::parse_flags({}, serve_flag_specs()));
  CHECK(d.heartbeat_interval_ms == 1000);
  CHECK(d.heartbeat_misses_dead == 3);
  CHECK(d.dispatcher_id.empty());  // set at bind: <hostname>:<port>
  const std::string id = default_dispatcher_id("tcp://127.0.0.1:5555");
  CHECK(id.size() > 5);
  CHECK(id.substr(id.size() - 5) == ":5555");
  CHECK(default_dispatcher_id("tcp://127.0.0.1:5555") == id);  // stable across restarts
  CHECK(default_dispatcher_id("ipc:///tmp/x") != default_dispatcher_id("ipc:///tmp/x"));
  auto bad = [](std::vector<std::string> a) {
    return decode_serve_config(ff::config::parse_flags(a, serve_flag_specs()));
  };
  CHECK_THROWS_WITH_AS(bad({"--heartbeat-interval-ms", "0"}), Contains("out of range"), UsageError);
  CHECK_THROWS_WITH_AS(bad({"--bind", "localhost"}), Contains("not a ZeroMQ endpoint"), UsageError);
  CHECK_THROWS_WITH_AS(bad({"--retry-backoff-base-ms", "10", "--retry-backoff-max-ms", "5"}),
                       Contains(">= --retry-backoff-base-ms"), UsageError);
  CHECK_THROWS_WITH_AS(bad({"--lease-timeout-ms", "1000", "--heartbeat-interval-ms", "1000"}),
                       Contains("at least 2 x"), UsageError);
  CHECK_THROWS_AS(ff::config::parse_flags({"--lease-timeout"}, serve_flag_specs()), UsageError);
}

TEST_CASE("serve: statement/connect timeouts and the job deadline decode with ranges") {
  auto dec = [](std::vector<std::string> a) {
    return decode_serve_config(ff::config::parse_flags(a, serve_flag_specs()));
  };
  ServeConfig d = dec({});
  CHECK(d.pg.statement_timeout_ms == 10000);
  CHECK(d.pg.connect_timeout_s == 5);
  CHECK(d.job_deadline_ms == 4LL * 3600 * 1000);
  CHECK(d.retention_ms == 7LL * 86400000);
  CHECK(d.retention_batch == 500);
  CHECK(dec({"--retention-ms", "0"}).retention_ms == 0);
  CHECK_THROWS_WITH_AS(dec({"--retention-batch", "0"}), Contains("out of range"), UsageError);
  ServeConfig c = dec({"--statement-timeout-ms", "0", "--db-connect-timeout-s", "3", "--job-deadline-ms", "60000"});
  CHECK(c.pg.statement_timeout_ms == 0);
  CHECK(c.pg.connect_timeout_s == 3);
  CHECK(c.job_deadline_ms == 60000);
  CHECK_THROWS_WITH_AS(dec({"--statement-timeout-ms", "5"}), Contains("at least 100"), UsageError);
  CHECK_THROWS_WITH_AS(dec({"--job-deadline-ms", "5"}), Contains("at least 100"), UsageError);
  CHECK_THROWS_WITH_AS(dec({"--db-connect-timeout-s", "1"}), Contains("out of range"), UsageError);
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

TEST_CASE("a database URL with a password is refused") {
  CHECK_NOTHROW(check_database_url("postgresql://ff@db.example:5432/framefarm"));
  CHECK_NOTHROW(check_database_url("postgresql:///framefarm?host=/var/run/postgresql"));
  CHECK_NOTHROW(check_database_url("host=db user=ff dbname=framefarm"));
  CHECK_THROWS_WITH_AS(check_database_url("postgresql://ff:s3cret@db/framefarm"),
                       Contains("contains a password"), UsageError);
  CHECK_THROWS_WITH_AS(check_database_url("postgres://ff:@db/framefarm"), Contains("password"), UsageError);
  CHECK_THROWS_WITH_AS(check_database_url("postgresql://ff@db/framefarm?password=x"), Contains("password"), UsageError);
  CHECK_THROWS_WITH_AS(check_database_url("host=db password = x"), Contains("password"), UsageError);
  CHECK_THROWS_WITH_AS(check_database_url("host=db password=x"), Contains("PGPASSWORD"), UsageError);
}

TEST_CASE("CLI parsing: commands, positionals, options per command") {
  auto r = parse_cli({"submit", "a red fox", "--width", "512", "--steps", "8", "--video-cfg", "4.5", "--wait",
                      "--json", "--idempotency-key", "k1", "--database", "postgresql://u@h/d"});
  CHECK(r.command == "submit");
  CHECK(r.json);
  CHECK(r.database_url == "postgresql://u@h/d");
  auto s = decode_submit(r);
  CHECK(s.prompt == "a red fox");
  CHECK(s.wait);
  CHECK(s.idempotency_key == std::optional<std::string>("k1"));
  CHECK(s.params_json == "{\"width\":512,\"num_inference_steps\":8,\"video_cfg\":4.5}");
  CHECK(!s.negative_prompt);  // the schema's default negative prompt
  CHECK(decode_submit(parse_cli({"submit", "x"})).params_json == "{}");
  CHECK(parse_job_id(parse_cli({"status", "42"})) == 42);
  CHECK_THROWS_WITH_AS(parse_job_id(parse_cli({"status", "abc"})), Contains("job id: expected an integer"), UsageError);
  CHECK_THROWS_WITH_AS(parse_job_id(parse_cli({"cancel", "0"})), Contains("out of range"), UsageError);
  CHECK_THROWS_WITH_AS(parse_cli({}), Contains("missing command"), UsageError);
  CHECK_THROWS_WITH_AS(parse_cli({"launch"}), Contains("unknown command 'launch'"), UsageError);
  CHECK_THROWS_WITH_AS(parse_cli({"status"}), Contains("missing argument"), UsageError);
  CHECK_THROWS_WITH_AS(parse_cli({"status", "1", "2"}), Contains("unexpected argument '2'"), UsageError);
  CHECK_THROWS_WITH_AS(parse_cli({"list", "--width", "5"}), Contains("unknown option '--width'"), UsageError);
  CHECK_THROWS_WITH_AS(parse_cli({"workers", "--database", "postgresql://u:pw@h/d"}), Contains("password"), UsageError);
  CHECK_THROWS_WITH_AS(decode_submit(parse_cli({"submit", "x", "--frames", "0"})),
                       "--frames: params.num_frames = 0 is out of range [1, 1025]", UsageError);
  CHECK_THROWS_WITH_AS(decode_submit(parse_cli({"submit", ""})), Contains("must not be empty"), UsageError);
  CHECK_THROWS_WITH_AS(decode_submit(parse_cli({"submit", std::string(8193, 'a')})), Contains("maximum is 8192"), UsageError);
  CHECK_THROWS_WITH_AS(decode_submit(parse_cli({"submit", "x", "--wait-timeout-ms", "5"})), Contains("needs --wait"), UsageError);
  CHECK(parse_cli({"serve", "--help"}).help);
  CHECK(parse_cli({"--help"}).help);
}

TEST_CASE("submit checks every params flag with the schema's rules before connecting") {
  auto bad = [](std::vector<std::string> flags) {
    std::vector<std::string> a = {"submit", "x"};
    a.insert(a.end(), flags.begin(), flags.end());
    return decode_submit(parse_cli(a));
  };
  CHECK_THROWS_WITH_AS(bad({"--frames", "10"}),
                       "--frames: params.num_frames = 10 must be 8k+1 (e.g. 121): the video VAE encodes 1 + 8k frames",
                       UsageError);
  CHECK_THROWS_WITH_AS(bad({"--width", "1000"}),
                       "--width: params.width = 1000 must be a multiple of 64 (e.g. 1536): stage 1 runs at half "
                       "size on 32-px latent cells",
                       UsageError);
  CHECK_THROWS_WITH_AS(bad({"--steps", "-3"}), "--steps: params.num_inference_steps = -3 is out of range [1, 500]",
                       UsageError);
  CHECK_THROWS_WITH_AS(bad({"--height", "abc"}), "--height: params.height must be a JSON integer, got \"abc\"",
                       UsageError);
  CHECK_THROWS_WITH_AS(bad({"--audio-rescale", "1.5"}), "--audio-rescale: params.audio_rescale = 1.5 is out of range [0, 1]",
                       UsageError);
  CHECK_THROWS_WITH_AS(bad({"--guidance", "3"}), Contains("unknown option '--guidance'"), UsageError);
  auto all = bad({"--width", "768", "--height", "512", "--frames", "9", "--fps", "25", "--steps", "4", "--seed", "7",
                  "--video-cfg", "3.5", "--video-stg", "0", "--video-modality", "1", "--video-rescale", "0.5",
                  "--audio-cfg", "5", "--audio-stg", "1", "--audio-modality", "2", "--audio-rescale", "0"});
  CHECK(all.params_json ==
        "{\"width\":768,\"height\":512,\"num_frames\":9,\"frame_rate\":25,\"num_inference_steps\":4,\"seed\":7,"
        "\"video_cfg\":3.5,\"video_stg\":0,\"video_modality\":1,\"video_rescale\":0.5,\"audio_cfg\":5,"
        "\"audio_stg\":1,\"audio_modality\":2,\"audio_rescale\":0}");
  CHECK(ff::params::decode(all.params_json).video_rescale == 0.5);
  // help: one flag per key, naming its rule and default
  const std::string help = cli_help("submit");
  CHECK(help.find("--frames N") != std::string::npos);
  CHECK(help.find("params.num_frames: frames of the output video; integer in [1, 1025], 8k+1 (default 121)") !=
        std::string::npos);
  CHECK(help.find("params.width: output width in pixels; integer in [64, 4096], a multiple of 64 (default 1536)") !=
        std::string::npos);
  CHECK(help.find("--audio-rescale X") != std::string::npos);
  CHECK(help.find("(default 0.7)") != std::string::npos);
  // rejected with exit 2 without touching the (unreachable) database
  std::ostringstream out, err;
  CHECK(cli_main({"submit", "x", "--frames", "10", "--database", "postgresql://u@127.0.0.1:1/none"}, out, err) ==
        kExitUsage);
  CHECK(err.str().find("params.num_frames = 10 must be 8k+1") != std::string::npos);
}

TEST_CASE("cli_main: usage errors exit 2 with a message, --help exits 0") {
  std::ostringstream out, err;
  CHECK(cli_main({"list", "--bogus"}, out, err) == kExitUsage);
  CHECK(err.str().find("unknown option '--bogus'") != std::string::npos);
  std::ostringstream out2, err2;
  CHECK(cli_main({"submit", "--help"}, out2, err2) == kExitOk);
  CHECK(out2.str().find("--wait-timeout-ms") != std::string::npos);
  CHECK(out2.str().find("Exit codes") != std::string::npos);
  std::ostringstream out3, err3;
  CHECK(cli_main({"--help"}, out3, err3) == kExitOk);
  for (const char* c : {"submit", "status", "list", "cancel", "retry", "workers", "migrate", "serve"})
    CHECK(out3.str().find(c) != std::string::npos);
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

TEST_CASE("array literals quote and escape") {
  CHECK(int_array(std::vector<int64_t>{1, -2, 3}) == "{1,-2,3}");
  CHECK(int_array(std::vector<int64_t>{}) == "{}");
  CHECK(text_array(std::vector<std::string>{"a", "b\"c", "d\\e", ""}) == "{\"a\",\"b\\\"c\",\"d\\\\e\",\"\"}");
  CHECK(text_array(std::vector<std::optional<std::string>>{std::nullopt, "NULL"}) == "{NULL,\"NULL\"}");
}

TEST_CASE("sanitize_text makes worker strings valid UTF-8 without NULs, bounded") {
  CHECK(sanitize_text("plain") == "plain");
  CHECK(sanitize_text("caf\xC3\xA9") == "caf\xC3\xA9");
  CHECK(sanitize_text(std::string("a\0b", 3)) == "a\xEF\xBF\xBD" "b");
  CHECK(sanitize_text("\xff") == "\xEF\xBF\xBD");
  CHECK(sanitize_text("\xC0\xAF") == "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong
  CHECK(sanitize_text("\xED\xA0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  CHECK(sanitize_text("abcdef", 4) == "abcd");
  CHECK(sanitize_text("a\xC3\xA9", 2) == "a");  // never cuts a character
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
  // serve: the two flags go together and are checked at startup.
  auto dec = [](std::vector<std::string> args) {
    return decode_serve_config(ff::config::parse_flags(args, serve_flag_specs()));
  };
  CHECK_THROWS_WITH_AS(dec({"--curve-key-file", (dir / "k").string()}), Contains("go together"), UsageError);
  CHECK_THROWS_WITH_AS(dec({"--curve-key-file", (dir / "pub").string(), "--authorized-keys", (dir / "ok").string()}),
                       Contains("no 'secret' line"), UsageError);
  auto c = dec({"--curve-key-file", (dir / "k").string(), "--authorized-keys", (dir / "ok").string(),
                "--max-worker-slots", "8", "--max-worker-msgs-per-s", "50"});
  CHECK(c.curve_public_key == a.public_key);
  CHECK(c.max_worker_slots == 8);
  CHECK(c.max_worker_msgs_per_s == 50);
  std::filesystem::remove_all(dir);
}
