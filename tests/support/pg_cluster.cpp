#include "tests/support/pg_cluster.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace ff::test {
namespace {

struct CmdResult {
  int rc = -1;
  std::string out;
};

// Runs a shell command, capturing stdout+stderr.
CmdResult run_shell(const std::string& cmd) {
  CmdResult r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int st = ::pclose(p);
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') q += "'\\''";
    else q += c;
  }
  return q + "'";
}

}  // namespace

int free_tcp_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("free_tcp_port: socket() failed");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    throw std::runtime_error("free_tcp_port: bind() failed");
  }
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

PgCluster::PgCluster() {
  const char* env_bin = std::getenv("FF_PG_BIN");
  bin_ = env_bin && *env_bin ? env_bin : "/usr/lib/postgresql/15/bin";
  if (!std::filesystem::exists(bin_ + "/initdb"))
    throw std::runtime_error("PgCluster: " + bin_ + "/initdb not found (install postgresql-15)");
  root_user_ = ::geteuid() == 0;
  char tmpl[] = "/tmp/ff-pg-XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("PgCluster: mkdtemp failed");
  root_ = tmpl;
  if (root_user_) {
    auto r = run_shell("chown postgres: " + shell_quote(root_) + " && chmod 755 " + shell_quote(root_));
    if (r.rc != 0) throw std::runtime_error("PgCluster: chown to postgres failed: " + r.out);
  }
  // initdb costs seconds on a loaded machine: do it once per machine into a shared template
  // (created atomically by rename) and copy that for every cluster.
  std::string tmpl_dir = std::string("/tmp/ff-pg-template-15-") + (root_user_ ? "postgres" : std::to_string(::geteuid()));
  if (!std::filesystem::exists(tmpl_dir + "/data/PG_VERSION")) {
    std::string staging = root_ + "/template";
    auto r = run_shell(as_pg_user("mkdir -p " + shell_quote(staging) + " && " + bin_ + "/initdb -D " +
                                  shell_quote(staging + "/data") +
                                  " -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync"));
    if (r.rc != 0) {
      std::filesystem::remove_all(root_);
      throw std::runtime_error("PgCluster: initdb failed: " + r.out);
    }
    std::error_code ec;
    std::filesystem::rename(staging, tmpl_dir, ec);  // loses the race harmlessly if one exists
    if (ec) std::filesystem::remove_all(staging, ec);
  }
  auto r = run_shell(as_pg_user("cp -a " + shell_quote(tmpl_dir + "/data") + " " + shell_quote(data_dir())));
  if (r.rc != 0) {
    std::filesystem::remove_all(root_);
    throw std::runtime_error("PgCluster: copying the initdb template failed: " + r.out);
  }
  // A port found free may be taken before the server binds it: retry a few times.
  std::string last_error;
  for (int i = 0; i < 5 && !running_; ++i) {
    port_ = free_tcp_port();
    try {
      start();
    } catch (const std::exception& e) {
      last_error = e.what();
    }
  }
  if (!running_) {
    std::filesystem::remove_all(root_);
    throw std::runtime_error(last_error);
  }
}

PgCluster::~PgCluster() {
  if (running_)
    run_shell(as_pg_user(bin_ + "/pg_ctl -D " + shell_quote(data_dir()) + " -m immediate -w stop"));
  std::error_code ec;
  std::filesystem::remove_all(root_, ec);
}

std::string PgCluster::as_pg_user(const std::string& cmd) const {
  if (!root_user_) return cmd;
  return "runuser -u postgres -- sh -c " + shell_quote(cmd);
}

std::string PgCluster::url() const { return url("postgres"); }

std::string PgCluster::url(const std::string& dbname, const std::string& user) const {
  return "postgresql://" + user + "@127.0.0.1:" + std::to_string(port_) + "/" + dbname;
}

void PgCluster::start() {
  if (running_) return;
  std::string opts = "-k " + root_ + " -p " + std::to_string(port_) +
                     " -c listen_addresses=127.0.0.1 -c fsync=off"
                     " -c full_page_writes=off -c max_connections=200";
  auto r = run_shell(as_pg_user(bin_ + "/pg_ctl -D " + shell_quote(data_dir()) + " -l " +
                                shell_quote(root_ + "/log") + " -w -t 30 -o " + shell_quote(opts) +
                                " start"));
  if (r.rc != 0)
    throw std::runtime_error("PgCluster: pg_ctl start failed: " + r.out + "\n" + log_tail());
  running_ = true;
}

void PgCluster::stop() {
  if (!running_) return;
  auto r = run_shell(as_pg_user(bin_ + "/pg_ctl -D " + shell_quote(data_dir()) + " -m fast -w stop"));
  if (r.rc != 0) throw std::runtime_error("PgCluster: pg_ctl stop failed: " + r.out);
  running_ = false;
}

void PgCluster::restart() {
  stop();
  start();
}

std::string PgCluster::psql(const std::string& sql) const {
  std::string cmd = bin_ + "/psql -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p " +
                    std::to_string(port_) + " -U postgres -d postgres -c " + shell_quote(sql);
  auto r = run_shell(cmd);
  if (r.rc != 0) throw std::runtime_error("psql failed: " + r.out);
  return r.out;
}

void PgCluster::apply_schema(const std::string& schema_dir, const std::string& dbname) const {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(schema_dir)) {
    const std::string name = e.path().filename().string();
    if (name.size() > 8 && std::isdigit(static_cast<unsigned char>(name[0])) &&
        std::isdigit(static_cast<unsigned char>(name[1])) && std::isdigit(static_cast<unsigned char>(name[2])) &&
        name[3] == '_' && e.path().extension() == ".sql")
      files.push_back(e.path());
  }
  if (files.empty()) throw std::runtime_error("apply_schema: no NNN_*.sql file in " + schema_dir);
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    auto r = run_shell(bin_ + "/psql -X -q -v ON_ERROR_STOP=1 --single-transaction -h 127.0.0.1 -p " +
                       std::to_string(port_) + " -U postgres -d " + shell_quote(dbname) + " -f " +
                       shell_quote(f.string()));
    if (r.rc != 0) throw std::runtime_error("apply_schema: " + f.string() + " failed: " + r.out);
  }
}

std::string PgCluster::log_tail(size_t max_bytes) const {
  std::ifstream f(root_ + "/log", std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  return s.size() > max_bytes ? s.substr(s.size() - max_bytes) : s;
}

}  // namespace ff::test
