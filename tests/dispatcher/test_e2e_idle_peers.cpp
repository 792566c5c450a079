// e2e: bounded resources on the worker port. A real `framefarm-dispatcher serve` with CURVE,
// started with a soft open-files limit of 1,024 (the common default outside systemd): 1,100 TCP
// peers that connect and never start the CURVE handshake do not lock an authorized worker out
// (the dispatcher raises its soft limit to the hard one), and every one of them is disconnected
// by the dispatcher once the handshake timeout passes.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "common/curve_keys.hpp"
#include "tests/dispatcher/dispatcher_env.hpp"
#include "tests/dispatcher/process.hpp"
#include "tests/dispatcher/sim_worker.hpp"

using namespace ff;
using namespace std::chrono_literals;

namespace {
// Starts a TCP connection to 127.0.0.1:port that will send nothing (non-blocking); -1 on error.
int idle_connect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  return fd;
}
// Waits until every fd's connect completed; returns how many succeeded.
size_t wait_connected(const std::vector<int>& fds, std::chrono::milliseconds timeout) {
  std::vector<bool> done(fds.size(), false);
  size_t ok = 0, finished = 0;
  auto end = std::chrono::steady_clock::now() + timeout;
  while (finished < fds.size() && std::chrono::steady_clock::now() < end) {
    std::vector<pollfd> p;
    std::vector<size_t> idx;
    for (size_t i = 0; i < fds.size(); ++i)
      if (!done[i]) {
        p.push_back({fds[i], POLLOUT, 0});
        idx.push_back(i);
      }
    ::poll(p.data(), p.size(), 100);
    for (size_t k = 0; k < p.size(); ++k) {
      if (!(p[k].revents & (POLLOUT | POLLERR | POLLHUP))) continue;
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(p[k].fd, SOL_SOCKET, SO_ERROR, &err, &len);
      done[idx[k]] = true;
      ++finished;
      ok += err == 0;
    }
  }
  return ok;
}
// Reads what is waiting; true once the peer closed the connection (EOF or reset).
bool closed_by_peer(int fd) {
  char buf[256];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) continue;  // the dispatcher's ZMTP greeting
    if (n == 0) return true;
    return errno != EAGAIN && errno != EWOULDBLOCK;
  }
}
}  // namespace

TEST_CASE("1,100 idle peers that never complete the CURVE handshake: an authorized worker still gets in, and each idle peer is dropped after the handshake timeout") {
  REQUIRE(ff::curve_available());
  rlimit own{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &own) == 0);
  if (own.rlim_cur < 1300) {  // the test itself needs 1,100 descriptors
    own.rlim_cur = std::min<rlim_t>(own.rlim_max, 4096);
    ::setrlimit(RLIMIT_NOFILE, &own);
  }
  REQUIRE(own.rlim_cur >= 1300);
  test::DispatcherEnv env;
  const std::string dir = env.pg.dir();
  const std::string key_file = dir + "/dispatcher.key";
  {
    test::Process k({FF_DISPATCHER_BIN, "keygen", "--out", key_file});
    REQUIRE(k.wait(10s) == std::optional<int>(0));
  }
  auto dkeys = ff::load_curve_keys(key_file, true);
  auto w1 = ff::generate_curve_keypair();
  const std::string auth = dir + "/authorized_keys";
  std::ofstream(auth) << w1.public_key << " w1\n";
  const int port = test::free_tcp_port();
  const std::string ep = "tcp://127.0.0.1:" + std::to_string(port);
  // Soft limit 1,024 as a login shell would give it; the hard limit stays what it is.
  test::Process d({"/bin/sh", "-c", "ulimit -Sn 1024 && exec \"$0\" \"$@\"", FF_DISPATCHER_BIN, "serve",
                   "--database", env.pg.url(), "--bind", ep, "--dispatcher-id", "dI", "--poll-interval-ms", "50",
                   "--curve-key-file", key_file, "--authorized-keys", auth, "--handshake-timeout-ms", "8000"});
  // Wait until it listens (a plain connect succeeds), then open the rest all at once.
  for (int i = 0; i < 200; ++i) {
    int fd = idle_connect(port);
    if (fd >= 0 && wait_connected({fd}, 1s) == 1) {
      ::close(fd);
      break;
    }
    if (fd >= 0) ::close(fd);
    std::this_thread::sleep_for(50ms);
  }
  const auto flood_start = std::chrono::steady_clock::now();
  std::vector<int> idle;
  for (int i = 0; i < 1100; ++i) {
    int fd = idle_connect(port);
    REQUIRE(fd >= 0);
    idle.push_back(fd);
  }
  REQUIRE(wait_connected(idle, 20s) == 1100);
  const auto flooded = std::chrono::steady_clock::now();
  std::printf("1,100 idle connections opened in %.2f s\n", std::chrono::duration<double>(flooded - flood_start).count());
  {
    std::ifstream lim("/proc/" + std::to_string(d.pid()) + "/limits");
    for (std::string line; std::getline(lim, line);)
      if (line.rfind("Max open files", 0) == 0) std::printf("dispatcher: %s\n", line.c_str());
  }

  // An authorized worker registers and runs a job while the idle peers hold their connections.
  int64_t job = std::stoll(env.q("INSERT INTO framefarm.jobs (prompt) VALUES ('still served') RETURNING id"));
  test::SimCurve w1c{dkeys.public_key, w1.public_key, w1.secret_key};
  test::SimWorker w(env.ctx, ep, &w1c);
  REQUIRE(w.register_as("w1", 1));
  size_t still_open = 0;
  for (int fd : idle) still_open += !closed_by_peer(fd);
  std::printf("authorized worker welcomed %.2f s after the 1,100th idle connection; %zu of them still open\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - flooded).count(), still_open);
  CHECK(still_open > 1000);  // it got in while (almost) all of them were connected
  auto j = w.recv_until<proto::Job>(5s);
  REQUIRE(j);
  CHECK(j->job_id == job);
  proto::Result r;
  r.job_id = job;
  r.epoch = j->epoch;
  r.ok = true;
  r.output_path = "/out/x.mp4";
  w.send(r);
  CHECK(env.wait_for("SELECT state FROM framefarm.jobs WHERE id = " + std::to_string(job), "succeeded") == "succeeded");

  // Each idle peer is disconnected by the dispatcher after the handshake timeout.
  std::vector<bool> closed(idle.size(), false);
  size_t n_closed = 0;
  for (auto end = std::chrono::steady_clock::now() + 30s; n_closed < idle.size() && std::chrono::steady_clock::now() < end;) {
    for (size_t i = 0; i < idle.size(); ++i)
      if (!closed[i] && closed_by_peer(idle[i])) {
        closed[i] = true;
        ++n_closed;
      }
    w.recv(100ms);  // the worker stays alive meanwhile
    w.send(proto::Heartbeat{0});
  }
  std::printf("%zu of %zu idle connections closed by the dispatcher\n", n_closed, idle.size());
  CHECK(n_closed == idle.size());
  for (int fd : idle) ::close(fd);
  // The authorized worker's session is untouched.
  w.send(proto::Heartbeat{0});
  CHECK(d.alive());
  CHECK(env.q("SELECT status FROM framefarm.workers WHERE worker_id = 'w1'") == "alive");
}
