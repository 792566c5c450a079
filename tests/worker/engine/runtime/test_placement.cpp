// Placement decisions from budgets (pure planner, no device).
#include "tests/worker/engine/doctest_torch.hpp"

#include "worker/engine/runtime/placement.hpp"

using namespace ff::engine::rt;

namespace {
constexpr int64_t GiB = 1ll << 30;
constexpr int64_t MiB = 1ll << 20;

PlacementRequest gemma_like(Placement mode, int64_t budget, int64_t used) {
  PlacementRequest r;
  r.mode = mode;
  r.block_bytes.assign(48, 400 * MiB);
  r.fixed_bytes = 100 * MiB;
  r.working_bytes = 500 * MiB;
  r.slots = 3;
  r.budget_bytes = budget;
  r.reserve_bytes = 1 * GiB;
  r.used_bytes = used;
  r.device_free_bytes = 1000 * GiB;
  return r;
}
}  // namespace

TEST_CASE("placement names round-trip and reject unknown values") {
  for (auto p : {Placement::kResident, Placement::kStream, Placement::kAuto})
    CHECK(parse_placement(placement_name(p)) == p);
  CHECK_FALSE(parse_placement("offload").has_value());
  CHECK_FALSE(parse_placement("").has_value());
}

TEST_CASE("auto is fully resident when everything fits") {
  auto plan = plan_placement(gemma_like(Placement::kAuto, 96 * GiB, 10 * GiB));
  CHECK(plan.fits);
  CHECK(plan.resident_blocks == 48);
  CHECK(plan.slots == 0);
  CHECK(plan.ring_bytes == 0);
  CHECK(plan.label() == "auto:48/48");
  CHECK(plan.needed_bytes == 48 * 400 * MiB + 100 * MiB + 500 * MiB);
}

TEST_CASE("auto keeps the longest prefix that fits beside the ring") {
  // available = 96 - 1 - 80 = 15 GiB; fixed 0.1 + working 0.5 + ring 1.2 GiB leaves 13.2 GiB:
  // 33 blocks of 400 MiB = 12.89 GiB fit, 34 = 13.28 do not.
  auto plan = plan_placement(gemma_like(Placement::kAuto, 96 * GiB, 80 * GiB));
  CHECK(plan.fits);
  CHECK(plan.available_bytes == 15 * GiB);
  CHECK(plan.resident_blocks == 33);
  CHECK(plan.slots == 3);
  CHECK(plan.ring_bytes == 3 * 400 * MiB);
  CHECK(plan.needed_bytes <= plan.available_bytes);
  CHECK(plan.label() == "auto:33/48");
  CHECK(plan.needed_bytes + 400 * MiB > plan.available_bytes);
}

TEST_CASE("the live free memory bounds the plan as well as the budget") {
  auto req = gemma_like(Placement::kAuto, 96 * GiB, 10 * GiB);
  req.device_free_bytes = 5 * GiB;  // another process holds the card
  auto plan = plan_placement(req);
  CHECK(plan.available_bytes == 4 * GiB);
  CHECK(plan.fits);
  CHECK(plan.resident_blocks == 5);  // 0.6 + 1.17 + 5 x 0.39 = 3.73 GiB; 6 would be 4.12
}

TEST_CASE("live memory: the component's own device bytes count as available, not as used") {
  MemorySnapshot m;
  m.allocated_bytes = 70 * GiB;  // includes the component's 3 GiB
  m.reserved_bytes = 72 * GiB;   // 2 GiB cached by the allocator
  m.free_bytes = 10 * GiB;
  m.total_bytes = 141 * GiB;
  m.cap_bytes = 96 * GiB;
  PlacementRequest req;
  set_live_memory(req, m, 0, 3 * GiB);
  CHECK(req.budget_bytes == 96 * GiB);  // 0: the meter's cap
  CHECK(req.used_bytes == 67 * GiB);
  CHECK(req.device_free_bytes == 15 * GiB);  // free + cached + held
  set_live_memory(req, m, 80 * GiB, 0);
  CHECK(req.budget_bytes == 80 * GiB);
  CHECK(req.used_bytes == 70 * GiB);
  CHECK(req.device_free_bytes == 12 * GiB);
}

TEST_CASE("auto with nothing left streams everything, or reports that it cannot fit") {
  auto plan = plan_placement(gemma_like(Placement::kAuto, 96 * GiB, 93 * GiB));
  CHECK(plan.fits);  // 2 GiB available: ring 1.17 + fixed + working = 1.77
  CHECK(plan.resident_blocks == 0);
  CHECK(plan.label() == "auto:0/48");
  auto none = plan_placement(gemma_like(Placement::kAuto, 96 * GiB, 94 * GiB));
  CHECK_FALSE(none.fits);
  CHECK(none.resident_blocks == 0);
  CHECK(none.describe().find("DOES NOT FIT") != std::string::npos);
}

TEST_CASE("resident and stream are fixed choices, resident over budget does not fit") {
  auto res = plan_placement(gemma_like(Placement::kResident, 96 * GiB, 80 * GiB));
  CHECK_FALSE(res.fits);
  CHECK(res.resident_blocks == 48);
  CHECK(res.label() == "resident");
  auto st = plan_placement(gemma_like(Placement::kStream, 96 * GiB, 10 * GiB));
  CHECK(st.fits);
  CHECK(st.resident_blocks == 0);
  CHECK(st.slots == 3);
  CHECK(st.label() == "stream");
}

TEST_CASE("bytes needed after the phase count beside the resident part, not beside the ring") {
  auto req = gemma_like(Placement::kAuto, 96 * GiB, 80 * GiB);  // 15 GiB available
  req.later_bytes = 1 * GiB;  // less than ring + working (1.76 GiB): changes nothing
  CHECK(plan_placement(req).resident_blocks == 33);
  req.later_bytes = 5 * GiB;  // the next phase needs 5 GiB while the resident blocks stay
  auto plan = plan_placement(req);
  CHECK(plan.fits);
  CHECK(plan.needed_bytes == 100 * MiB + plan.resident_blocks * 400 * MiB + 5 * GiB);
  CHECK(plan.resident_blocks == 25);  // (15360 - 100 - 5120) MiB / 400 MiB = 25.35
  req.later_bytes = 15 * GiB;
  CHECK_FALSE(plan_placement(req).fits);
}

TEST_CASE("a smaller working set (smaller micro-batch) can make a plan fit") {
  auto req = gemma_like(Placement::kStream, 96 * GiB, 93 * GiB);
  req.working_bytes = 3 * GiB;
  CHECK_FALSE(plan_placement(req).fits);
  req.working_bytes = 600 * MiB;
  CHECK(plan_placement(req).fits);
}

TEST_CASE("the ring is sized by the largest streamed block, never fewer than 3 slots") {
  PlacementRequest r;
  r.mode = Placement::kStream;
  r.block_bytes = {10 * MiB, 30 * MiB, 20 * MiB};
  r.slots = 2;
  r.budget_bytes = r.device_free_bytes = 1 * GiB;
  auto plan = plan_placement(r);
  CHECK(plan.slots == 3);
  CHECK(plan.ring_bytes == 90 * MiB);
  r.block_bytes = {10 * MiB, 30 * MiB};  // fewer blocks than slots: one slot each
  CHECK(plan_placement(r).slots == 2);
  CHECK(plan_placement(r).ring_bytes == 60 * MiB);
  // Needed bytes are not monotone in the prefix: blocks {30, 5 x 6} MiB need 90 (r=0), 45, 50,
  // 55, 60 (r=4..7: the ring shrinks to the blocks left) MiB; with 58 MiB available auto picks r=3.
  r.mode = Placement::kAuto;
  r.block_bytes = {30 * MiB, 5 * MiB, 5 * MiB, 5 * MiB, 5 * MiB, 5 * MiB, 5 * MiB};
  r.slots = 3;
  r.budget_bytes = r.device_free_bytes = 58 * MiB;
  auto a = plan_placement(r);
  CHECK(a.fits);
  CHECK(a.resident_blocks == 3);
  CHECK(a.needed_bytes == 55 * MiB);
  CHECK(a.label() == "auto:3/7");
}
