#include "worker/engine/video/decoder_level_fields.hpp"

namespace ff::video {

namespace rt = ff::engine::rt;

NamedFields decoder_level_fields(DecoderLevelWeights& w) {
  NamedFields out;
  auto add = [&out](const std::string& name, Conv3dWeights& c) {
    out.emplace_back(name + ".weight", &c.weight);
    out.emplace_back(name + ".bias", &c.bias);
  };
  add("res.conv1", w.res_conv1);
  add("res.conv2", w.res_conv2);
  add("upsample.conv", w.upsample);
  return out;
}

rt::BlockTensors decoder_level_tensors(const DecoderLevelWeights& w) { return block_tensors_of(w, decoder_level_fields); }

DecoderLevelWeights decoder_level_from(const rt::BlockTensors& b) {
  return struct_from_block<DecoderLevelWeights>(b, decoder_level_fields);
}

std::unique_ptr<rt::BlockStore> make_decoder_level_store(const std::string& component, rt::DeviceBackend& backend,
                                                         const std::vector<DecoderLevelWeights>& levels) {
  std::vector<rt::BlockTensors> tensors;
  tensors.reserve(levels.size());
  for (const auto& l : levels) tensors.push_back(decoder_level_tensors(l));
  return make_block_store(component, backend, tensors);
}

}  // namespace ff::video
