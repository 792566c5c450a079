#include "dispatcher/worker_link.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "common/log.hpp"
#include "common/protocol.hpp"

namespace ff::dispatcher {

namespace {
constexpr const char* kLog = "dispatcher";

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
    zmq::message_t kind, id, payload;
    if (!loop_end_.recv(kind, zmq::recv_flags::dontwait)) break;
    (void)loop_end_.recv(id, zmq::recv_flags::none);
    (void)loop_end_.recv(payload, zmq::recv_flags::none);
    LinkEvent e;
    const char k = kind.size() ? *static_cast<const char*>(kind.data()) : 'M';
    e.kind = k == 'F' ? LinkEvent::Kind::kSendFailed
             : k == 'G' ? LinkEvent::Kind::kGone
             : k == 'B' ? LinkEvent::Kind::kBadFrame
                        : LinkEvent::Kind::kMessage;
    e.identity = id.to_string();
    if (e.kind == LinkEvent::Kind::kBadFrame) e.parts = std::stoul(payload.to_string());
    else e.frame = payload.to_string();
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
                      size_t parts) {
  const char k = kind_char(kind);
  link_end_.send(zmq::buffer(&k, 1), zmq::send_flags::sndmore);
  link_end_.send(zmq::buffer(identity), zmq::send_flags::sndmore);
  if (kind == LinkEvent::Kind::kBadFrame) {
    const std::string p = std::to_string(parts);
    link_end_.send(zmq::buffer(p), zmq::send_flags::none);
  } else {
    link_end_.send(zmq::buffer(frame), zmq::send_flags::none);
  }
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
    zmq::pollitem_t items[2] = {{static_cast<void*>(router_), 0, ZMQ_POLLIN, 0},
                                {static_cast<void*>(link_end_), 0, ZMQ_POLLIN, 0}};
    try {
      zmq::poll(items, 2, wait);
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) log::error(kLog, "link poll failed: ", e.what());
      continue;
    }
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
      {
        std::lock_guard<std::mutex> l(mu_);
        auto it = watched_.find(identity);
        if (it != watched_.end()) it->second = Clock::now();
      }
      if (parts.size() != 1) emit(LinkEvent::Kind::kBadFrame, identity, "", parts.size());
      else emit(LinkEvent::Kind::kMessage, identity, parts[0].to_string(), 1);
    }
    forward_sends();
  }
  forward_sends();  // what the loop queued before stop()
}

}  // namespace ff::dispatcher
