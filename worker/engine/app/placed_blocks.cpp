#include "worker/engine/app/placed_blocks.hpp"

#include "worker/engine/runtime/component_stats.hpp"

namespace ff::engine {
namespace {

int64_t tensors_bytes(const rt::BlockTensors& b) {
  int64_t n = 0;
  for (const auto& [name, t] : b.items()) n += static_cast<int64_t>(t.nbytes());
  return n;
}

}  // namespace

PlacedBlocks::PlacedBlocks(std::string component, rt::Placement mode, std::vector<rt::BlockTensors> blocks,
                           int64_t fixed_bytes, rt::DeviceBackend& backend, PlanLimits limits)
    : name_(std::move(component)), mode_(mode), be_(backend), limits_(limits), fixed_bytes_(fixed_bytes) {
  const int n = static_cast<int>(blocks.size());
  if (mode_ == rt::Placement::kResident) {
    for (const auto& b : blocks) block_bytes_.push_back(tensors_bytes(b));
    resident_ = std::move(blocks);
    stats_.placement = "resident";
    stats_.resident_blocks = n;
  } else {
    std::vector<rt::BlockLayout> layouts;
    for (const auto& b : blocks) layouts.push_back(rt::BlockLayout::of(b));
    store_ = std::make_unique<rt::BlockStore>(name_, be_, layouts);
    for (int i = 0; i < n; ++i) store_->fill(i, blocks[i]);
    block_bytes_ = store_->all_block_bytes();
    stats_.placement = mode_ == rt::Placement::kStream ? "stream" : "auto:0/" + std::to_string(n);
    stats_.pinned_host_bytes = store_->pinned_bytes();
  }
  stats_.total_blocks = n;
  stats_.resident_bytes = held_bytes();
  // A store charges its resident prefix itself; this charge is the rest of what stays resident.
  charge_.emplace(be_.meter(), held_bytes());
}

int64_t PlacedBlocks::held_bytes() const {
  int64_t n = fixed_bytes_;
  if (store_) return n + store_->resident_bytes();
  for (int64_t b : block_bytes_) n += b;
  return n;
}

ComponentDemand PlacedBlocks::demand(int64_t working, int64_t later) const {
  ComponentDemand d;
  d.name = name_;
  d.mode = mode_;
  d.block_bytes = block_bytes_;
  d.fixed_bytes = fixed_bytes_;
  d.held_bytes = held_bytes();
  d.working_bytes = working;
  d.later_bytes = later;
  return d;
}

rt::PlacementPlan PlacedBlocks::plan(int64_t working, int64_t later) {
  const ComponentDemand d = demand(working, later);
  plan_ = store_ ? place_streamed_component(be_, limits_, d, *store_) : plan_component(be_, limits_, d, mode_);
  rt::record_plan(stats_, plan_, store_ ? store_->pinned_bytes() : 0);
  stats_.resident_bytes = held_bytes();
  return plan_;
}

PlacedBlocks::Sweep::Sweep(PlacedBlocks& blocks) : owner_(blocks) {
  if (owner_.store_) pass_.emplace(*owner_.store_, owner_.limits_.slots);
}

const rt::BlockTensors& PlacedBlocks::Sweep::acquire(int i) {
  return pass_ ? pass_->acquire(i) : owner_.resident_.at(static_cast<size_t>(i));
}

void PlacedBlocks::Sweep::release(int i) {
  if (pass_) pass_->release(i);
}

void PlacedBlocks::Sweep::finish() {
  if (finished_) return;
  finished_ = true;
  if (pass_) rt::record_pass(owner_.stats_, pass_->finish());
}

}  // namespace ff::engine
