// Unauthenticated and impersonating clients against a CURVE dispatcher (issue 10): each trial
// connects a DEALER, sends Register with a huge slot count, then a forged successful Result
// (output_path "/forged/<mode>") for every lease it is given with the lease's exact (job id,
// epoch), and listens for 1.5 s. What it received is returned; whether a forged result was
// applied is checked later from the database (result->>'output_path' LIKE '/forged%').
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <zmq.hpp>

#include "common/curve_keys.hpp"

namespace ff::chaos {

struct IntruderOutcome {
  std::string mode;          // "plain" (no CURVE), "unknown_key", "impostor" (valid spare key, another worker's name)
  std::string worker_id;     // the name it registered under
  bool welcomed = false;     // got a Welcome
  int jobs_received = 0;     // Job messages (prompts) received
  int messages_received = 0; // anything at all, heartbeats included
  int forged_sent = 0;
};

// Runs the three trials in turn. `impostor_of` is the name of a live worker the spare key tries
// to register as; `leases` are (job id, epoch) pairs to forge results for.
std::vector<IntruderOutcome> run_intruders(zmq::context_t& ctx, const std::string& endpoint,
                                           const CurveKeyPair& dispatcher_keys, const CurveKeyPair& spare_keys,
                                           const std::string& impostor_of,
                                           const std::vector<std::pair<int64_t, int64_t>>& leases);

}  // namespace ff::chaos
