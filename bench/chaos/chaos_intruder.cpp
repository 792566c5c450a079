#include "bench/chaos/chaos_intruder.hpp"

#include <chrono>
#include <variant>

#include "common/protocol.hpp"
#include "tests/dispatcher/sim_worker.hpp"

namespace ff::chaos {

namespace {

IntruderOutcome trial(zmq::context_t& ctx, const std::string& endpoint, const std::string& mode,
                      const test::SimCurve* curve, const std::string& name,
                      const std::vector<std::pair<int64_t, int64_t>>& leases) {
  IntruderOutcome o;
  o.mode = mode;
  o.worker_id = name;
  test::SimWorker w(ctx, endpoint, curve);
  proto::Register r;
  r.worker_id = name;
  r.free_slots = 100000;  // a huge slot count: it must not be granted
  r.gpu_name = "intruder";
  w.send(r);
  for (const auto& [id, epoch] : leases) {
    proto::Result forged;
    forged.job_id = id;
    forged.epoch = epoch;
    forged.ok = true;
    forged.output_path = "/forged/" + mode;
    w.send(forged);
    ++o.forged_sent;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
  while (std::chrono::steady_clock::now() < deadline) {
    auto m = w.recv(std::chrono::milliseconds(100), /*keep_heartbeats=*/true);
    if (!m) continue;
    ++o.messages_received;
    if (std::holds_alternative<proto::Welcome>(*m)) o.welcomed = true;
    if (std::holds_alternative<proto::Job>(*m)) ++o.jobs_received;
  }
  w.socket().set(zmq::sockopt::linger, 0);
  return o;
}

}  // namespace

std::vector<IntruderOutcome> run_intruders(zmq::context_t& ctx, const std::string& endpoint,
                                           const CurveKeyPair& dispatcher_keys, const CurveKeyPair& spare_keys,
                                           const std::string& impostor_of,
                                           const std::vector<std::pair<int64_t, int64_t>>& leases) {
  std::vector<IntruderOutcome> out;
  out.push_back(trial(ctx, endpoint, "plain", nullptr, "intruder-plain", leases));
  const CurveKeyPair unknown = generate_curve_keypair();
  const test::SimCurve c_unknown{dispatcher_keys.public_key, unknown.public_key, unknown.secret_key};
  out.push_back(trial(ctx, endpoint, "unknown_key", &c_unknown, "intruder-unknown", leases));
  const test::SimCurve c_spare{dispatcher_keys.public_key, spare_keys.public_key, spare_keys.secret_key};
  out.push_back(trial(ctx, endpoint, "impostor", &c_spare, impostor_of, leases));
  return out;
}

}  // namespace ff::chaos
