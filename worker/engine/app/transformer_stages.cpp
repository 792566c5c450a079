#include "worker/engine/app/transformer_stages.hpp"

#include <algorithm>
#include <stdexcept>

#include "worker/engine/runtime/component_stats.hpp"
#include "worker/engine/video/stage_working_set.hpp"
#include "worker/engine/video/streamed_velocity.hpp"
#include "worker/engine/video/transformer_block_fields.hpp"

namespace ff::engine {
namespace {

int64_t tensors_bytes(const rt::BlockTensors& b) {
  int64_t n = 0;
  for (const auto& [name, t] : b.items()) n += static_cast<int64_t>(t.nbytes());
  return n;
}

}  // namespace

TransformerStages::TransformerStages(VideoModels& models, rt::DeviceBackend& backend,
                                     StagePlacementOptions options)
    : be_(backend), opts_(options) {
  const at::Device dev = be_.device();
  int64_t fixed = 0;
  for (int k = 0; k < 2; ++k) {
    Stage& s = stages_[k];
    s.name = k == 0 ? "stage1_transformer" : "stage2_transformer";
    s.model = k == 0 ? &models.stage1 : &models.stage2;
    s.mode = k == 0 ? opts_.stage1 : opts_.stage2;
    auto& w = s.model->weights;
    const auto& c = s.model->config;
    if (static_cast<int64_t>(w.blocks.size()) != c.num_layers)
      throw std::invalid_argument(s.name + ": " + std::to_string(w.blocks.size()) + " blocks loaded, config has " +
                                  std::to_string(c.num_layers) + " layers");
    auto globals = video::global_slots(w.globals, c, "");
    s.globals_bytes = video::slot_bytes(globals);
    if (s.mode == rt::Placement::kResident) {
      for (const auto& b : w.blocks) s.block_bytes.push_back(tensors_bytes(video::transformer_block_tensors(b)));
      s.stats.placement = "resident";
      s.stats.resident_blocks = static_cast<int32_t>(c.num_layers);
    } else {
      s.store = video::make_transformer_block_store(s.name, be_, w.blocks);
      w.blocks.clear();
      w.blocks.shrink_to_fit();
      for (auto& slot : globals)
        if (slot.target->defined()) *slot.target = slot.target->to(dev);
      s.block_bytes = s.store->all_block_bytes();
      s.stats.placement = s.mode == rt::Placement::kStream ? "stream" : "auto:0/" + std::to_string(c.num_layers);
      s.stats.pinned_host_bytes = s.store->pinned_bytes();
    }
    s.stats.total_blocks = static_cast<int32_t>(c.num_layers);
    s.stats.resident_bytes = s.globals_bytes + resident_block_bytes(s);
    fixed += s.stats.resident_bytes;
  }
  fixed_charge_.emplace(be_.meter(), fixed);
}

const TransformerStages::Stage& TransformerStages::get(int stage) const {
  if (stage != 1 && stage != 2) throw std::out_of_range("transformer stage " + std::to_string(stage) + " (1 or 2)");
  return stages_[stage - 1];
}

int64_t TransformerStages::resident_block_bytes(const Stage& s) const {
  if (s.store) return s.store->resident_bytes();
  int64_t n = 0;
  for (int64_t b : s.block_bytes) n += b;
  return n;
}

int64_t TransformerStages::device_weight_bytes() const {
  int64_t n = 0;
  for (const Stage& s : stages_) n += s.globals_bytes + resident_block_bytes(s);
  return n;
}

int64_t TransformerStages::working_bytes(const Stage& s, const video::LatentGrid& grid, int64_t rows) const {
  const int64_t elem = static_cast<int64_t>(s.model->weights.globals.patchify_proj.weight.element_size());
  return video::stage_working_bytes(s.model->config, grid, rows, elem);
}

ComponentDemand TransformerStages::demand(const Stage& s, int64_t working, int64_t later) const {
  ComponentDemand d;
  d.name = s.name;
  d.mode = s.mode;
  d.block_bytes = s.block_bytes;
  d.fixed_bytes = s.globals_bytes;
  d.held_bytes = s.globals_bytes + resident_block_bytes(s);
  d.working_bytes = working;
  d.later_bytes = later;
  return d;
}

video::VelocityFn TransformerStages::velocity(int stage, const StageJob& job) {
  Stage& s = get(stage);
  const auto& grid = stage == 1 ? job.grids.stage1 : job.grids.stage2;
  const int64_t working = working_bytes(s, grid, job.context_rows);
  // A stage's resident prefix stays through the next phase: leave stage 2 (after stage 1) or the
  // decoder (after stage 2) the room it needs at least.
  int64_t later = job.decode_extra_bytes;
  if (stage == 1) {
    const Stage& next = get(2);
    later = min_extra_bytes(demand(next, working_bytes(next, job.grids.stage2, job.context_rows), 0), opts_.slots);
  }
  const ComponentDemand d = demand(s, working, later);
  const PlanLimits limits = plan_limits(opts_);
  const rt::PlacementPlan plan = s.store ? place_streamed_component(be_, limits, d, *s.store)
                                         : plan_component(be_, limits, d, s.mode);
  s.plan = plan;
  rt::record_plan(s.stats, plan, s.store ? s.store->pinned_bytes() : 0);
  auto charge = std::make_shared<rt::ScopedCharge>(be_.meter(), working);
  video::VelocityFn inner;
  if (s.mode == rt::Placement::kResident) {
    inner = video::resident_velocity(*s.model, grid);
  } else {
    proto::ComponentStats* stats = &s.stats;
    inner = video::streamed_velocity(s.model->config, s.model->weights.globals, *s.store, grid, opts_.slots,
                                     [stats](const rt::PassTimings& t) { rt::record_pass(*stats, t); });
  }
  return [inner = std::move(inner), charge](const at::Tensor& latent, double sigma, const at::Tensor& context) {
    return inner(latent, sigma, context);
  };
}

std::map<std::string, proto::ComponentStats> TransformerStages::stats() const {
  std::map<std::string, proto::ComponentStats> out;
  for (const Stage& s : stages_) out[s.name] = s.stats;
  return out;
}

}  // namespace ff::engine
