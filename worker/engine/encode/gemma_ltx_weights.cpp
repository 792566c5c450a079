#include "worker/engine/encode/gemma_ltx_weights.hpp"

#include "common/json_fields.hpp"
#include "worker/engine/io/checkpoint.hpp"
#include "worker/engine/io/checkpoint_error.hpp"
#include "worker/engine/io/gemma_config.hpp"

namespace ff::engine::encode {

EncoderWeights build_gemma_ltx_weights(const GemmaLtxSource& src, const text::GemmaConfig& g,
                                       rt::DeviceBackend& backend) {
  EncoderWeights w;
  w.embed_table = src.embed_tokens.to(at::kCPU).contiguous();
  const int64_t n = g.num_hidden_layers;
  auto block = [&](int64_t i) {
    auto [v, a] = src.fe_slices(i + 1);
    return text_block_tensors(src.layer(i), v, a);
  };
  rt::BlockTensors first = block(0);
  std::vector<rt::BlockLayout> layouts(n, rt::BlockLayout::of(first));
  w.text = std::make_unique<rt::BlockStore>("text_encoder", backend, layouts);
  w.text->fill(0, first);
  first = rt::BlockTensors{};
  for (int64_t i = 1; i < n; ++i) w.text->fill(static_cast<int>(i), block(i));
  auto [v0, a0] = src.fe_slices(0);
  w.text_fixed.add("norm", src.norm.to(at::kCPU));
  w.text_fixed.add("fe_video", v0.to(at::kCPU));
  w.text_fixed.add("fe_audio", a0.to(at::kCPU));
  w.text_fixed.add("fe_video_bias", src.fe_video_bias.to(at::kCPU));
  w.text_fixed.add("fe_audio_bias", src.fe_audio_bias.to(at::kCPU));
  std::vector<rt::BlockTensors> cblocks;
  for (const auto* conn : {&src.video_connector, &src.audio_connector})
    for (const auto& blk : conn->blocks) cblocks.push_back(connector_block_tensors(blk));
  std::vector<rt::BlockLayout> clayouts;
  for (const auto& b : cblocks) clayouts.push_back(rt::BlockLayout::of(b));
  w.connectors = std::make_unique<rt::BlockStore>("embeddings_processor", backend, clayouts);
  for (size_t j = 0; j < cblocks.size(); ++j) w.connectors->fill(static_cast<int>(j), cblocks[j]);
  w.connector_fixed.add("video_registers", src.video_connector.registers.to(at::kCPU));
  w.connector_fixed.add("audio_registers", src.audio_connector.registers.to(at::kCPU));
  return w;
}

LoadedEncoder load_gemma_ltx(const std::string& te, const std::string& ltx_path,
                             rt::DeviceBackend& backend) {
  LoadedEncoder out;
  out.gemma = io::load_gemma_config(te);
  io::Checkpoint gck = io::Checkpoint::open(te);
  text::GemmaWeights gw = text::load_gemma_weights(gck, out.gemma);
  out.dtype = gw.embed_tokens.scalar_type();
  io::Checkpoint lck = io::Checkpoint::open(ltx_path);
  auto it = lck.metadata().find("config");
  if (it == lck.metadata().end()) throw io::CheckpointError(ltx_path + ": no 'config' metadata");
  out.processor = text::parse_embeddings_processor_config(json::parse(it->second, ltx_path + ": metadata config"), out.gemma, ltx_path);
  text::EmbeddingsProcessorWeights pw = text::load_embeddings_processor(lck, out.processor);
  GemmaLtxSource src;
  src.layer = [&](int64_t i) { return gw.layers.at(i); };
  src.fe_slices = [&](int64_t s) {
    return std::make_pair(pw.features.video.weight.select(0, s), pw.features.audio.weight.select(0, s));
  };
  src.embed_tokens = gw.embed_tokens;
  src.norm = gw.norm;
  src.fe_video_bias = pw.features.video.bias;
  src.fe_audio_bias = pw.features.audio.bias;
  src.video_connector = pw.video;
  src.audio_connector = pw.audio;
  out.weights = build_gemma_ltx_weights(src, out.gemma, backend);
  return out;
}

}  // namespace ff::engine::encode
