#include "worker/engine/ltx2/published_presets.hpp"

#include <stdexcept>

namespace ff::ltx2 {
namespace {

// The published 2.3 checkpoint config (see LTX23.md section 1; the same values as
// tests/worker/engine/ltx2/reference/inventory_reference.py). The scheduler section is not read by ltx-core;
// its content is a placeholder in the shape older LTX files carry.
constexpr const char* kLtx23Config = R"({
 "transformer": {
  "_class_name": "AVTransformer3DModel", "activation_fn": "gelu-approximate", "attention_bias": true,
  "attention_head_dim": 128, "attention_type": "default", "caption_channels": 3840,
  "cross_attention_dim": 4096, "double_self_attention": false, "dropout": 0.0, "in_channels": 128,
  "norm_elementwise_affine": false, "norm_eps": 1e-06, "norm_num_groups": 32, "num_attention_heads": 32,
  "num_embeds_ada_norm": 1000, "num_layers": 48, "num_vector_embeds": null, "only_cross_attention": false,
  "cross_attention_norm": true, "out_channels": 128, "upcast_attention": false,
  "use_linear_projection": false, "qk_norm": "rms_norm", "standardization_norm": "rms_norm",
  "positional_embedding_type": "rope", "positional_embedding_theta": 10000.0,
  "positional_embedding_max_pos": [20, 2048, 2048], "timestep_scale_multiplier": 1000,
  "av_ca_timestep_scale_multiplier": 1000.0, "causal_temporal_positioning": true,
  "audio_num_attention_heads": 32, "audio_attention_head_dim": 64, "use_audio_video_cross_attention": true,
  "share_ff": false, "audio_out_channels": 128, "audio_cross_attention_dim": 2048,
  "audio_positional_embedding_max_pos": [20], "av_cross_ada_norm": true, "use_embeddings_connector": true,
  "connector_attention_head_dim": 128, "connector_num_attention_heads": 32, "connector_num_layers": 8,
  "connector_positional_embedding_max_pos": [4096], "connector_num_learnable_registers": 128,
  "connector_norm_output": true, "use_middle_indices_grid": true, "apply_gated_attention": true,
  "connector_apply_gated_attention": true, "caption_projection_first_linear": false,
  "caption_projection_second_linear": false, "caption_proj_input_norm": false,
  "connector_learnable_registers_std": 1, "caption_proj_before_connector": true,
  "audio_connector_attention_head_dim": 64, "audio_connector_num_attention_heads": 32,
  "cross_attention_adaln": true, "text_encoder_norm_type": "per_token_rms", "rope_type": "split",
  "frequencies_precision": "float64"},
 "vae": {
  "_class_name": "CausalVideoAutoencoder", "dims": 3, "in_channels": 3, "out_channels": 3,
  "latent_channels": 128,
  "encoder_blocks": [["res_x", {"num_layers": 4}], ["compress_space_res", {"multiplier": 2}],
                     ["res_x", {"num_layers": 6}], ["compress_time_res", {"multiplier": 2}],
                     ["res_x", {"num_layers": 4}], ["compress_all_res", {"multiplier": 2}],
                     ["res_x", {"num_layers": 2}], ["compress_all_res", {"multiplier": 1}],
                     ["res_x", {"num_layers": 2}]],
  "decoder_blocks": [["res_x", {"num_layers": 4}], ["compress_space", {"multiplier": 2}],
                     ["res_x", {"num_layers": 6}], ["compress_time", {"multiplier": 2}],
                     ["res_x", {"num_layers": 4}], ["compress_all", {"multiplier": 1}],
                     ["res_x", {"num_layers": 2}], ["compress_all", {"multiplier": 2}],
                     ["res_x", {"num_layers": 2}]],
  "scaling_factor": 1.0, "norm_layer": "pixel_norm", "patch_size": 4, "latent_log_var": "uniform",
  "use_quant_conv": false, "causal_decoder": false, "timestep_conditioning": false,
  "normalize_latent_channels": false, "encoder_base_channels": 128, "decoder_base_channels": 128,
  "spatial_padding_mode": "zeros"},
 "audio_vae": {
  "model": {"params": {"ddconfig": {
    "double_z": true, "mel_bins": 64, "z_channels": 8, "resolution": 256, "downsample_time": false,
    "in_channels": 2, "out_ch": 2, "ch": 128, "ch_mult": [1, 2, 4], "num_res_blocks": 2,
    "attn_resolutions": [], "dropout": 0.0, "mid_block_add_attention": false, "norm_type": "pixel",
    "causality_axis": "height"}, "sampling_rate": 16000}},
  "preprocessing": {"stft": {"filter_length": 1024, "hop_length": 160, "win_length": 1024, "causal": true},
                    "mel": {"n_mel_channels": 64, "mel_fmin": 0, "mel_fmax": 8000}}},
 "vocoder": {
  "vocoder": {"upsample_initial_channel": 1536, "resblock": "AMP1", "upsample_rates": [5, 2, 2, 2, 2, 2],
              "resblock_kernel_sizes": [3, 7, 11], "upsample_kernel_sizes": [11, 4, 4, 4, 4, 4],
              "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]], "stereo": true,
              "use_tanh_at_final": false, "activation": "snakebeta", "use_bias_at_final": false},
  "bwe": {"upsample_initial_channel": 512, "resblock": "AMP1", "upsample_rates": [6, 5, 2, 2, 2],
          "resblock_kernel_sizes": [3, 7, 11], "upsample_kernel_sizes": [12, 11, 4, 4, 4],
          "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]], "stereo": true,
          "use_tanh_at_final": false, "activation": "snakebeta", "use_bias_at_final": false,
          "apply_final_activation": false, "input_sampling_rate": 16000, "output_sampling_rate": 48000,
          "hop_length": 80, "n_fft": 512, "win_size": 512, "num_mels": 64}},
 "scheduler": {"_class_name": "RectifiedFlowScheduler", "num_train_timesteps": 1000, "shifting": "SD3",
               "base_resolution": null, "target_shift_terminal": 0.1}
})";

constexpr const char* kLtx23UpsamplerConfig = R"({"_class_name": "LatentUpsampler", "in_channels": 128,
 "mid_channels": 1024, "num_blocks_per_stage": 4, "dims": 3, "spatial_upsample": true,
 "temporal_upsample": false, "spatial_scale": 2.0, "rational_resampler": false})";

// Sets section.key of the config (in place when the key exists, so the published order stays).
void set(json::Json& obj, const std::string& section, const std::string& key, json::Json v) {
  obj.at(section)[key] = std::move(v);
}

json::Json blocks(std::initializer_list<std::pair<const char*, int64_t>> list) {
  json::Json a = json::Json::array();
  for (const auto& [kind, n] : list) {
    const bool res = std::string(kind) == "res_x";
    a.push_back(json::Json::array({kind, json::Json{{res ? "num_layers" : "multiplier", n}}}));
  }
  return a;
}

io::GemmaConfig gemma_12b() {
  io::GemmaConfig g;
  g.model_type = "gemma3";
  g.vocab_size = 262208;
  g.hidden_size = 3840;
  g.intermediate_size = 15360;
  g.num_hidden_layers = 48;
  g.num_attention_heads = 16;
  g.num_key_value_heads = 8;
  g.head_dim = 256;
  g.query_pre_attn_scalar = 256;
  g.sliding_window = 1024;
  g.torch_dtype = "bfloat16";
  g.rope_global = {1e6, 8.0};
  g.rope_local = {1e4, 1.0};
  for (int64_t i = 0; i < g.num_hidden_layers; ++i) g.layer_is_sliding.push_back((i + 1) % 6 != 0);
  return g;
}

json::Json siglip(int64_t hidden, int64_t intermediate, int64_t layers, int64_t heads, int64_t image, int64_t patch) {
  return json::Json{{"model_type", "siglip_vision_model"}, {"hidden_size", hidden},
                      {"intermediate_size", intermediate}, {"num_hidden_layers", layers},
                      {"num_attention_heads", heads}, {"image_size", image}, {"patch_size", patch},
                      {"num_channels", 3}, {"hidden_act", "gelu_pytorch_tanh"}, {"layer_norm_eps", 1e-6},
                      {"attention_dropout", 0.0}, {"vision_use_head", false}};
}

PublishedPreset real() {
  PublishedPreset p;
  p.name = "ltx23-22b";
  p.config = ltx23_checkpoint_config();
  p.gemma = gemma_12b();
  p.vision_config = siglip(1152, 4304, 27, 16, 896, 14);
  p.mm_tokens_per_image = 256;
  p.gemma_shards = 5;
  p.upsampler_config = ltx23_upsampler_config();
  p.lora_rank = 384;
  p.write_distilled = false;
  p.distinct_blocks = 2;
  return p;
}

// Every 2.3 feature on (gated attention, cross-attention AdaLN, prompt AdaLN, float64 split RoPE,
// A/V cross attention with the 1000 multiplier, 8x/32x VAE geometry, BWE vocoder), toy widths.
// 29 layers, so the reference's STG block 28 exists; a layer of width 32 costs microseconds.
PublishedPreset tiny() {
  PublishedPreset p;
  p.name = "tiny";
  p.config = ltx23_checkpoint_config();
  json::Json& c = p.config;
  for (const auto& [k, v] : std::initializer_list<std::pair<const char*, int64_t>>{
           {"num_layers", 29}, {"num_attention_heads", 2}, {"attention_head_dim", 16}, {"in_channels", 8},
           {"out_channels", 8}, {"cross_attention_dim", 32}, {"audio_num_attention_heads", 2},
           {"audio_attention_head_dim", 8}, {"audio_in_channels", 16}, {"audio_out_channels", 16},
           {"audio_cross_attention_dim", 16}, {"connector_num_attention_heads", 2},
           {"connector_attention_head_dim", 16}, {"connector_num_layers", 2},
           {"audio_connector_num_attention_heads", 2}, {"audio_connector_attention_head_dim", 8},
           {"caption_channels", 64}})
    set(c, "transformer", k, v);
  set(c, "vae", "latent_channels", 8);
  set(c, "vae", "encoder_base_channels", 8);
  set(c, "vae", "decoder_base_channels", 8);
  set(c, "vae", "encoder_blocks",
      blocks({{"res_x", 1}, {"compress_space_res", 2}, {"res_x", 1}, {"compress_time_res", 2}, {"res_x", 1},
              {"compress_all_res", 2}, {"res_x", 1}, {"compress_all_res", 1}, {"res_x", 1}}));
  set(c, "vae", "decoder_blocks",
      blocks({{"res_x", 1}, {"compress_space", 2}, {"res_x", 1}, {"compress_time", 2}, {"res_x", 1},
              {"compress_all", 1}, {"res_x", 1}, {"compress_all", 2}, {"res_x", 1}}));
  // Audio: z 1 x 16 latent mel bins = 16 = ch (ltx-core sizes the statistics by ch); 64 output
  // mel bins (the vocoder reads 2 x 64).
  json::Json& dd = c.at("audio_vae").at("model").at("params").at("ddconfig");
  dd["ch"] = 16;
  dd["z_channels"] = 1;
  dd["num_res_blocks"] = 1;
  json::Json& voc = c.at("vocoder").at("vocoder");
  voc["upsample_initial_channel"] = 64;
  voc["upsample_rates"] = {5, 4, 8};
  voc["upsample_kernel_sizes"] = {11, 8, 16};
  json::Json& bwe = c.at("vocoder").at("bwe");
  bwe["upsample_initial_channel"] = 32;
  bwe["upsample_rates"] = {6, 5, 8};
  bwe["upsample_kernel_sizes"] = {12, 11, 16};

  io::GemmaConfig& g = p.gemma;
  g.model_type = "gemma3";
  g.vocab_size = 512;  // the supervisor's tiny tokenizer
  g.hidden_size = 64;
  g.intermediate_size = 128;
  g.num_hidden_layers = 6;
  g.num_attention_heads = 4;
  g.num_key_value_heads = 2;
  g.head_dim = 16;
  g.query_pre_attn_scalar = 16;
  g.sliding_window = 16;
  g.torch_dtype = "bfloat16";
  g.rope_global = {1e6, 8.0};
  g.rope_local = {1e4, 1.0};
  g.layer_is_sliding.clear();
  for (int64_t i = 0; i < g.num_hidden_layers; ++i) g.layer_is_sliding.push_back((i + 1) % 6 != 0);
  p.vision_config = siglip(16, 32, 1, 2, 28, 14);
  p.mm_tokens_per_image = 4;
  p.gemma_shards = 2;
  p.upsampler_config = ltx23_upsampler_config();
  p.upsampler_config["in_channels"] = 8;
  p.upsampler_config["mid_channels"] = 32;
  p.upsampler_config["num_blocks_per_stage"] = 1;
  p.lora_rank = 4;
  p.write_distilled = true;
  return p;
}

}  // namespace

json::Json ltx23_checkpoint_config() { return json::parse(kLtx23Config, "published LTX-2.3 config"); }
json::Json ltx23_upsampler_config() { return json::parse(kLtx23UpsamplerConfig, "published upsampler config"); }

PublishedPreset published_preset(const std::string& name) {
  if (name == "tiny") return tiny();
  if (name == "ltx23-22b") return real();
  throw std::invalid_argument("unknown published preset '" + name + "' (known: tiny, ltx23-22b)");
}

}  // namespace ff::ltx2
