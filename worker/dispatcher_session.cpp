#include "worker/dispatcher_session.hpp"

#include <algorithm>
#include <stdexcept>

#include "worker/log.hpp"

namespace ff::worker {
namespace {
int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

DispatcherSession::DispatcherSession(zmq::context_t& ctx, std::vector<std::string> endpoints,
                                     int32_t heartbeat_interval_ms)
    : ctx_(ctx),
      endpoints_(std::move(endpoints)),
      own_interval_ms_(heartbeat_interval_ms),
      interval_ms_(heartbeat_interval_ms),
      dispatcher_interval_ms_(heartbeat_interval_ms) {
  if (endpoints_.empty()) throw std::invalid_argument("dispatcher session: no dispatcher endpoint");
}

void DispatcherSession::connect(const proto::Register& reg) {
  if (socket_) {
    socket_->set(zmq::sockopt::linger, 0);
    socket_.reset();
  }
  socket_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::dealer);
  socket_->set(zmq::sockopt::linger, 0);
  socket_->set(zmq::sockopt::sndhwm, 100000);
  socket_->set(zmq::sockopt::rcvhwm, 100000);
  if (curve_) {
    socket_->set(zmq::sockopt::curve_serverkey, curve_->server_public_key);
    socket_->set(zmq::sockopt::curve_publickey, curve_->public_key);
    socket_->set(zmq::sockopt::curve_secretkey, curve_->secret_key);
  }
  socket_->connect(endpoint());
  welcomed_ = false;
  interval_ms_ = own_interval_ms_;
  dispatcher_interval_ms_ = std::max(own_interval_ms_, 1000);
  last_recv_ = Clock::now();
  last_sent_hb_ = Clock::now();
  reg_ = reg;
  credit_ = reg.free_slots;
  send_register();
  // What went out on the old socket may never have arrived: send the recent Results again.
  prune_recent();
  for (const auto& [at, r] : recent_results_) raw_send(r);
}

void DispatcherSession::send_register() {
  ++registrations_;
  reg_.free_slots = static_cast<int32_t>(std::clamp<int64_t>(credit_, 0, 100000));
  reg_.held.clear();
  for (const auto& [id, h] : held_) reg_.held.push_back(h);
  raw_send(reg_);
  log_info("session: registering with " + endpoint() + " as '" + reg_.worker_id + "' (free_slots " +
           std::to_string(reg_.free_slots) + ", holding " + std::to_string(reg_.held.size()) +
           " jobs, encoder " + reg_.encoder_fingerprint + ")");
}

void DispatcherSession::prune_recent() {
  const auto keep = std::chrono::milliseconds(int64_t(dispatcher_interval_ms_) * (misses_dead_ + 1) * 3);
  const auto now = Clock::now();
  while (!recent_results_.empty() &&
         (recent_results_.size() > kMaxRecentResults || now - recent_results_.front().first > keep))
    recent_results_.pop_front();
}

void DispatcherSession::track_outgoing(const proto::Message& msg) {
  if (auto* c = std::get_if<proto::Credit>(&msg)) {
    credit_ += c->slots;
  } else if (auto* p = std::get_if<proto::Progress>(&msg)) {
    auto it = held_.find(p->job_id);
    if (it != held_.end() && it->second.epoch == p->epoch) it->second.started = true;
  } else if (auto* r = std::get_if<proto::Result>(&msg)) {
    auto it = held_.find(r->job_id);
    if (it != held_.end() && it->second.epoch == r->epoch) held_.erase(it);
    recent_results_.emplace_back(Clock::now(), *r);
    prune_recent();
  } else if (auto* h = std::get_if<proto::HandBack>(&msg)) {
    auto it = held_.find(h->job_id);
    if (it != held_.end() && it->second.epoch == h->epoch) held_.erase(it);
  }
}

bool DispatcherSession::send(const proto::Message& msg) {
  track_outgoing(msg);
  return raw_send(msg);
}

bool DispatcherSession::raw_send(const proto::Message& msg) {
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
    if (std::holds_alternative<proto::Reregister>(m)) {
      // The dispatcher does not know this connection (it restarted): register again here, at
      // most once per heartbeat interval, re-announcing held jobs and recent results.
      const auto now = Clock::now();
      if (now - last_reregister_ >= std::chrono::milliseconds(interval_ms_)) {
        last_reregister_ = now;
        log_warn("session: the dispatcher asks us to register again (it does not know this connection)");
        send_register();
        prune_recent();
        for (const auto& [at, r] : recent_results_) raw_send(r);
      }
      continue;
    }
    if (auto* j = std::get_if<proto::Job>(&m)) {
      auto it = held_.find(j->job_id);
      if (it == held_.end() || it->second.epoch != j->epoch) {
        if (it == held_.end()) --credit_;  // a re-lease of a held job takes no new slot
        held_[j->job_id] = proto::HeldLease{j->job_id, j->epoch, false};
      }
    }
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
