#include "worker/engine/app/placed_video_decoder.hpp"

namespace ff::engine {

PlacedVideoDecoder::PlacedVideoDecoder(const ltx2::VideoDecoderConfig& config, ltx2::VideoDecoderWeights weights,
                                       rt::Placement mode, rt::DeviceBackend& backend, PlanLimits limits)
    : config_(config), be_(backend) {
  const at::Device dev = be_.device();
  std::vector<rt::BlockTensors> blocks;
  for (auto& b : weights.blocks) {
    if (mode == rt::Placement::kResident)
      for (auto& [name, t] : ltx2::video_decoder_block_fields(b))
        if (t->defined()) *t = t->to(dev);
    blocks.push_back(ltx2::video_decoder_block_tensors(b));
  }
  weights.blocks.clear();
  fixed_ = std::move(weights);
  for (at::Tensor* t : {&fixed_.mean_of_means, &fixed_.std_of_means, &fixed_.conv_in.weight, &fixed_.conv_in.bias,
                        &fixed_.conv_out.weight, &fixed_.conv_out.bias})
    if (t->defined()) *t = t->to(dev);
  blocks_ = std::make_unique<PlacedBlocks>("vae_decoder", mode, std::move(blocks),
                                           ltx2::video_decoder_weight_bytes(fixed_), be_, limits);
}

at::Tensor PlacedVideoDecoder::forward(const at::Tensor& latent) {
  at::Tensor x = ltx2::video_decoder_input(fixed_, config_, latent);
  PlacedBlocks::Sweep sweep(*blocks_);
  for (int i = 0; i < blocks_->size(); ++i) {
    const auto bw = ltx2::video_decoder_block_from(sweep.acquire(i), config_, static_cast<size_t>(i));
    x = ltx2::video_decoder_block(bw, config_, static_cast<size_t>(i), std::move(x));
    sweep.release(i);
  }
  sweep.finish();
  return ltx2::video_decoder_output(fixed_, config_, std::move(x), latent.scalar_type());
}

at::Tensor PlacedVideoDecoder::decode_to_uint8(const at::Tensor& latent,
                                               const std::optional<ltx2::VideoTilingConfig>& tiling) {
  return ltx2::decode_video_to_uint8([this](const at::Tensor& t) { return forward(t); }, config_, latent,
                                     be_.device(), tiling);
}

}  // namespace ff::engine
