#include "dispatcher/worker_link.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "common/log.hpp"
#include "common/protocol.hpp"
#include "dispatcher/log_component.hpp"

namespace ff::dispatcher {

namespace {

// Frames on the inproc pair: [kind, identity, payload]. Kinds: loop -> link 'S' (send);
// link -> loop 'M' (message), 'F' (send failed), 'G' (gone), 'B' (bad frame; payload = parts).
constexpr char kSend = 'S';

char kind_char(LinkEvent::Kind k) {
  switch (k) {
    case LinkEvent::Kind::kMessage: return 'M';
    case LinkEvent::Kind::kSendFailed: return 'F';
    case LinkEvent::Kind::kGone: return 'G';
    case LinkEvent::Kind::kBadFrame: return 'B';
  }
  return 'M';
}

std::string inproc_name(const void* self) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "inproc://ff-worker-link-%p", self);
  return buf;
}
}  // namespace

WorkerLink::WorkerLink(zmq::context_t& ctx, LinkConfig cfg)
    : cfg_(cfg),
      router_(ctx, zmq::socket_type::router),
      link_end_(ctx, zmq::socket_type::pair),
      loop_end_(ctx, zmq::socket_type::pair) {
  router_.set(zmq::sockopt::router_mandatory, 1);
  router_.set(zmq::sockopt::linger, 0);
  router_.set(zmq::sockopt::sndhwm, 100000);
  router_.set(zmq::sockopt::rcvhwm, 100000);
  router_.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(cfg_.max_frame_bytes));
  // A peer that does not finish its ZMTP/CURVE handshake in time is disconnected (idle or
  // hostile connections cannot hold descriptors for long).
  router_.set(zmq::sockopt::handshake_ivl, static_cast<int>(cfg_.handshake_timeout_ms));
  // Pending connections the kernel queues before they are accepted (ZeroMQ's default, 100, drops
  // the final ACK of a burst of connects: such clients think they are connected and wait for a
  // retransmission). The kernel caps it at net.core.somaxconn.
  router_.set(zmq::sockopt::backlog, 1024);
  if (!cfg_.curve_secret_key.empty()) {
    // Every connection must complete a CURVE handshake with an authorized key (ZAP below).
    zap_ = std::make_unique<ZapHandler>(ctx, cfg_.authorized_keys_file);
    router_.set(zmq::sockopt::zap_domain, kZapDomain);
    router_.set(zmq::sockopt::curve_server, true);
    router_.set(zmq::sockopt::curve_secretkey, cfg_.curve_secret_key);
  }
  // The pair never drops: both ends unbounded (the loop drains it every turn).
  for (auto* s : {&link_end_, &loop_end_}) {
    s->set(zmq::sockopt::sndhwm, 0);
    s->set(zmq::sockopt::rcvhwm, 0);
    s->set(zmq::sockopt::linger, 0);
  }
  const std::string name = inproc_name(this);
  link_end_.bind(name);
  loop_end_.connect(name);
}

WorkerLink::~WorkerLink() { stop(); }

std::string WorkerLink::bind(const std::string& endpoint) {
  router_.bind(endpoint);
  return router_.get(zmq::sockopt::last_endpoint);
}

void WorkerLink::start() {
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { serve(); });
}

void WorkerLink::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void WorkerLink::send(const std::string& identity, const std::string& frame) {
  const char k = kSend;
  loop_end_.send(zmq::buffer(&k, 1), zmq::send_flags::sndmore);
  loop_end_.send(zmq::buffer(identity), zmq::send_flags::sndmore);
  loop_end_.send(zmq::buffer(frame), zmq::send_flags::none);
}

size_t WorkerLink::drain(std::vector<LinkEvent>& out, size_t max) {
  size_t n = 0;
  while (n < max) {
    zmq::message_t kind, id, payload, user;
    if (!loop_end_.recv(kind, zmq::recv_flags::dontwait)) break;
    (void)loop_end_.recv(id, zmq::recv_flags::none);
    (void)loop_end_.recv(payload, zmq::recv_flags::none);
    (void)loop_end_.recv(user, zmq::recv_flags::none);
    LinkEvent e;
    const char k = kind.size() ? *static_cast<const char*>(kind.data()) : 'M';
    e.kind = k == 'F' ? LinkEvent::Kind::kSendFailed
             : k == 'G' ? LinkEvent::Kind::kGone
             : k == 'B' ? LinkEvent::Kind::kBadFrame
                        : LinkEvent::Kind::kMessage;
    e.identity = id.to_string();
    if (e.kind == LinkEvent::Kind::kBadFrame) e.parts = std::stoul(payload.to_string());
    else e.frame = payload.to_string();
    e.user_id = user.to_string();
    out.push_back(std::move(e));
    ++n;
  }
  return n;
}

void WorkerLink::watch(const std::string& identity) {
  std::lock_guard<std::mutex> l(mu_);
  watched_[identity] = Clock::now();
}

void WorkerLink::unwatch(const std::string& identity) {
  std::lock_guard<std::mutex> l(mu_);
  watched_.erase(identity);
}

std::optional<WorkerLink::Clock::time_point> WorkerLink::last_heard(const std::string& identity) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = watched_.find(identity);
  if (it == watched_.end()) return std::nullopt;
  return it->second;
}

void WorkerLink::emit(LinkEvent::Kind kind, const std::string& identity, const std::string& frame,
                      size_t parts, const std::string& user_id) {
  const char k = kind_char(kind);
  link_end_.send(zmq::buffer(&k, 1), zmq::send_flags::sndmore);
  link_end_.send(zmq::buffer(identity), zmq::send_flags::sndmore);
  if (kind == LinkEvent::Kind::kBadFrame) {
    const std::string p = std::to_string(parts);
    link_end_.send(zmq::buffer(p), zmq::send_flags::sndmore);
  } else {
    link_end_.send(zmq::buffer(frame), zmq::send_flags::sndmore);
  }
  link_end_.send(zmq::buffer(user_id), zmq::send_flags::none);
}

// Token bucket per connection: max_msgs_per_s sustained, bursts of the same size.
bool WorkerLink::within_rate(const std::string& identity, Clock::time_point now) {
  if (cfg_.max_msgs_per_s <= 0) return true;
  if (buckets_.size() > 100000) buckets_.clear();
  auto [it, fresh] = buckets_.try_emplace(identity);
  Bucket& b = it->second;
  const double cap = static_cast<double>(cfg_.max_msgs_per_s);
  if (fresh) b = {cap, now};
  b.tokens = std::min(cap, b.tokens + std::chrono::duration<double>(now - b.at).count() * cap);
  b.at = now;
  if (b.tokens < 1.0) return false;
  b.tokens -= 1.0;
  return true;
}

void WorkerLink::send_on_router(const std::string& identity, const std::string& frame, bool heartbeat) {
  bool ok = false;
  try {
    ok = router_.send(zmq::buffer(identity), zmq::send_flags::sndmore | zmq::send_flags::dontwait) &&
         router_.send(zmq::buffer(frame), zmq::send_flags::dontwait);
  } catch (const zmq::error_t&) {
    // EHOSTUNREACH: no connection with that identity any more.
    ok = false;
  }
  if (ok) return;
  if (heartbeat) emit(LinkEvent::Kind::kGone, identity, "", 0);
  else emit(LinkEvent::Kind::kSendFailed, identity, frame, 0);
}

void WorkerLink::serve() {
  const auto interval = std::chrono::milliseconds(cfg_.heartbeat_interval_ms);
  auto next_hb = Clock::now();
  auto forward_sends = [&] {
    for (int n = 0; n < 100000; ++n) {
      zmq::message_t kind, id, payload;
      if (!link_end_.recv(kind, zmq::recv_flags::dontwait)) return;
      (void)link_end_.recv(id, zmq::recv_flags::none);
      (void)link_end_.recv(payload, zmq::recv_flags::none);
      send_on_router(id.to_string(), payload.to_string(), false);
    }
  };
  while (!stop_.load()) {
    auto now = Clock::now();
    if (now >= next_hb) {
      next_hb = now + interval;
      proto::Heartbeat h;
      h.sent_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch()).count();
      const std::string frame = proto::encode(h);
      std::vector<std::string> ids;
      {
        std::lock_guard<std::mutex> l(mu_);
        for (const auto& [id, t] : watched_) ids.push_back(id);
      }
      for (const auto& id : ids) send_on_router(id, frame, true);
      heartbeats_sent_ += static_cast<int64_t>(ids.size());
    }
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_hb - Clock::now());
    wait = std::clamp(wait, std::chrono::milliseconds(0), std::chrono::milliseconds(50));
    zmq::pollitem_t items[3] = {{static_cast<void*>(router_), 0, ZMQ_POLLIN, 0},
                                {static_cast<void*>(link_end_), 0, ZMQ_POLLIN, 0},
                                {zap_ ? static_cast<void*>(zap_->socket()) : nullptr, 0, ZMQ_POLLIN, 0}};
    try {
      zmq::poll(items, zap_ ? 3 : 2, wait);
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) log::error(kLog, "link poll failed: ", e.what());
      continue;
    }
    if (zap_) zap_->handle_pending();  // handshakes wait on these answers
    // Worker frames first: they are what liveness is judged on.
    for (int n = 0; n < 100000; ++n) {
      zmq::message_t id;
      if (!router_.recv(id, zmq::recv_flags::dontwait)) break;
      std::vector<zmq::message_t> parts;
      bool more = id.more();
      while (more) {
        zmq::message_t p;
        (void)router_.recv(p, zmq::recv_flags::none);
        more = p.more();
        parts.push_back(std::move(p));
      }
      const std::string identity = id.to_string();
      const auto now = Clock::now();
      if (!within_rate(identity, now)) {
        rate_dropped_++;
        continue;
      }
      {
        std::lock_guard<std::mutex> l(mu_);
        auto it = watched_.find(identity);
        if (it != watched_.end()) it->second = Clock::now();
      }
      if (parts.size() != 1) {
        emit(LinkEvent::Kind::kBadFrame, identity, "", parts.size());
      } else {
        // Under CURVE the ZAP handler's answer (the key's worker name) rides on every frame.
        const char* user = zap_ ? zmq_msg_gets(parts[0].handle(), "User-Id") : nullptr;
        emit(LinkEvent::Kind::kMessage, identity, parts[0].to_string(), 1, user ? user : "");
      }
    }
    forward_sends();
  }
  forward_sends();  // what the loop queued before stop()
}

}  // namespace ff::dispatcher
