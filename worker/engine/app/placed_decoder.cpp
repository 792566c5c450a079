#include "worker/engine/app/placed_decoder.hpp"

#include <stdexcept>
#include <string>

#include "worker/engine/runtime/component_stats.hpp"
#include "worker/engine/video/decoder_level_fields.hpp"
#include "worker/engine/video/decoder_working_set.hpp"
#include "worker/engine/video/streamed_decode.hpp"

namespace ff::engine {
namespace {

int64_t bytes_of(const at::Tensor& t) { return t.defined() ? static_cast<int64_t>(t.nbytes()) : 0; }

int64_t conv_bytes(const video::Conv3dWeights& c) { return bytes_of(c.weight) + bytes_of(c.bias); }

}  // namespace

PlacedDecoder::PlacedDecoder(VideoModels& models, rt::DeviceBackend& backend, StagePlacementOptions options)
    : models_(models), be_(backend), opts_(options), mode_(options.decoder) {
  auto& w = models_.decoder;
  const auto& c = models_.decoder_config;
  if (w.levels.size() != c.block_out_channels.size())
    throw std::invalid_argument(std::string(kDecoderComponent) + ": " + std::to_string(w.levels.size()) +
                                " levels loaded, config has " + std::to_string(c.block_out_channels.size()));
  const int32_t total = static_cast<int32_t>(w.levels.size());
  if (mode_ == rt::Placement::kResident) {
    for (const auto& l : w.levels) {
      int64_t n = 0;
      for (const auto& [name, t] : video::decoder_level_tensors(l).items()) n += bytes_of(t);
      level_bytes_.push_back(n);
    }
    stats_.placement = "resident";
    stats_.resident_blocks = total;
  } else {
    store_ = video::make_decoder_level_store(kDecoderComponent, be_, w.levels);
    w.levels.clear();
    w.levels.shrink_to_fit();
    const at::Device dev = be_.device();
    for (at::Tensor* t : {&w.latents_mean, &w.latents_std, &w.conv_in.weight, &w.conv_in.bias, &w.conv_out.weight,
                          &w.conv_out.bias})
      if (t->defined()) *t = t->to(dev);
    level_bytes_ = store_->all_block_bytes();
    stats_.placement = mode_ == rt::Placement::kStream ? "stream" : "auto:0/" + std::to_string(total);
    stats_.pinned_host_bytes = store_->pinned_bytes();
  }
  fixed_bytes_ = bytes_of(w.latents_mean) + bytes_of(w.latents_std) + conv_bytes(w.conv_in) + conv_bytes(w.conv_out);
  stats_.total_blocks = total;
  stats_.resident_bytes = device_weight_bytes();
  // A resident decoder is charged as loaded (models.decoder_bytes), a streamed one its fixed part.
  fixed_charge_.emplace(be_.meter(), store_ ? fixed_bytes_ : models_.decoder_bytes);
}

int64_t PlacedDecoder::device_weight_bytes() const {
  if (store_) return fixed_bytes_ + store_->resident_bytes();
  int64_t n = fixed_bytes_;
  for (int64_t b : level_bytes_) n += b;
  return n;
}

ComponentDemand PlacedDecoder::demand(int64_t frames, int64_t height, int64_t width) const {
  ComponentDemand d;
  d.name = kDecoderComponent;
  d.mode = mode_;
  d.block_bytes = level_bytes_;
  d.fixed_bytes = fixed_bytes_;
  d.held_bytes = device_weight_bytes();
  d.working_bytes = video::decoder_working_bytes(models_.decoder_config, frames, height, width,
                                                 static_cast<int64_t>(models_.decoder.conv_in.weight.element_size()));
  return d;
}

int64_t PlacedDecoder::min_extra_bytes(int64_t frames, int64_t height, int64_t width) const {
  return store_ ? engine::min_extra_bytes(demand(frames, height, width), opts_.slots) : 0;
}

at::Tensor PlacedDecoder::decode(const at::Tensor& latent) {
  const auto& c = models_.decoder_config;
  if (!store_) return video::decode_latent(models_.decoder, c, latent);
  if (latent.dim() != 5)
    throw std::invalid_argument("vae_decoder: expected a latent [1, C, F, H, W], got " + std::to_string(latent.dim()) +
                                " dims");
  const ComponentDemand d = demand(latent.size(2), latent.size(3), latent.size(4));
  plan_ = place_streamed_component(be_, plan_limits(opts_), d, *store_);
  rt::record_plan(stats_, plan_, store_->pinned_bytes());
  rt::ScopedCharge working(be_.meter(), d.working_bytes);
  proto::ComponentStats* stats = &stats_;
  return video::streamed_decode_latent(models_.decoder, c, *store_, latent, opts_.slots,
                                       [stats](const rt::PassTimings& t) { rt::record_pass(*stats, t); });
}

}  // namespace ff::engine
