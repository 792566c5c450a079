#include "worker/engine_link.hpp"

#include <stdexcept>

#include <unistd.h>

#include "worker/log.hpp"

namespace ff::worker {

EngineLink::EngineLink(zmq::context_t& ctx, const std::string& socket_path,
                       std::vector<std::string> argv, int32_t start_timeout_ms,
                       int32_t request_timeout_ms)
    : socket_(ctx, zmq::socket_type::router),
      socket_path_(socket_path),
      argv_(std::move(argv)),
      start_timeout_(start_timeout_ms),
      request_timeout_(request_timeout_ms) {
  if (socket_path_.size() > 100)
    throw std::runtime_error("engine link: socket path too long for ipc:// (" +
                             std::to_string(socket_path_.size()) + " > 100 bytes): " + socket_path_);
  ::unlink(socket_path_.c_str());
  socket_.set(zmq::sockopt::linger, 0);
  socket_.set(zmq::sockopt::sndhwm, 0);
  socket_.set(zmq::sockopt::rcvhwm, 0);
  socket_.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(proto::kMaxFrameBytes));
  try {
    socket_.bind("ipc://" + socket_path_);
  } catch (const zmq::error_t& e) {
    throw std::runtime_error("engine link: cannot bind ipc://" + socket_path_ + ": " + e.what());
  }
}

EngineLink::~EngineLink() {
  proc_.kill_and_reap();
  ::unlink(socket_path_.c_str());
}

void EngineLink::spawn() {
  proc_.spawn(argv_);
  ++spawns_;
  state_ = State::kStarting;
  identity_.clear();
  deadline_ = Clock::now() + start_timeout_;
  log_info("engine: started pid " + std::to_string(proc_.pid()) + ": " + argv_.front());
}

bool EngineLink::send_frame(const proto::Message& msg) {
  if (identity_.empty()) return false;
  const std::string frame = proto::encode(msg);
  try {
    socket_.send(zmq::buffer(identity_), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    const auto r = socket_.send(zmq::buffer(frame), zmq::send_flags::dontwait);
    return r.has_value();
  } catch (const zmq::error_t& e) {
    log_warn(std::string("engine: send failed: ") + e.what());
    return false;
  }
}

bool EngineLink::send_request(const proto::Message& msg) {
  if (state_ != State::kIdle) return false;
  if (!send_frame(msg)) return false;
  state_ = State::kBusy;
  deadline_ = Clock::now() + request_timeout_;
  return true;
}

bool EngineLink::send_control(const proto::Message& msg) {
  if (state_ != State::kIdle && state_ != State::kBusy) return false;
  return send_frame(msg);
}

std::vector<proto::Message> EngineLink::receive() {
  std::vector<proto::Message> out;
  for (;;) {
    zmq::message_t id, body;
    if (!socket_.recv(id, zmq::recv_flags::dontwait)) break;
    if (!id.more()) continue;  // a ROUTER always delivers identity + body; ignore stray frames
    (void)socket_.recv(body, zmq::recv_flags::dontwait);
    bool more = body.more();
    while (more) {
      zmq::message_t extra;
      (void)socket_.recv(extra, zmq::recv_flags::dontwait);
      more = extra.more();
    }
    auto decoded = proto::decode(body.to_string_view());
    if (auto* err = std::get_if<proto::DecodeError>(&decoded)) {
      log_warn("engine: dropped malformed frame: " + err->what);
      continue;
    }
    auto& m = std::get<proto::Message>(decoded);
    const std::string from = id.to_string();
    if (auto* h = std::get_if<proto::EngineHello>(&m)) {
      if (state_ != State::kStarting) {
        log_warn("engine: ignored EngineHello from pid " + std::to_string(h->pid) +
                 " (no engine is starting)");
        continue;
      }
      if (h->pid != proc_.pid())  // e.g. an engine_command wrapper that does not exec
        log_info("engine: EngineHello from pid " + std::to_string(h->pid) + ", a descendant of " +
                 std::to_string(proc_.pid()));
      identity_ = from;
      hello_ = *h;
      state_ = State::kIdle;
      log_info("engine: ready (pid " + std::to_string(h->pid) + ", device " + h->device +
               ", encoder " + h->encoder_fingerprint + ")");
      out.push_back(std::move(m));
      continue;
    }
    if (from != identity_) continue;  // a previous engine's last words
    if (state_ == State::kBusy) deadline_ = Clock::now() + request_timeout_;
    if (std::holds_alternative<proto::EncodeResult>(m) || std::holds_alternative<proto::GenerateResult>(m))
      state_ = State::kIdle;
    out.push_back(std::move(m));
  }
  return out;
}

void EngineLink::kill_engine(const std::string& why) {
  proc_.kill_and_reap();
  state_ = State::kDown;
  identity_.clear();
  log_warn("engine: " + why);
}

std::optional<std::string> EngineLink::check() {
  if (state_ == State::kDown) return std::nullopt;
  if (proc_.poll_exited()) {
    const std::string why = "engine process " + proc_.exit_description();
    state_ = State::kDown;
    identity_.clear();
    log_warn("engine: " + why);
    return why;
  }
  const auto now = Clock::now();
  if (state_ == State::kStarting && now > deadline_) {
    const std::string why = "engine sent no EngineHello within " +
                            std::to_string(start_timeout_.count()) + " ms; killed";
    kill_engine(why);
    return why;
  }
  if (state_ == State::kBusy && now > deadline_) {
    const std::string why = "engine silent for " + std::to_string(request_timeout_.count()) +
                            " ms during a request (hung); killed";
    kill_engine(why);
    return why;
  }
  return std::nullopt;
}

void EngineLink::stop(int grace_ms) {
  if (state_ == State::kDown && !proc_.running()) return;
  send_frame(proto::Shutdown{"worker stopping"});
  const auto deadline = Clock::now() + std::chrono::milliseconds(grace_ms);
  while (Clock::now() < deadline && !proc_.poll_exited()) ::usleep(10000);
  proc_.terminate(1000);
  state_ = State::kDown;
  identity_.clear();
}

}  // namespace ff::worker
