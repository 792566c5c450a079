// The encode pipeline's planning: placement per call, micro-batch and connector-batch sizes, and
// the shrink / stream retries on misfit or device OOM (the passes themselves: encode_passes.cpp).
#include "worker/engine/encode/encode_pipeline.hpp"

#include <c10/util/Exception.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>

#include "common/log.hpp"
#include "worker/engine/runtime/component_stats.hpp"
#include "worker/engine/layers/layers.hpp"

namespace ff::engine::encode {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

int64_t bytes_of(const rt::BlockTensors& t) {
  int64_t n = 0;
  for (const auto& [name, x] : t.items()) n += x.numel() * x.element_size();
  return n;
}

rt::BlockTensors to_device(const rt::BlockTensors& host, at::Device dev) {
  rt::BlockTensors out;
  for (const auto& [name, x] : host.items()) out.add(name, x.to(dev).contiguous());
  return out;
}

// Thrown out of a phase on any device out-of-memory (CUDA allocator or byte accounting).
struct PhaseOom {
  std::string what;
};

template <class F>
auto catching_oom(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const c10::OutOfMemoryError& e) {
    throw PhaseOom{e.what_without_backtrace()};
  } catch (const rt::OutOfMemory& e) {
    throw PhaseOom{e.what()};
  }
}

// Connector-phase bytes still to be allocated once its inputs (the features, compute dtype)
// exist: connector_pass_bytes minus its allowance for the inputs.
int64_t connector_new_bytes(const EncoderDims& d, const std::vector<MicroBatch>& mbs) {
  int64_t rows = 0;
  for (const auto& mb : mbs) rows += static_cast<int64_t>(mb.prompts.size()) * mb.max_length;
  return connector_pass_bytes(d, mbs) - rows * (d.video_dim + d.audio_dim) * 4;
}

// Regroups the rows of micro-batches (all of one max_length) and their features into consecutive
// groups of at most n prompts, across micro-batch boundaries: a group inside one old group is a
// view, a group spanning several is concatenated (the old tensors are released on return).
void regroup(std::vector<MicroBatch>& mbs, std::vector<std::pair<at::Tensor, at::Tensor>>& feats, int n) {
  std::vector<MicroBatch> m2;
  std::vector<std::pair<at::Tensor, at::Tensor>> f2;
  MicroBatch cur;
  std::vector<at::Tensor> pv, pa;
  auto flush = [&] {
    if (cur.prompts.empty()) return;
    cur.window = *std::max_element(cur.real_tokens.begin(), cur.real_tokens.end());
    m2.push_back(cur);
    f2.emplace_back(pv.size() == 1 ? pv[0] : at::cat(pv, 0), pa.size() == 1 ? pa[0] : at::cat(pa, 0));
    cur.prompts.clear();
    cur.real_tokens.clear();
    pv.clear();
    pa.clear();
  };
  for (size_t b = 0; b < mbs.size(); ++b) {
    const int rows = static_cast<int>(mbs[b].prompts.size());
    for (int s = 0; s < rows;) {
      cur.max_length = mbs[b].max_length;
      const int k = std::min(n - static_cast<int>(cur.prompts.size()), rows - s);
      cur.prompts.insert(cur.prompts.end(), mbs[b].prompts.begin() + s, mbs[b].prompts.begin() + s + k);
      cur.real_tokens.insert(cur.real_tokens.end(), mbs[b].real_tokens.begin() + s,
                             mbs[b].real_tokens.begin() + s + k);
      pv.push_back(feats[b].first.narrow(0, s, k));
      pa.push_back(feats[b].second.narrow(0, s, k));
      s += k;
      if (static_cast<int>(cur.prompts.size()) == n) flush();
    }
  }
  flush();
  mbs = std::move(m2);
  feats = std::move(f2);
}

}  // namespace

EncodePipeline::EncodePipeline(std::unique_ptr<TextModelOps> ops, EncoderWeights weights,
                               rt::DeviceBackend& backend, PipelineOptions options)
    : ops_(std::move(ops)), w_(std::move(weights)), be_(backend), opts_(options) {
  if (!w_.text || !w_.connectors) throw std::invalid_argument("encode pipeline: missing block stores");
  dims_ = ops_->dims();
  dims_.attention_stores_scores = layers::attention_stores_scores(be_.device());
  dims_.fused_norms = layers::rms_norm_is_fused(be_.device());
  if (w_.text->size() != ops_->num_layers())
    throw std::invalid_argument("encode pipeline: " + std::to_string(w_.text->size()) +
                                " text blocks for " + std::to_string(ops_->num_layers()) + " layers");
  text_fixed_bytes_ = bytes_of(w_.text_fixed);
  connector_fixed_bytes_ = bytes_of(w_.connector_fixed);
  be_.meter().charge(text_fixed_bytes_ + connector_fixed_bytes_);
  text_fixed_dev_ = to_device(w_.text_fixed, be_.device());
  connector_fixed_dev_ = to_device(w_.connector_fixed, be_.device());
  for (const char* c : {"text_encoder", "embeddings_processor"}) stats_[c].placement = "none";
  stats_["text_encoder"].total_blocks = w_.text->size();
  stats_["text_encoder"].pinned_host_bytes = w_.text->pinned_bytes();
  stats_["text_encoder"].resident_bytes = text_fixed_bytes_;
  stats_["embeddings_processor"].total_blocks = w_.connectors->size();
  stats_["embeddings_processor"].pinned_host_bytes = w_.connectors->pinned_bytes();
  stats_["embeddings_processor"].resident_bytes = connector_fixed_bytes_;
}

EncodePipeline::~EncodePipeline() { be_.meter().release(text_fixed_bytes_ + connector_fixed_bytes_); }

void EncodePipeline::log_plan(const std::string& component, const rt::PlacementPlan& plan) const {
  if (opts_.log_plans) ff::log::info("engine", "placement ", component, ": ", plan.describe());
}

rt::PlacementPlan EncodePipeline::plan_for(rt::BlockStore& store, int64_t fixed_bytes, rt::Placement mode,
                                           int64_t working, int64_t later) {
  rt::PlacementRequest req;
  req.mode = mode;
  req.block_bytes = store.all_block_bytes();
  req.fixed_bytes = fixed_bytes;
  req.working_bytes = working;
  req.later_bytes = later;
  req.slots = opts_.slots;
  req.reserve_bytes = opts_.reserve_bytes;
  rt::set_live_memory(req, be_.meter().snapshot(), opts_.budget_bytes, store.resident_bytes() + fixed_bytes);
  return rt::plan_placement(req);
}

int64_t EncodePipeline::processor_min_bytes(const std::vector<MicroBatch>& mbs) const {
  const auto blocks = w_.connectors->all_block_bytes();
  int64_t all = 0, largest = 0;
  for (int64_t b : blocks) {
    all += b;
    largest = std::max(largest, b);
  }
  const int64_t ring = std::min<int64_t>(std::max(3, opts_.slots), static_cast<int64_t>(blocks.size())) * largest;
  int64_t weights = opts_.processor_placement == rt::Placement::kResident ? all
                    : opts_.processor_placement == rt::Placement::kStream ? ring
                                                                          : std::min(all, ring);
  weights = std::max<int64_t>(0, weights - w_.connectors->resident_bytes());
  return weights + connector_pass_bytes(dims_, mbs);
}

std::vector<EncodedPrompt> EncodePipeline::encode(const std::vector<std::vector<int32_t>>& prompts, int max_length) {
  const auto t_call = Clock::now();
  if (max_length < 1) throw std::invalid_argument("max_length must be >= 1");
  std::vector<int> lens;
  for (size_t i = 0; i < prompts.size(); ++i) {
    const auto& p = prompts[i];
    if (p.empty()) throw std::invalid_argument("prompt " + std::to_string(i) + " has no tokens");
    if (static_cast<int64_t>(p.size()) > max_length)
      throw std::invalid_argument("prompt " + std::to_string(i) + " has " + std::to_string(p.size()) +
                                  " tokens, more than max_length " + std::to_string(max_length));
    for (int32_t id : p)
      if (id < 0 || id >= ops_->vocab_size())
        throw std::invalid_argument("prompt " + std::to_string(i) + ": token id " + std::to_string(id) +
                                    " outside the vocabulary (" + std::to_string(ops_->vocab_size()) + ")");
    lens.push_back(static_cast<int>(p.size()));
  }
  last_ = CallReport{};
  last_.prompts = static_cast<int>(prompts.size());
  if (prompts.empty()) return {};
  auto& ts = stats_["text_encoder"];
  auto& ps = stats_["embeddings_processor"];

  // ---- text encoder: plan, shrink on misfit / OOM, one pass over all micro-batches.
  int mb_size = std::max(1, opts_.max_micro_batch);
  std::vector<MicroBatch> mbs;
  std::vector<std::pair<at::Tensor, at::Tensor>> feats;
  bool force_stream = false;
  for (;;) {
    mbs = plan_micro_batches(lens, max_length, mb_size, opts_.trim_windows);
    const rt::Placement mode = force_stream ? rt::Placement::kStream : opts_.text_placement;
    // The text encoder's resident blocks stay through the connector phase: leave it room.
    rt::PlacementPlan plan = plan_for(*w_.text, text_fixed_bytes_, mode, text_pass_bytes(dims_, mbs),
                                      processor_min_bytes(mbs));
    log_plan("text_encoder", plan);
    std::string failure;
    if (plan.fits) {
      try {
        catching_oom([&] {
          w_.text->set_resident_prefix(plan.resident_blocks);
          be_.meter().reset_peak();
          const auto t0 = Clock::now();
          feats = run_text(prompts, mbs, max_length);
          be_.synchronize();
          last_.text_seconds = since(t0);
          return 0;
        });
        last_.text_plan = plan;
        break;
      } catch (const PhaseOom& e) {
        failure = "out of memory: " + e.what;
        feats.clear();
      }
    } else {
      failure = plan.describe();
    }
    if (mb_size > 1) {
      mb_size = (mb_size + 1) / 2;
    } else if (!force_stream && opts_.text_placement != rt::Placement::kResident && w_.text->resident_prefix() > 0) {
      force_stream = true;  // auto's estimate was low: give back the resident prefix and stream
      w_.text->set_resident_prefix(0);
    } else {
      ts.peak_vram_bytes = be_.meter().peak_bytes();
      throw rt::VramBudgetError("text_encoder does not fit the VRAM budget (placement " +
                            std::string(rt::placement_name(opts_.text_placement)) +
                            ") even with one prompt per micro-batch: " + failure);
    }
    ++ooms_avoided_;
    ++last_.ooms_avoided;
  }
  last_.micro_batch = mb_size;
  last_.micro_batches = static_cast<int>(mbs.size());
  for (const auto& mb : mbs) last_.window_tokens += mb.tokens();
  last_.text_peak_bytes = be_.meter().peak_bytes();
  rt::record_plan(ts, last_.text_plan, w_.text->pinned_bytes());
  ts.resident_bytes = last_.text_plan.resident_bytes;
  ts.peak_vram_bytes = last_.text_peak_bytes;
  rt::record_pass(ts, last_.text_pass);

  // ---- embeddings processor (connectors): its own plan over chunks of the text micro-batches;
  // chunks halve when it does not fit; on OOM with a resident prefix, stream.
  std::vector<MicroBatch> cmbs = mbs;
  int chunk = std::max(1, std::min(opts_.max_connector_batch, static_cast<int>(prompts.size())));
  if (chunk > mb_size) {
    regroup(cmbs, feats, chunk);
  } else {
    chunk = mb_size;
  }
  // Results go to the host as each modality finishes (the video contexts travel while the audio
  // connectors compute): one host buffer per modality (pinned on CUDA), rows in connector-batch
  // order, allocated at the first result; complete after the phase's synchronisation.
  const int64_t n_all = static_cast<int64_t>(prompts.size());
  at::Tensor host[2];
  std::vector<int64_t> first_row;
  const Deliver deliver = [&](int m, size_t b, const at::Tensor& ctx) {
    if (!host[m].defined())
      host[m] = at::empty({n_all, ctx.size(1), ctx.size(2)},
                          at::TensorOptions().dtype(ctx.scalar_type()).pinned_memory(be_.host_pinned()));
    be_.copy_to_host_async(host[m].narrow(0, first_row[b], ctx.size(0)), ctx);
  };
  bool processor_stream = false;
  for (;;) {
    first_row.assign(1, 0);
    for (const auto& g : cmbs) first_row.push_back(first_row.back() + static_cast<int64_t>(g.prompts.size()));
    const rt::Placement mode = processor_stream ? rt::Placement::kStream : opts_.processor_placement;
    rt::PlacementPlan plan =
        plan_for(*w_.connectors, connector_fixed_bytes_, mode, connector_new_bytes(dims_, cmbs));
    log_plan("embeddings_processor", plan);
    if (!plan.fits) {
      if (chunk > 1) {
        // Merged connector batches larger than the text micro-batch shrink as a plan choice;
        // below the text micro-batch size a shrink counts as an OOM avoided.
        if (chunk <= mb_size) {
          ++ooms_avoided_;
          ++last_.ooms_avoided;
        }
        chunk = (chunk + 1) / 2;
        regroup(cmbs, feats, chunk);
        continue;
      }
      ps.peak_vram_bytes = be_.meter().peak_bytes();
      throw rt::VramBudgetError("embeddings_processor does not fit the VRAM budget even one prompt at a time: " +
                            plan.describe());
    }
    try {
      catching_oom([&] {
        w_.connectors->set_resident_prefix(plan.resident_blocks);
        be_.meter().reset_peak();
        const auto t0 = Clock::now();
        run_connectors(feats, cmbs, deliver);
        be_.synchronize();
        last_.processor_seconds = since(t0);
        return 0;
      });
      last_.processor_plan = plan;
      break;
    } catch (const PhaseOom& e) {
      // run_connectors consumes the features: a retry is only possible while they are intact.
      bool intact = true;
      for (const auto& f : feats) intact = intact && f.first.defined() && f.second.defined();
      if (intact && (chunk > 1 || (!processor_stream && w_.connectors->resident_prefix() > 0))) {
        if (chunk > 1) {
          chunk = (chunk + 1) / 2;
          regroup(cmbs, feats, chunk);
        } else {
          processor_stream = true;
          w_.connectors->set_resident_prefix(0);
        }
        ++ooms_avoided_;
        ++last_.ooms_avoided;
        continue;
      }
      ps.peak_vram_bytes = be_.meter().peak_bytes();
      throw rt::VramBudgetError("embeddings_processor ran out of memory: " + e.what);
    }
  }
  last_.processor_peak_bytes = be_.meter().peak_bytes();
  rt::record_plan(ps, last_.processor_plan, w_.connectors->pinned_bytes());
  ps.peak_vram_bytes = last_.processor_peak_bytes;
  rt::record_pass(ps, last_.processor_pass);

  for (const auto& g : cmbs) last_.connector_batch = std::max(last_.connector_batch, static_cast<int>(g.prompts.size()));

  // ---- results in request order: views of the host buffers (complete after the phase's sync).
  std::vector<EncodedPrompt> result(prompts.size());
  for (size_t b = 0; b < cmbs.size(); ++b)
    for (size_t r = 0; r < cmbs[b].prompts.size(); ++r) {
      EncodedPrompt& e = result[cmbs[b].prompts[r]];
      e.real_tokens = cmbs[b].real_tokens[r];
      e.video = host[0][first_row[b] + static_cast<int64_t>(r)];
      e.audio = host[1][first_row[b] + static_cast<int64_t>(r)];
    }
  last_.total_seconds = since(t_call);
  return result;
}

}  // namespace ff::engine::encode
