// unit: the command line of framefarm-dispatcher (dispatcher/cli.hpp) and the decoding of
// `serve` flags (dispatcher/config.hpp): flags per command, values and ranges, exit codes,
// help text, the URL password refusal. No database, no sockets.
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/cli_flags.hpp"
#include "common/config.hpp"
#include "common/job_params.hpp"
#include "dispatcher/cli.hpp"
#include "dispatcher/config.hpp"
#include "dispatcher/curve_auth.hpp"

using namespace ff::dispatcher;
using ff::config::UsageError;
using doctest::Contains;

TEST_CASE("flag conventions (common/cli_flags.hpp): unknown, repeated, valueless, ranges, --") {
  struct T {
    int64_t a_ms = 1;
    bool sw = false;
    std::vector<std::string> pos;
  };
  auto parse = [](std::vector<std::string> args) {
    T t;
    CLI::App app;
    ff::cli::configure(app, "prog [options]");
    app.add_option("--a-ms", t.a_ms, "a")->check(ff::cli::integer(0, 100));
    app.add_flag("--sw", t.sw, "a switch");
    app.add_option("POS", t.pos, "positionals");
    if (!ff::cli::parse(app, args)) t.a_ms = -1;  // help
    return t;
  };
  T t = parse({"--a-ms", "5", "pos", "--sw"});
  CHECK(t.a_ms == 5);
  CHECK(t.sw);
  CHECK(t.pos == std::vector<std::string>{"pos"});
  CHECK(parse({"--a-ms=7"}).a_ms == 7);
  CHECK(parse({}).a_ms == 1);  // the field's initializer is the default
  CHECK(parse({"--help"}).a_ms == -1);
  CHECK_THROWS_WITH_AS(parse({"--nope"}), "unknown option '--nope'", UsageError);
  CHECK_THROWS_WITH_AS(parse({"--nope=3"}), "unknown option '--nope'", UsageError);
  CHECK_THROWS_WITH_AS(parse({"-x"}), "unknown option '-x'", UsageError);
  CHECK_THROWS_WITH_AS(parse({"--a-ms"}), Contains("--a-ms"), UsageError);  // needs a value
  CHECK_THROWS_WITH_AS(parse({"--a-ms", "1", "--a-ms", "2"}), Contains("--a-ms"), UsageError);  // given twice
  CHECK_THROWS_WITH_AS(parse({"--a-ms", "12x"}), "--a-ms: expected an integer, got '12x'", UsageError);
  CHECK_THROWS_WITH_AS(parse({"--a-ms", "101"}), "--a-ms: 101 is out of range [0, 100]", UsageError);
  CHECK(parse({"--", "--sw"}).pos == std::vector<std::string>{"--sw"});
  CHECK_FALSE(parse({"--", "--sw"}).sw);
  // the help shows the default from the bound field
  T t2;
  CLI::App app;
  ff::cli::configure(app, "prog [options]");
  app.add_option("--a-ms", t2.a_ms, "a")->type_name("MS");
  CHECK(app.help().find("usage: prog [options]") == 0);
  CHECK(app.help().find("--a-ms MS=1") != std::string::npos);
  double x = 0;
  CLI::App napp;
  ff::cli::configure(napp, "n");
  napp.add_option("--g", x)->check(ff::cli::number(0, 10));
  CHECK(ff::cli::parse(napp, {"--g", "3.5"}));
  CHECK(x == 3.5);
  CHECK_THROWS_WITH_AS(ff::cli::parse(napp, {"--g", "nan"}), "--g: expected a number, got 'nan'", UsageError);
}

TEST_CASE("serve config decodes every flag in one place, with units and ranges") {
  ServeConfig c = decode_serve_config(
      {"--bind", "tcp://127.0.0.1:7000", "--heartbeat-interval-ms", "200", "--heartbeat-misses-dead", "4",
       "--lease-timeout-ms", "5000", "--poll-interval-ms", "50", "--claim-batch-max", "64",
       "--shutdown-grace-ms", "0", "--retry-backoff-base-ms", "10", "--retry-backoff-max-ms", "100",
       "--dispatcher-id", "d1", "--reap-interval-ms", "100"});
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
  ServeConfig d = decode_serve_config({});
  CHECK(d.heartbeat_interval_ms == 1000);
  CHECK(d.heartbeat_misses_dead == 3);
  CHECK(d.dispatcher_id.empty());  // set at bind: <hostname>:<port>
  const std::string id = default_dispatcher_id("tcp://127.0.0.1:5555");
  CHECK(id.size() > 5);
  CHECK(id.substr(id.size() - 5) == ":5555");
  CHECK(default_dispatcher_id("tcp://127.0.0.1:5555") == id);  // stable across restarts
  CHECK(default_dispatcher_id("ipc:///tmp/x") != default_dispatcher_id("ipc:///tmp/x"));
  auto bad = [](std::vector<std::string> a) {
    return decode_serve_config(a);
  };
  CHECK_THROWS_WITH_AS(bad({"--heartbeat-interval-ms", "0"}), Contains("out of range"), UsageError);
  CHECK_THROWS_WITH_AS(bad({"--bind", "localhost"}), Contains("not a ZeroMQ endpoint"), UsageError);
  CHECK_THROWS_WITH_AS(bad({"--retry-backoff-base-ms", "10", "--retry-backoff-max-ms", "5"}),
                       Contains(">= --retry-backoff-base-ms"), UsageError);
  CHECK_THROWS_WITH_AS(bad({"--lease-timeout-ms", "1000", "--heartbeat-interval-ms", "1000"}),
                       Contains("at least 2 x"), UsageError);
  CHECK_THROWS_WITH_AS(bad({"--heartbeat-interval-ms", "0"}), "--heartbeat-interval-ms: 0 is out of range [10, 600000]",
                       UsageError);
  CHECK_THROWS_WITH_AS(bad({"--lease-timeout"}), "unknown option '--lease-timeout'", UsageError);
}

TEST_CASE("serve: statement/connect timeouts and the job deadline decode with ranges") {
  auto dec = [](std::vector<std::string> a) {
    return decode_serve_config(a);
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

TEST_CASE("a database URL with a password is refused") {
  CHECK_NOTHROW(check_database_url("postgresql://ff@db.example:5432/framefarm"));
  CHECK_NOTHROW(check_database_url("postgresql:///framefarm?host=/var/run/postgresql"));
  CHECK_NOTHROW(check_database_url("host=db user=ff dbname=framefarm"));
  CHECK_THROWS_WITH_AS(check_database_url("postgresql://ff:s3cret@db/framefarm"),
                       Contains("contains a password"), UsageError);
  // libpq (PQconninfoParse) reads the string as the connection will: an empty password is none.
  CHECK_NOTHROW(check_database_url("postgres://ff:@db/framefarm"));
  CHECK_NOTHROW(check_database_url(""));  // the libpq environment
  CHECK_THROWS_WITH_AS(check_database_url("postgres://ff:%73ecret@db/framefarm"), Contains("URL contains a password"),
                       UsageError);
  CHECK_THROWS_WITH_AS(check_database_url("host=db password='a b' user=ff"), Contains("connection string contains a password"),
                       UsageError);
  CHECK_THROWS_WITH_AS(check_database_url("host=db password"),
                       Contains("--database: not a PostgreSQL URL or connection string: missing \"=\" after \"password\""),
                       UsageError);
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
  const SubmitOptions& s = r.submit;
  CHECK(s.prompt == "a red fox");
  CHECK(s.wait);
  CHECK(s.idempotency_key == std::optional<std::string>("k1"));
  CHECK(s.params_json == "{\"width\":512,\"num_inference_steps\":8,\"video_cfg\":4.5}");
  CHECK(!s.negative_prompt);  // the schema's default negative prompt
  CHECK(parse_cli({"submit", "x"}).submit.params_json == "{}");
  CHECK(parse_cli({"status", "42"}).job_id == 42);
  CHECK_THROWS_WITH_AS(parse_cli({"status", "abc"}), "ID: expected an integer, got 'abc'", UsageError);
  CHECK_THROWS_WITH_AS(parse_cli({"cancel", "0"}), Contains("out of range"), UsageError);
  CHECK(parse_cli({"list", "--state", "dead", "--limit", "5"}).list.limit == 5);
  CHECK(parse_cli({"list"}).list.limit == 20);
  CHECK_THROWS_WITH_AS(parse_cli({"list", "--state", "done"}), Contains("--state: 'done' is not a job state (queued"),
                       UsageError);
  CHECK_THROWS_WITH_AS(parse_cli({"keygen"}), Contains("--out"), UsageError);
  CHECK(parse_cli({"keygen", "--out", "k"}).keygen.out == "k");
  CHECK(parse_cli({"workers", "--all"}).all_workers);
  CHECK_FALSE(parse_cli({"migrate"}).schema_dir.empty());  // default_schema_dir()
  CHECK_THROWS_WITH_AS(parse_cli({}), Contains("missing command"), UsageError);
  CHECK_THROWS_WITH_AS(parse_cli({"launch"}), Contains("unknown command 'launch'"), UsageError);
  CHECK_THROWS_WITH_AS(parse_cli({"status"}), Contains("missing argument"), UsageError);
  CHECK_THROWS_WITH_AS(parse_cli({"status", "1", "2"}), Contains("unexpected argument '2'"), UsageError);
  CHECK_THROWS_WITH_AS(parse_cli({"list", "--width", "5"}), Contains("unknown option '--width'"), UsageError);
  CHECK_THROWS_WITH_AS(parse_cli({"workers", "--database", "postgresql://u:pw@h/d"}), Contains("password"), UsageError);
  CHECK_THROWS_WITH_AS(parse_cli({"submit", "x", "--frames", "0"}),
                       "--frames: params.num_frames = 0 is out of range [1, 1025]", UsageError);
  CHECK_THROWS_WITH_AS(parse_cli({"submit", ""}), Contains("must not be empty"), UsageError);
  CHECK_THROWS_WITH_AS(parse_cli({"submit", std::string(8193, 'a')}), Contains("maximum is 8192"), UsageError);
  CHECK_THROWS_WITH_AS(parse_cli({"submit", "x", "--wait-timeout-ms", "5"}), Contains("--wait"), UsageError);
  CHECK(parse_cli({"serve", "--help"}).help);
  CHECK(parse_cli({"--help"}).help);
}

TEST_CASE("submit checks every params flag with the schema's rules before connecting") {
  auto bad = [](std::vector<std::string> flags) {
    std::vector<std::string> a = {"submit", "x"};
    a.insert(a.end(), flags.begin(), flags.end());
    return parse_cli(a).submit;
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
  CHECK(parse_cli({"submit", "x", "--priority", "-5"}).submit.priority == -5);
  CHECK(parse_cli({"submit", "x", "--negative", ""}).submit.negative_prompt == std::optional<std::string>(""));
  CHECK(parse_cli({"submit", "x", "--preset", "slow", "--audio", "false"}).submit.params_json ==
        "{\"preset\":\"slow\",\"audio\":false}");
  // help: one flag per key, naming its rule; the default shown is the protocol's (JobParams{})
  const std::string help = cli_help("submit");
  CHECK(help.find("usage: framefarm-dispatcher submit PROMPT [options]") == 0);
  CHECK(help.find("--frames N=121") != std::string::npos);
  CHECK(help.find("params.num_frames: frames of the output video; integer in [1, 1025], 8k+1") != std::string::npos);
  CHECK(help.find("--width N=1536") != std::string::npos);
  CHECK(help.find("params.width: output width in pixels; integer in [64, 4096], a multiple of 64") != std::string::npos);
  CHECK(help.find("--audio-rescale X=0.7") != std::string::npos);
  CHECK(help.find("--max-attempts N=3") != std::string::npos);  // SubmitOptions{}'s
  // serve: every default comes from ServeConfig{}
  const std::string serve_help = cli_help("serve");
  CHECK(serve_help.find("--heartbeat-interval-ms MS=1000") != std::string::npos);
  CHECK(serve_help.find("--bind ENDPOINT=tcp://*:5555") != std::string::npos);
  CHECK(serve_help.find("--job-deadline-ms MS=14400000") != std::string::npos);
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

TEST_CASE("serve: --curve-key-file and --authorized-keys go together and are read at startup") {
  using namespace ff;  // common/curve_keys.hpp
  REQUIRE(curve_available());
  auto dir = std::filesystem::temp_directory_path() / ("ff-curve-cli-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto a = generate_curve_keypair(), b = generate_curve_keypair();
  write_curve_keys(dir / "k", a);
  write_curve_keys(dir / "pub", CurveKeyPair{a.public_key, ""});
  {
    std::ofstream f(dir / "ok");
    f << a.public_key << " w1\n" << b.public_key << " w2\n";
  }
  auto dec = [](std::vector<std::string> args) {
    return decode_serve_config(args);
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
