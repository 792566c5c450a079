#include "worker/dispatcher_session.hpp"

#include <algorithm>

#include "worker/log.hpp"

namespace ff::worker {
namespace {
int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

DispatcherSession::DispatcherSession(zmq::context_t& ctx, std::string endpoint,
                                     int32_t heartbeat_interval_ms)
    : ctx_(ctx),
      endpoint_(std::move(endpoint)),
      own_interval_ms_(heartbeat_interval_ms),
      interval_ms_(heartbeat_interval_ms),
      dispatcher_interval_ms_(heartbeat_interval_ms) {}

void DispatcherSession::connect(const proto::Register& reg) {
  if (socket_) {
    socket_->set(zmq::sockopt::linger, 0);
    socket_.reset();
  }
  socket_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::dealer);
  socket_->set(zmq::sockopt::linger, 0);
  socket_->set(zmq::sockopt::sndhwm, 100000);
  socket_->set(zmq::sockopt::rcvhwm, 100000);
  socket_->connect(endpoint_);
  welcomed_ = false;
  interval_ms_ = own_interval_ms_;
  dispatcher_interval_ms_ = std::max(own_interval_ms_, 1000);
  last_recv_ = Clock::now();
  last_sent_hb_ = Clock::now();
  ++registrations_;
  send(reg);
  log_info("session: registering with " + endpoint_ + " as '" + reg.worker_id + "' (free_slots " +
           std::to_string(reg.free_slots) + ", encoder " + reg.encoder_fingerprint + ")");
}

bool DispatcherSession::send(const proto::Message& msg) {
  if (!socket_) return false;
  const std::string frame = proto::encode(msg);
  try {
    const auto r = socket_->send(zmq::buffer(frame), zmq::send_flags::dontwait);
    if (!r) {
      log_warn(std::string("session: dropped outgoing ") +
               std::string(proto::type_name(proto::type_of(msg))) + " (send queue full)");
      return false;
    }
    return true;
  } catch (const zmq::error_t& e) {
    log_warn(std::string("session: send failed: ") + e.what());
    return false;
  }
}

std::vector<proto::Message> DispatcherSession::receive() {
  std::vector<proto::Message> out;
  if (!socket_) return out;
  for (;;) {
    zmq::message_t msg;
    const auto r = socket_->recv(msg, zmq::recv_flags::dontwait);
    if (!r) break;
    // Drop any extra frames of a multipart message: one frame per message on this link.
    bool more = msg.more();
    while (more) {
      zmq::message_t extra;
      (void)socket_->recv(extra, zmq::recv_flags::dontwait);
      more = extra.more();
    }
    last_recv_ = Clock::now();
    auto decoded = proto::decode(msg.to_string_view());
    if (auto* err = std::get_if<proto::DecodeError>(&decoded)) {
      log_warn("session: dropped malformed frame from dispatcher: " + err->what);
      continue;
    }
    auto& m = std::get<proto::Message>(decoded);
    if (auto* w = std::get_if<proto::Welcome>(&m)) {
      welcomed_ = true;
      if (w->heartbeat_interval_ms > 0) {
        dispatcher_interval_ms_ = w->heartbeat_interval_ms;
        interval_ms_ = std::min(own_interval_ms_, w->heartbeat_interval_ms);
      }
      misses_dead_ = std::max(2, w->heartbeat_misses_dead);
      log_info("session: welcomed (heartbeat " + std::to_string(interval_ms_) + " ms, dead after " +
               std::to_string(misses_dead_) + " misses)");
      continue;
    }
    if (std::holds_alternative<proto::Heartbeat>(m)) continue;
    out.push_back(std::move(m));
  }
  return out;
}

bool DispatcherSession::tick() {
  if (!socket_) return false;
  const auto now = Clock::now();
  if (now - last_sent_hb_ >= std::chrono::milliseconds(interval_ms_)) {
    last_sent_hb_ = now;
    send(proto::Heartbeat{unix_ms()});
  }
  // Silence is judged by the dispatcher's interval (it heartbeats at that pace), plus one of ours.
  const auto window =
      std::chrono::milliseconds(int64_t(dispatcher_interval_ms_) * misses_dead_ + interval_ms_);
  return now - last_recv_ > window;
}

void DispatcherSession::close(const std::string& reason, int linger_ms) {
  if (!socket_) return;
  send(proto::Goodbye{reason});
  socket_->set(zmq::sockopt::linger, linger_ms);
  socket_.reset();
  welcomed_ = false;
}

}  // namespace ff::worker
