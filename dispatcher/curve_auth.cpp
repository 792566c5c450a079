#include "dispatcher/curve_auth.hpp"

#include <stdexcept>
#include <vector>

#include "common/log.hpp"
#include "dispatcher/log_component.hpp"

namespace ff::dispatcher {


ZapHandler::ZapHandler(zmq::context_t& ctx, std::filesystem::path file)
    : rep_(ctx, zmq::socket_type::rep), file_(std::move(file)) {
  rep_.set(zmq::sockopt::linger, 0);
  keys_ = load_authorized_keys(file_);
  std::error_code ec;
  mtime_ = std::filesystem::last_write_time(file_, ec);
  size_ = std::filesystem::file_size(file_, ec);
  rep_.bind("inproc://zeromq.zap.01");
  log::info(kLog, "CURVE: ", keys_.size(), " authorized worker key(s) from ", file_.string());
}

void ZapHandler::maybe_reload() {
  auto now = std::chrono::steady_clock::now();
  if (now < next_check_) return;
  next_check_ = now + std::chrono::seconds(1);
  std::error_code ec;
  auto mt = std::filesystem::last_write_time(file_, ec);
  if (ec) return;
  auto sz = std::filesystem::file_size(file_, ec);
  if (mtime_ && *mtime_ == mt && size_ == sz) return;
  mtime_ = mt;
  size_ = sz;
  try {
    keys_ = load_authorized_keys(file_);
    log::info(kLog, "CURVE: reloaded ", keys_.size(), " authorized worker key(s) from ", file_.string());
  } catch (const std::exception& e) {
    log::error(kLog, "CURVE: keeping the previous authorized keys: ", e.what());
  }
}

void ZapHandler::handle_pending() {
  maybe_reload();
  for (int n = 0; n < 1000; ++n) {
    std::vector<zmq::message_t> req;
    zmq::message_t part;
    if (!rep_.recv(part, zmq::recv_flags::dontwait)) return;
    req.push_back(std::move(part));
    while (req.back().more()) {
      zmq::message_t more;
      (void)rep_.recv(more, zmq::recv_flags::none);
      req.push_back(std::move(more));
    }
    // ZAP 1.0 request: version, request id, domain, address, identity, mechanism, credentials...
    std::string request_id = req.size() > 1 ? req[1].to_string() : "";
    std::string status = "400", text = "malformed request", user;
    if (req.size() >= 7 && req[0].to_string() == "1.0") {
      const std::string domain = req[2].to_string(), address = req[3].to_string(), mechanism = req[5].to_string();
      if (domain != kZapDomain) {
        text = "unknown domain";
      } else if (mechanism != "CURVE" || req[6].size() != 32) {
        text = "CURVE required";
      } else {
        char z85[41] = {0};
        zmq_z85_encode(z85, static_cast<const uint8_t*>(req[6].data()), 32);
        auto it = keys_.find(z85);
        if (it != keys_.end()) {
          status = "200";
          text = "OK";
          user = it->second;
        } else {
          text = "key not authorized";
          log::warn(kLog, "CURVE: refused a connection from ", address, ": key ", z85, " is not authorized");
        }
      }
    }
    (status == "200" ? accepted_ : rejected_)++;
    rep_.send(zmq::str_buffer("1.0"), zmq::send_flags::sndmore);
    rep_.send(zmq::buffer(request_id), zmq::send_flags::sndmore);
    rep_.send(zmq::buffer(status), zmq::send_flags::sndmore);
    rep_.send(zmq::buffer(text), zmq::send_flags::sndmore);
    rep_.send(zmq::buffer(user), zmq::send_flags::sndmore);
    rep_.send(zmq::str_buffer(""), zmq::send_flags::none);
  }
}

}  // namespace ff::dispatcher
