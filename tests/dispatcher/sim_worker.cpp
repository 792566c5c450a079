#include "tests/dispatcher/sim_worker.hpp"

#include <deque>
#include <stdexcept>

namespace ff::test {

SimWorker::SimWorker(zmq::context_t& ctx, const std::string& endpoint, const SimCurve* curve)
    : sock_(ctx, zmq::socket_type::dealer) {
  sock_.set(zmq::sockopt::linger, 0);
  if (curve) {
    sock_.set(zmq::sockopt::curve_serverkey, curve->server_public_key);
    sock_.set(zmq::sockopt::curve_publickey, curve->public_key);
    sock_.set(zmq::sockopt::curve_secretkey, curve->secret_key);
  }
  sock_.connect(endpoint);
}

void SimWorker::send(const proto::Message& m) { send_raw(proto::encode(m)); }

void SimWorker::send_raw(const std::string& frame) { sock_.send(zmq::buffer(frame), zmq::send_flags::none); }

std::optional<proto::Message> SimWorker::recv(std::chrono::milliseconds timeout, bool keep_heartbeats) {
  auto deadline = SimClock::now() + timeout;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SimClock::now());
    if (left.count() < 0) return std::nullopt;
    zmq::pollitem_t it{static_cast<void*>(sock_), 0, ZMQ_POLLIN, 0};
    zmq::poll(&it, 1, left);
    if (!(it.revents & ZMQ_POLLIN)) return std::nullopt;
    zmq::message_t msg;
    if (!sock_.recv(msg, zmq::recv_flags::dontwait)) continue;
    auto d = proto::decode(msg.to_string_view());
    if (!std::holds_alternative<proto::Message>(d)) continue;
    auto m = std::get<proto::Message>(d);
    if (!keep_heartbeats && std::holds_alternative<proto::Heartbeat>(m)) continue;
    return m;
  }
}

bool SimWorker::register_as(const std::string& worker_id, int32_t slots, const std::string& model,
                            const std::string& fingerprint, int32_t max_encode_batch) {
  proto::Register r;
  r.worker_id = worker_id;
  r.gpu_name = "sim";
  r.model = model;
  r.free_slots = slots;
  r.encoder_fingerprint = fingerprint;
  r.max_encode_batch = max_encode_batch;
  send(r);
  return recv_until<proto::Welcome>(std::chrono::milliseconds(5000)).has_value();
}

SimFleet::SimFleet(zmq::context_t& ctx, const std::string& endpoint, SimOptions opt)
    : ctx_(ctx), endpoint_(endpoint), opt_(std::move(opt)) {}

SimFleet::~SimFleet() { stop(); }

void SimFleet::start() {
  for (int i = 0; i < opt_.workers; ++i) {
    zmq::socket_t s(ctx_, zmq::socket_type::dealer);
    s.set(zmq::sockopt::linger, 0);
    s.set(zmq::sockopt::sndhwm, 100000);
    s.set(zmq::sockopt::rcvhwm, 100000);
    s.connect(endpoint_);
    socks_.push_back(std::move(s));
    silent_.push_back(false);
  }
  thread_ = std::thread([this] { serve(); });
  auto deadline = SimClock::now() + std::chrono::seconds(10);
  while (welcomed_.load() < opt_.workers) {
    if (SimClock::now() > deadline) {
      stop();
      throw std::runtime_error("SimFleet: workers were not welcomed within 10 s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void SimFleet::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void SimFleet::silence(int i) {
  std::lock_guard<std::mutex> l(silence_mu_);
  to_silence_.insert(i);
}

std::vector<SimReceived> SimFleet::received() const {
  std::lock_guard<std::mutex> l(mu_);
  return received_;
}

std::vector<int64_t> SimFleet::cancels() const {
  std::lock_guard<std::mutex> l(mu_);
  return cancels_;
}

void SimFleet::serve() {
  auto send = [&](int i, const proto::Message& m) {
    std::string f = proto::encode(m);
    socks_[i].send(zmq::buffer(f), zmq::send_flags::dontwait);
  };
  for (int i = 0; i < opt_.workers; ++i) {
    proto::Register r;
    r.worker_id = opt_.id_prefix + "-" + std::to_string(i);
    r.gpu_name = "sim";
    r.model = opt_.model;
    r.free_slots = opt_.slots;
    r.encoder_fingerprint = opt_.fingerprint;
    r.max_encode_batch = opt_.max_encode_batch;
    send(i, r);
  }
  struct Due {
    SimClock::time_point at;
    int worker;
    proto::Job job;
  };
  std::deque<Due> due;
  std::vector<zmq::pollitem_t> items(opt_.workers);
  std::vector<std::optional<SimClock::time_point>> last_recv(opt_.workers);  // after Welcome
  auto next_hb = SimClock::now();
  while (!stop_.load()) {
    {
      std::lock_guard<std::mutex> l(silence_mu_);
      for (int i : to_silence_) silent_[i] = true;
    }
    for (int i = 0; i < opt_.workers; ++i) items[i] = {static_cast<void*>(socks_[i]), 0, ZMQ_POLLIN, 0};
    zmq::poll(items.data(), items.size(), std::chrono::milliseconds(due.empty() ? 20 : 1));
    auto now = SimClock::now();
    for (int i = 0; i < opt_.workers; ++i) {
      if (!(items[i].revents & ZMQ_POLLIN)) continue;
      for (int k = 0; k < 10000; ++k) {
        zmq::message_t msg;
        if (!socks_[i].recv(msg, zmq::recv_flags::dontwait)) break;
        if (silent_[i]) continue;
        if (last_recv[i]) {
          int64_t gap = std::chrono::duration_cast<std::chrono::milliseconds>(now - *last_recv[i]).count();
          if (gap > max_gap_ms_.load()) max_gap_ms_ = gap;
        }
        auto d = proto::decode(msg.to_string_view());
        if (!std::holds_alternative<proto::Message>(d)) continue;
        auto& m = std::get<proto::Message>(d);
        if (last_recv[i] || std::holds_alternative<proto::Welcome>(m)) last_recv[i] = now;
        if (std::holds_alternative<proto::Welcome>(m)) {
          welcomed_++;
        } else if (auto* j = std::get_if<proto::Job>(&m)) {
          {
            std::lock_guard<std::mutex> l(mu_);
            received_.push_back({j->job_id, j->epoch, j->attempt, i, j->encode_group,
                                 j->embedding_cached, now});
          }
          received_count_++;
          if (opt_.send_progress) send(i, proto::Progress{j->job_id, j->epoch, "stage1", 1, 2});
          due.push_back({now + std::chrono::milliseconds(opt_.work_ms), i, *j});
        } else if (auto* c = std::get_if<proto::Cancel>(&m)) {
          {
            std::lock_guard<std::mutex> l(mu_);
            cancels_.push_back(c->job_id);
          }
          for (auto it = due.begin(); it != due.end(); ++it) {
            if (it->job.job_id == c->job_id && it->worker == i) {
              proto::Result r;
              r.job_id = c->job_id;
              r.epoch = c->epoch;
              r.ok = false;
              r.error_kind = proto::ErrorKind::kCancelled;
              r.error_message = "cancelled";
              send(i, r);
              send(i, proto::Credit{1});
              due.erase(it);
              break;
            }
          }
        }
      }
    }
    now = SimClock::now();
    std::vector<int32_t> credit(opt_.workers, 0);  // one Credit per worker per turn
    while (!due.empty() && due.front().at <= now) {
      Due d = due.front();
      due.pop_front();
      if (silent_[d.worker]) continue;
      proto::Result r;
      r.job_id = d.job.job_id;
      r.epoch = d.job.epoch;
      r.ok = true;
      r.output_path = "/out/" + std::to_string(d.job.job_id) + ".y4m";
      r.timings_s["stage1"] = 0.001;
      send(d.worker, r);
      credit[d.worker]++;
      results_sent_++;
    }
    for (int i = 0; i < opt_.workers; ++i)
      if (credit[i] > 0) send(i, proto::Credit{credit[i]});
    if (now >= next_hb) {
      next_hb = now + std::chrono::milliseconds(opt_.heartbeat_interval_ms);
      for (int i = 0; i < opt_.workers; ++i)
        if (!silent_[i]) send(i, proto::Heartbeat{0});
    }
  }
}

}  // namespace ff::test
