#include "worker/engine/app/av_stage.hpp"

#include <stdexcept>

#include "worker/engine/io/safetensors.hpp"
#include "worker/engine/layers/block_fields.hpp"

namespace ff::engine {
namespace {

std::vector<rt::BlockTensors> block_tensors(std::vector<ltx2::AVBlockWeights>& blocks, at::Device dev, bool to_device) {
  std::vector<rt::BlockTensors> out;
  out.reserve(blocks.size());
  for (auto& b : blocks) {
    if (to_device)
      for (auto& [name, t] : ltx2::av_block_fields(b))
        if (t->defined()) *t = t->to(dev);
    out.push_back(layers::block_tensors_of(b, ltx2::av_block_fields));
  }
  return out;
}

// Whether two passes have the same inputs apart from their text contexts.
bool same_inputs_but_context(const AVPass& a, const AVPass& b) {
  auto same = [](const ltx2::ModalityInput& x, const ltx2::ModalityInput& y) {
    return x.latent.is_same(y.latent) && x.sigma.is_same(y.sigma) && x.step_sigma.is_same(y.step_sigma) &&
           x.positions.is_same(y.positions);
  };
  return same(a.video, b.video) && same(a.audio, b.audio);
}

constexpr const char* kBlockPrefix = "transformer_blocks.";

}  // namespace

AVStage::AVStage(std::string component, const ltx2::AVTransformerConfig& config, rt::DeviceBackend& backend)
    : name_(std::move(component)), config_(config), be_(backend) {}

AVStage::AVStage(std::string component, const ltx2::AVTransformerConfig& config, ltx2::AVTransformerWeights weights,
                 rt::Placement mode, rt::DeviceBackend& backend, PlanLimits limits)
    : AVStage(std::move(component), config, backend) {
  if (static_cast<int64_t>(weights.blocks.size()) != config_.num_layers)
    throw std::invalid_argument(name_ + ": " + std::to_string(weights.blocks.size()) + " blocks, the config has " +
                                std::to_string(config_.num_layers) + " layers");
  const at::Device dev = be_.device();
  globals_ = std::move(weights.globals);
  for (auto& slot : ltx2::av_global_slots(globals_, config_, ""))
    if (slot.target->defined()) *slot.target = slot.target->to(dev);
  globals_bytes_ = layers::slot_bytes(ltx2::av_global_slots(globals_, config_, ""));
  auto blocks = block_tensors(weights.blocks, dev, mode == rt::Placement::kResident);
  weights.blocks.clear();
  blocks_ = std::make_unique<PlacedBlocks>(name_, mode, std::move(blocks), globals_bytes_, be_, limits);
}

std::unique_ptr<AVStage> AVStage::lora_delta(std::string component, AVStage& base, const ltx2::Lora& lora,
                                             double strength, at::ScalarType dtype, rt::Placement mode,
                                             rt::DeviceBackend& backend, PlanLimits limits) {
  if (!base.blocks_) throw std::invalid_argument(component + ": a LoRA stage needs a stage with its own blocks");
  std::unique_ptr<AVStage> s(new AVStage(std::move(component), base.config_, backend));
  s->base_ = &base;
  s->delta_strength_ = strength;
  s->globals_ = base.globals_;  // shares the tensors; deltas attach to this copy only
  const at::Device dev = backend.device();
  const int64_t layers = base.config_.num_layers;

  // Expected shapes of every block Linear, from the config (the base's blocks may be streamed).
  std::vector<std::map<std::string, std::vector<int64_t>>> shapes(static_cast<size_t>(layers));
  for (int64_t i = 0; i < layers; ++i) {
    ltx2::AVBlockWeights probe;
    for (const auto& slot : ltx2::av_block_slots(probe, base.config_, "", i)) shapes[i][slot.name] = slot.shape;
  }
  ltx2::Lora globals_part{lora.path, {}};
  std::vector<rt::BlockTensors> deltas(static_cast<size_t>(layers));
  for (const auto& [target, f] : lora.pairs) {
    if (target.rfind(kBlockPrefix, 0) != 0) {
      globals_part.pairs.emplace(target, f);
      continue;
    }
    const std::string rest = target.substr(std::string(kBlockPrefix).size());
    const size_t dot = rest.find('.');
    int64_t i = -1;
    try {
      i = std::stoll(rest.substr(0, dot));
    } catch (const std::exception&) {
    }
    if (dot == std::string::npos || i < 0 || i >= layers)
      throw std::invalid_argument(lora.path + ": LoRA target '" + target + "' is not a Linear of the transformer");
    const std::string linear = rest.substr(dot + 1);
    auto it = shapes[i].find(target + ".weight");
    if (it == shapes[i].end()) it = shapes[i].find(kBlockPrefix + std::to_string(i) + "." + linear + ".weight");
    if (it == shapes[i].end() || it->second.size() != 2)
      throw std::invalid_argument(lora.path + ": LoRA target '" + target + "' is not a Linear of the transformer");
    const auto& w = it->second;
    if (f.a.dim() != 2 || f.b.dim() != 2 || f.a.size(1) != w[1] || f.b.size(0) != w[0] || f.b.size(1) != f.a.size(0))
      throw std::invalid_argument(lora.path + ": LoRA factors of '" + target + "' do not fit the weight " +
                                  io::shape_string(w) + " (A " + io::shape_string(f.a.sizes()) + ", B " +
                                  io::shape_string(f.b.sizes()) + ")");
    const bool resident = mode == rt::Placement::kResident;
    deltas[i].add(linear + ".lora_A", resident ? f.a.to(dev, dtype) : f.a.to(dtype));
    deltas[i].add(linear + ".lora_B", resident ? f.b.to(dev, dtype) : f.b.to(dtype));
  }
  if (!globals_part.pairs.empty()) {
    ltx2::AVTransformerWeights view{s->globals_, {}};
    view.blocks.resize(static_cast<size_t>(layers));
    ltx2::NamedLinears linears;
    for (auto& [name, lin] : ltx2::av_transformer_linears(view, base.config_))
      if (name.rfind(kBlockPrefix, 0) != 0) linears.emplace_back(name, lin);
    ltx2::LoraApply how;
    how.strength = strength;
    how.delta_dtype = dtype;
    ltx2::attach_lora_delta(globals_part, linears, how);
    s->globals_ = view.globals;
    for (const auto& [name, f] : globals_part.pairs)
      s->globals_bytes_ += static_cast<int64_t>(f.a.numel() + f.b.numel()) * c10::elementSize(dtype);
  }
  s->delta_ = std::make_unique<PlacedBlocks>(s->name_, mode, std::move(deltas), s->globals_bytes_, backend, limits);
  return s;
}

int64_t AVStage::working_bytes(int64_t video_tokens, int64_t audio_tokens, int64_t context_rows, int64_t passes,
                               int64_t elem, bool scores) const {
  // Per stream: one prepared state (hidden, the 9-row per-token AdaLN output, the embedded
  // timestep, the 4-row A/V modulation: ~15 widths per token), each pass's hidden, and one
  // block's temporaries (FFN 4x width twice, q/k/v/out, norms: ~12 widths per token).
  auto stream = [&](int64_t tokens, int64_t width, int64_t heads) {
    int64_t b = tokens * width * elem * (27 + passes);
    if (scores) b += heads * tokens * std::max(tokens, context_rows) * (4 + elem);
    return b;
  };
  return stream(video_tokens, config_.inner_dim(), config_.num_attention_heads) +
         stream(audio_tokens, config_.audio_inner_dim(), config_.audio_num_attention_heads);
}

void AVStage::plan(int64_t working, int64_t later) {
  if (base_) {
    // The base's blocks stream (or stay) as planned for the base; plan them for this call too,
    // leaving room for the delta's own needs.
    base_->plan(working, later + delta_->demand(0, 0).fixed_bytes);
    delta_->plan(working, later);
  } else {
    blocks_->plan(working, later);
  }
}

int64_t AVStage::min_extra_bytes(int64_t working) const {
  const PlacedBlocks& b = base_ ? *delta_ : *blocks_;
  return engine::min_extra_bytes(b.demand(working, 0), 3);
}

std::vector<ltx2::AVVelocity> AVStage::evaluate(const std::vector<AVPass>& passes) {
  const size_t n = passes.size();
  std::vector<ltx2::AVState> st(n);
  for (size_t p = 0; p < n; ++p) {
    if (passes[p].fork_of >= 0) {
      if (static_cast<size_t>(passes[p].fork_of) >= p || passes[passes[p].fork_of].fork_of >= 0)
        throw std::invalid_argument(name_ + ": pass " + std::to_string(p) + " forks from a later or forked pass");
      continue;
    }
    size_t q = 0;
    while (q < p && !(passes[q].fork_of < 0 && same_inputs_but_context(passes[q], passes[p]))) ++q;
    if (q < p) {  // same latents and sigmas: only the text contexts differ
      st[p] = st[q];
      st[p].video.context = passes[p].video.context;
      st[p].audio.context = passes[p].audio.context;
    } else {
      st[p] = ltx2::av_prepare(globals_, config_, passes[p].video, passes[p].audio);
    }
  }
  PlacedBlocks& own = base_ ? *base_->blocks_ : *blocks_;
  PlacedBlocks::Sweep sweep(own);
  std::optional<PlacedBlocks::Sweep> delta_sweep;
  if (delta_) delta_sweep.emplace(*delta_);
  for (int i = 0; i < own.size(); ++i) {
    ltx2::AVBlockWeights w = layers::struct_from_block<ltx2::AVBlockWeights>(sweep.acquire(i), ltx2::av_block_fields);
    if (delta_sweep) {
      const rt::BlockTensors& d = delta_sweep->acquire(i);
      for (auto& [name, lin] : ltx2::av_block_linears(w))
        if (d.has(name + ".lora_A")) {
          lin->lora_a = d.get(name + ".lora_A");
          lin->lora_b = d.get(name + ".lora_B");
          lin->lora_scale = delta_strength_;
        }
    }
    for (size_t p = 0; p < n; ++p)
      if (passes[p].fork_of >= 0 && passes[p].fork_block == i) st[p] = st[passes[p].fork_of];
    for (size_t p = 0; p < n; ++p) {
      if (passes[p].fork_of >= 0 && passes[p].fork_block > i) continue;  // not started yet
      ltx2::av_block_forward(w, config_, i, passes[p].config, st[p]);
    }
    sweep.release(i);
    if (delta_sweep) delta_sweep->release(i);
  }
  sweep.finish();
  if (delta_sweep) delta_sweep->finish();
  std::vector<ltx2::AVVelocity> out;
  out.reserve(n);
  for (size_t p = 0; p < n; ++p) out.push_back(ltx2::av_finish(globals_, config_, st[p]));
  return out;
}

proto::ComponentStats AVStage::stats() const { return base_ ? delta_->stats() : blocks_->stats(); }

int64_t AVStage::device_bytes() const { return base_ ? delta_->held_bytes() : blocks_->held_bytes(); }

}  // namespace ff::engine
