#include "worker/engine/app/transformer_stages.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include <c10/util/Exception.h>

#include "worker/engine/encode/encode_pipeline.hpp"
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

int64_t TransformerStages::min_extra_bytes(const Stage& s, int64_t working) const {
  int64_t all = 0, largest = 0;
  for (int64_t b : s.block_bytes) {
    all += b;
    largest = std::max(largest, b);
  }
  const int64_t n = static_cast<int64_t>(s.block_bytes.size());
  const int64_t ring = std::min<int64_t>(std::max(3, opts_.slots), n) * largest;
  int64_t weights = s.mode == rt::Placement::kResident ? all
                    : s.mode == rt::Placement::kStream ? ring
                                                       : std::min(all, ring);
  weights = std::max<int64_t>(0, weights - resident_block_bytes(s));
  return weights + working;
}

rt::PlacementPlan TransformerStages::plan_for(const Stage& s, rt::Placement mode, int64_t working, int64_t later) {
  const rt::MemorySnapshot m = be_.meter().snapshot();
  rt::PlacementRequest req;
  req.mode = mode;
  req.block_bytes = s.block_bytes;
  req.fixed_bytes = s.globals_bytes;
  req.working_bytes = working;
  req.later_bytes = later;
  req.slots = opts_.slots;
  req.budget_bytes = opts_.budget_bytes > 0 ? opts_.budget_bytes : m.cap_bytes;
  req.reserve_bytes = opts_.reserve_bytes;
  const int64_t mine = s.globals_bytes + resident_block_bytes(s);
  req.used_bytes = std::max<int64_t>(0, m.allocated_bytes - mine);
  req.device_free_bytes = m.free_bytes + std::max<int64_t>(0, m.reserved_bytes - m.allocated_bytes) + mine;
  return rt::plan_placement(req);
}

void TransformerStages::log_plan(const Stage& s, const rt::PlacementPlan& plan, const char* note) const {
  if (opts_.log_plans)
    std::fprintf(stderr, "framefarm-engine: placement %s: %s%s\n", s.name.c_str(), plan.describe().c_str(), note);
}

video::VelocityFn TransformerStages::velocity(int stage, const StageJob& job) {
  Stage& s = get(stage);
  const auto& grid = stage == 1 ? job.grids.stage1 : job.grids.stage2;
  const int64_t working = working_bytes(s, grid, job.context_rows);
  // Stage 1's resident prefix stays through stage 2: leave stage 2 the room it needs at least.
  int64_t later = 0;
  if (stage == 1) {
    const Stage& next = get(2);
    later = min_extra_bytes(next, working_bytes(next, job.grids.stage2, job.context_rows));
  }
  rt::PlacementPlan plan = plan_for(s, s.mode, working, later);
  if (s.mode != rt::Placement::kResident) {
    log_plan(s, plan);
    if (!plan.fits)
      throw encode::VramBudgetError(s.name + " does not fit the VRAM budget (placement " +
                                    std::string(rt::placement_name(s.mode)) + "): " + plan.describe());
    if (s.mode == rt::Placement::kAuto) {
      bool oom = false;  // the estimate was low: stream everything instead
      try {
        s.store->set_resident_prefix(plan.resident_blocks);
      } catch (const c10::OutOfMemoryError&) {
        oom = true;
      } catch (const rt::OutOfMemory&) {
        oom = true;
      }
      if (oom) {
        s.store->set_resident_prefix(0);
        plan = plan_for(s, rt::Placement::kStream, working, later);
        plan.mode = rt::Placement::kAuto;  // exported as auto:0/N
        log_plan(s, plan, " (out of memory uploading the resident prefix: streaming all blocks)");
        if (!plan.fits)
          throw encode::VramBudgetError(s.name + " does not fit the VRAM budget: " + plan.describe());
      }
    }
  }
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
