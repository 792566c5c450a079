// Placement of one component's streamable blocks: resident (all on the device), stream (all
// through the slot ring) or auto (decided per call: resident if everything fits, else the longest
// prefix of blocks that fits stays resident and the rest streams). Pure functions, no device.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "worker/engine/runtime/memory_meter.hpp"

namespace ff::engine::rt {

enum class Placement { kResident, kStream, kAuto };

// A component (the text encoder, a stage transformer, a decoder) cannot fit the VRAM budget even
// fully streamed (the encoder: with one prompt per micro-batch); the message names it. The engine
// answers the job with error kind vram_budget.
class VramBudgetError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "resident" | "stream" | "auto"; parse returns nullopt for anything else.
std::string_view placement_name(Placement p);
std::optional<Placement> parse_placement(std::string_view s);

// Everything a plan depends on, in bytes.
struct PlacementRequest {
  Placement mode = Placement::kAuto;
  std::vector<int64_t> block_bytes;  // the component's streamable blocks, in compute order
  int64_t fixed_bytes = 0;           // non-block weights that are always on the device
  int64_t working_bytes = 0;         // activations etc. of this call (micro-batch dependent)
  int64_t later_bytes = 0;           // needed after this phase while the resident part stays
                                     // (the next component's phase); the ring is gone by then
  int slots = 3;                     // ring size when anything streams (>= 3; fewer only when
                                     // fewer blocks stream)
  int64_t budget_bytes = 0;          // the worker's VRAM budget for the whole process
  int64_t reserve_bytes = 0;         // kept free inside the budget (and on the device)
  int64_t used_bytes = 0;            // device bytes held now by the process, this component's
                                     // already-resident blocks and fixed weights excluded
  int64_t device_free_bytes = 0;     // free on the device now, plus the allocator's cached
                                     // free bytes and this component's resident bytes
};

struct PlacementPlan {
  Placement mode = Placement::kAuto;
  bool fits = false;            // false: not even the plan below fits the available bytes
  int total_blocks = 0;
  int resident_blocks = 0;      // leading blocks kept on the device
  int slots = 0;                // ring slots (0 when nothing streams)
  int64_t resident_bytes = 0;   // resident blocks + fixed weights
  int64_t ring_bytes = 0;       // slots x largest streamed block
  int64_t working_bytes = 0;
  int64_t later_bytes = 0;
  int64_t needed_bytes = 0;     // resident + max(ring + working, later)
  int64_t available_bytes = 0;  // min(budget - reserve - used, device free - reserve)
  // "resident" | "stream" | "auto:<resident>/<total>" (the exported label).
  std::string label() const;
  // One line for the log: label, bytes needed and available.
  std::string describe() const;
};

// Decides the plan. Never throws; fits=false says the call cannot run with this working set.
PlacementPlan plan_placement(const PlacementRequest& req);

// Fills req's budget, used and free bytes from the meter's live figures `m`: `budget_bytes` 0 means
// the meter's cap; `held_bytes` (the component's fixed weights and resident blocks now on the
// device) count as available to it, not as used. Pure.
void set_live_memory(PlacementRequest& req, const MemorySnapshot& m, int64_t budget_bytes, int64_t held_bytes);

}  // namespace ff::engine::rt
