#include "bench/gpu/random_encoder.hpp"

#include <chrono>
#include <cmath>

#include "worker/engine/encode/gemma_ltx_weights.hpp"

namespace ff::bench {
namespace {

void set_gemma(text::GemmaConfig& g, bool full) {
  g.model_type = "gemma3_text";
  if (full) {
    g.vocab_size = 262208; g.hidden_size = 3840; g.intermediate_size = 15360; g.num_hidden_layers = 48;
    g.num_attention_heads = 16; g.num_key_value_heads = 8; g.head_dim = 256; g.query_pre_attn_scalar = 256;
    g.sliding_window = 1024;
  } else {
    g.vocab_size = 512; g.hidden_size = 64; g.intermediate_size = 128; g.num_hidden_layers = 6;
    g.num_attention_heads = 4; g.num_key_value_heads = 2; g.head_dim = 16; g.query_pre_attn_scalar = 16;
    g.sliding_window = 16;
  }
  g.rope_global = {1e6, 8.0};
  g.rope_local = {1e4, 1.0};
  g.layer_is_sliding.clear();
  for (int64_t i = 0; i < g.num_hidden_layers; ++i) g.layer_is_sliding.push_back((i + 1) % 6 != 0);
}

void set_processor(text::EmbeddingsProcessorConfig& p, const text::GemmaConfig& g, bool full) {
  p.text_hidden = g.hidden_size;
  p.num_hidden_states = g.num_hidden_layers + 1;
  auto conn = [&](int64_t heads, int64_t head_dim, int64_t layers) {
    text::ConnectorConfig c;
    c.num_heads = heads; c.head_dim = head_dim; c.num_layers = layers; c.gated_attention = true;
    c.ff_bias = true; c.max_pos = {4096}; c.rope_type = text::LtxRopeType::Split; c.float64_frequencies = true;
    c.num_registers = full ? 128 : 8;
    return c;
  };
  p.video = full ? conn(32, 128, 8) : conn(2, 16, 2);
  p.audio = full ? conn(32, 64, 8) : conn(2, 8, 2);
  p.video_dim = p.video.dim();
  p.audio_dim = p.audio.dim();
}

}  // namespace

RandomEncoder make_random_encoder(const std::string& preset, engine::rt::DeviceBackend& be, uint64_t seed) {
  const auto t0 = std::chrono::steady_clock::now();
  const bool full = preset == "full";
  RandomEncoder e;
  set_gemma(e.gemma, full);
  set_processor(e.processor, e.gemma, full);
  e.dtype = at::kBFloat16;
  const at::Device dev = be.device();
  at::manual_seed(seed);
  const auto opt = at::TensorOptions().dtype(at::kFloat).device(dev);
  // Random init by role (as the text owner's presets): matrices N(0, 1/sqrt(fan_in)), Gemma norms
  // N(0, 0.1), plain norms ones, biases zero, registers N(0, 1), embeddings N(0, 0.02).
  auto mat = [&](std::vector<int64_t> shape, double fan_in) {
    return (at::randn(shape, opt) * (1.0 / std::sqrt(fan_in))).to(e.dtype);
  };
  auto gnorm = [&](int64_t n) { return (at::randn({n}, opt) * 0.1).to(e.dtype); };
  const auto& g = e.gemma;
  const int64_t h = g.hidden_size, q = g.num_attention_heads * g.head_dim, kv = g.num_key_value_heads * g.head_dim,
                im = g.intermediate_size;
  const double flat = static_cast<double>(e.processor.flat_dim());
  engine::encode::GemmaLtxSource src;
  src.layer = [&](int64_t) {
    text::GemmaLayerWeights w;
    w.input_layernorm = gnorm(h);
    w.q_proj = mat({q, h}, h);
    w.k_proj = mat({kv, h}, h);
    w.v_proj = mat({kv, h}, h);
    w.o_proj = mat({h, q}, q);
    w.q_norm = gnorm(g.head_dim);
    w.k_norm = gnorm(g.head_dim);
    w.post_attention_layernorm = gnorm(h);
    w.pre_feedforward_layernorm = gnorm(h);
    w.gate_proj = mat({im, h}, h);
    w.up_proj = mat({im, h}, h);
    w.down_proj = mat({h, im}, im);
    w.post_feedforward_layernorm = gnorm(h);
    return w;
  };
  src.fe_slices = [&](int64_t) {
    return std::make_pair(mat({e.processor.video_dim, h}, flat), mat({e.processor.audio_dim, h}, flat));
  };
  // The table is generated in chunks on the device and lands on the host.
  at::Tensor table = at::empty({g.vocab_size, h}, at::TensorOptions().dtype(e.dtype));
  for (int64_t r = 0; r < g.vocab_size; r += 16384) {
    const int64_t n = std::min<int64_t>(16384, g.vocab_size - r);
    table.narrow(0, r, n).copy_((at::randn({n, h}, opt) * 0.02).to(e.dtype));
  }
  src.embed_tokens = table;
  src.norm = gnorm(h);
  src.fe_video_bias = at::zeros({e.processor.video_dim}, opt).to(e.dtype);
  src.fe_audio_bias = at::zeros({e.processor.audio_dim}, opt).to(e.dtype);
  auto connector = [&](const text::ConnectorConfig& c) {
    text::ConnectorWeights w;
    const int64_t d = c.dim();
    for (int64_t j = 0; j < c.num_layers; ++j) {
      text::ConnectorBlockWeights b;
      b.to_q_w = mat({d, d}, d); b.to_k_w = mat({d, d}, d); b.to_v_w = mat({d, d}, d); b.to_out_w = mat({d, d}, d);
      b.to_q_b = at::zeros({d}, opt).to(e.dtype); b.to_k_b = b.to_q_b.clone(); b.to_v_b = b.to_q_b.clone();
      b.to_out_b = b.to_q_b.clone();
      b.q_norm = at::ones({d}, opt).to(e.dtype); b.k_norm = b.q_norm.clone();
      b.gate_w = mat({c.num_heads, d}, d); b.gate_b = at::zeros({c.num_heads}, opt).to(e.dtype);
      b.ff_in_w = mat({4 * d, d}, d); b.ff_in_b = at::zeros({4 * d}, opt).to(e.dtype);
      b.ff_out_w = mat({d, 4 * d}, 4 * d); b.ff_out_b = at::zeros({d}, opt).to(e.dtype);
      w.blocks.push_back(std::move(b));
    }
    w.registers = at::randn({c.num_registers, d}, opt).to(e.dtype);
    return w;
  };
  src.video_connector = connector(e.processor.video);
  src.audio_connector = connector(e.processor.audio);
  e.weights = engine::encode::build_gemma_ltx_weights(src, e.gemma, be);
  for (int64_t b : e.weights.text->all_block_bytes()) e.text_block_bytes_total += b;
  for (int64_t b : e.weights.connectors->all_block_bytes()) e.connector_bytes_total += b;
  be.synchronize();
  e.build_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return e;
}

std::unique_ptr<engine::encode::GemmaLtxOps> random_encoder_ops(const RandomEncoder& e) {
  return std::make_unique<engine::encode::GemmaLtxOps>(e.gemma, e.processor, e.dtype);
}

std::vector<std::vector<int32_t>> bench_prompts(int count, int lo, int hi, int64_t vocab, uint64_t seed) {
  std::vector<std::vector<int32_t>> out;
  uint64_t s = seed * 6364136223846793005ull + 1442695040888963407ull;
  auto next = [&] {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return s >> 33;
  };
  for (int i = 0; i < count; ++i) {
    const int n = lo + static_cast<int>(next() % static_cast<uint64_t>(hi - lo + 1));
    std::vector<int32_t> p{2};
    for (int k = 1; k < n; ++k) p.push_back(3 + static_cast<int32_t>(next() % static_cast<uint64_t>(vocab - 3)));
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace ff::bench
