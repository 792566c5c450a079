// Connection options the dispatcher adds to every PostgreSQL connection string, so that a hung
// (not refused) connection or a blocked statement cannot freeze a dispatcher. Pure; any thread.
//
// - connect_timeout: a connect attempt gives up (libpq, whole seconds, at least 2).
// - keepalives / tcp_user_timeout: a peer that vanished without closing the TCP connection (host
//   down, network partition) is detected by the kernel within ~keepalive idle + count x interval,
//   and unacknowledged sends fail after tcp_user_timeout; the blocked call then fails with a
//   connection error and the dispatcher reconnects.
// - options=-c statement_timeout=N: a statement blocked longer (a table lock, a stuck server) is
//   cancelled by the server; the dispatcher treats that as transient (keeps what it buffered,
//   reconnects, retries).
// Keys the caller already set in the URL/conninfo are left as they are.
#pragma once

#include <cctype>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ff::dispatcher {

struct PgTimeouts {
  int64_t connect_timeout_s = 5;
  int64_t statement_timeout_ms = 10000;  // 0 = none
  int64_t keepalives_idle_s = 10;
  int64_t keepalives_interval_s = 3;
  int64_t keepalives_count = 3;
  int64_t tcp_user_timeout_ms = 20000;
};

// The libpq parameters for `t`, in order (name, value).
inline std::vector<std::pair<std::string, std::string>> pg_timeout_params(const PgTimeouts& t) {
  std::vector<std::pair<std::string, std::string>> p = {
      {"connect_timeout", std::to_string(t.connect_timeout_s < 2 ? 2 : t.connect_timeout_s)},
      {"keepalives", "1"},
      {"keepalives_idle", std::to_string(t.keepalives_idle_s)},
      {"keepalives_interval", std::to_string(t.keepalives_interval_s)},
      {"keepalives_count", std::to_string(t.keepalives_count)},
      {"tcp_user_timeout", std::to_string(t.tcp_user_timeout_ms)},
  };
  if (t.statement_timeout_ms > 0)
    p.push_back({"options", "-c statement_timeout=" + std::to_string(t.statement_timeout_ms)});
  return p;
}

// `url` ("" = libpq environment, a postgresql:// URI, or key=value conninfo) with the
// parameters of `t` added where the caller did not set them.
inline std::string with_pg_timeouts(const std::string& url, const PgTimeouts& t) {
  const bool uri = url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
  auto has_key = [&](const std::string& k) {
    // URI: ?k= or &k= ; conninfo: k= at the start or after a space.
    if (uri) return url.find("?" + k + "=") != std::string::npos || url.find("&" + k + "=") != std::string::npos;
    size_t p = url.find(k);
    while (p != std::string::npos) {
      size_t q = p + k.size();
      while (q < url.size() && url[q] == ' ') ++q;
      if ((p == 0 || url[p - 1] == ' ') && q < url.size() && url[q] == '=') return true;
      p = url.find(k, p + 1);
    }
    return false;
  };
  auto uri_escape = [](const std::string& v) {
    std::string o;
    for (unsigned char c : v) {
      if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') o += static_cast<char>(c);
      else {
        static const char* hex = "0123456789ABCDEF";
        o += '%';
        o += hex[c >> 4];
        o += hex[c & 15];
      }
    }
    return o;
  };
  std::string out = url;
  for (const auto& [k, v] : pg_timeout_params(t)) {
    if (has_key(k)) continue;
    if (uri) {
      out += out.find('?') == std::string::npos ? '?' : '&';
      out += k + "=" + uri_escape(v);
    } else {
      if (!out.empty()) out += ' ';
      out += k + "='" + v + "'";
    }
  }
  return out;
}

}  // namespace ff::dispatcher
