#include "worker/engine/app/placed_stages.hpp"

#include <stdexcept>

namespace ff::engine {
namespace {

// The stage whose prefixes match `name`, or -1 (a fixed weight).
int stage_of(const std::string& name, const std::vector<std::vector<std::string>>& stage_prefixes) {
  int found = -1;
  for (size_t s = 0; s < stage_prefixes.size(); ++s)
    for (const auto& p : stage_prefixes[s])
      if (name.rfind(p, 0) == 0) {
        if (found >= 0 && found != static_cast<int>(s))
          throw std::logic_error("weight '" + name + "' matches stages " + std::to_string(found) + " and " +
                                 std::to_string(s));
        found = static_cast<int>(s);
      }
  return found;
}

}  // namespace

PlacedStages::PlacedStages(std::string component, rt::Placement mode, const std::vector<layers::WeightSlot>& slots,
                           const std::vector<std::vector<std::string>>& stage_prefixes,
                           const layers::TensorFetch& fetch, rt::DeviceBackend& backend, PlanLimits limits) {
  const at::Device dev = backend.device();
  const bool resident = mode == rt::Placement::kResident;
  bindings_.resize(stage_prefixes.size());
  std::vector<rt::BlockTensors> blocks(stage_prefixes.size());
  int64_t fixed_bytes = 0;
  for (const auto& slot : slots) {
    at::Tensor t = fetch(slot.name, slot.shape);
    const int s = stage_of(slot.name, stage_prefixes);
    if (s < 0) {
      *slot.target = t.to(dev);
      fixed_bytes += static_cast<int64_t>(slot.target->nbytes());
      continue;
    }
    blocks[static_cast<size_t>(s)].add(slot.name, resident ? t.to(dev) : t);
    bindings_[static_cast<size_t>(s)].emplace_back(slot.name, slot.target);
  }
  for (size_t s = 0; s < blocks.size(); ++s)
    if (blocks[s].size() == 0)
      throw std::logic_error(component + ": stage " + std::to_string(s) + " has no weights");
  blocks_ = std::make_unique<PlacedBlocks>(std::move(component), mode, std::move(blocks), fixed_bytes, backend, limits);
}

at::Tensor PlacedStages::run(const std::function<at::Tensor(const ltx2::StageHooks&)>& forward) {
  const int n = blocks_->size();
  PlacedBlocks::Sweep sweep(*blocks_);
  int entered = 0, left = 0;
  auto unbind = [this](int i) {
    for (auto& [name, target] : bindings_[static_cast<size_t>(i)]) *target = at::Tensor();
  };
  ltx2::StageHooks hooks;
  hooks.enter = [&](int i) {
    if (i != entered || left != entered || i >= n)
      throw std::logic_error(blocks_->component() + ": stage " + std::to_string(i) + " entered out of order");
    const rt::BlockTensors& b = sweep.acquire(i);
    for (auto& [name, target] : bindings_[static_cast<size_t>(i)]) *target = b.get(name);
    ++entered;
  };
  hooks.leave = [&](int i) {
    if (i != left || entered != left + 1)
      throw std::logic_error(blocks_->component() + ": stage " + std::to_string(i) + " left out of order");
    unbind(i);
    sweep.release(i);
    ++left;
  };
  at::Tensor out;
  try {
    out = forward(hooks);
  } catch (...) {
    // Nothing may keep pointing into a slot the ring reuses.
    for (int i = left; i < entered; ++i) unbind(i);
    throw;
  }
  if (left != n)
    throw std::logic_error(blocks_->component() + ": the forward ran " + std::to_string(left) + " of " +
                           std::to_string(n) + " stages");
  sweep.finish();
  return out;
}

}  // namespace ff::engine
