"""Inventory of the published LTX-2.3 files, built with ltx-core's own classes (no weights).

Builds every component of ltx-2.3-22b-dev.safetensors with ltx-core's configurators at real size
on the meta device, from the 2.3 config written below (the published file's "config" metadata:
sections transformer, vae, audio_vae, vocoder, scheduler), maps each module's state-dict names
to the stored names, and writes tests/ltx2/fixtures/ltx23_inventory.json:
  {"model_version": "2.3.0",
   "config": {...the metadata config used...},
   "checkpoint": {"file": "ltx-2.3-22b-dev.safetensors",
                  "components": {"transformer": [[name, [shape], dtype], ...],
                                 "embeddings_processor": [...], "video_encoder": [...],
                                 "video_decoder": [...], "audio_encoder": [...],
                                 "audio_decoder": [...], "vocoder": [...]}},
   "spatial_upsampler": {"file": ..., "config": {...}, "tensors": [...]},
   "distilled_lora": {"known": false, "note": "..."}}
Stored names: the transformer is "model.diffusion_model." + LTXModel names; the connectors
"model.diffusion_model.{video,audio}_embeddings_connector." + Embeddings1DConnector names; the
text projection "text_embedding_projection." + FeatureExtractorV2 names; the video VAE
"vae.encoder." / "vae.decoder." + module names, their PerChannelStatistics stored once as
"vae.per_channel_statistics.*" (listed with the decoder); likewise "audio_vae.*"; the vocoder
"vocoder." + VocoderWithBWE names. Every stored name is mapped back through ltx-core's own key
ops where they exist and must land on the module's name (printed as checks).
dtype: "F32" for names containing "scale_shift_table", else "BF16" (LTX23.md's inferred rule).
The upsampler file's set comes from LatentUpsamplerConfigurator with the config below
(rational_resampler false: the key variant is not settled, see LTX23.md section 4). The
distilled LoRA's module coverage is not derivable from the code (the file is not public
metadata we have), so it is reported as unknown.

Usage: python3 tests/ltx2/reference/inventory_reference.py --out tests/ltx2/fixtures [--ltx-core PATH]
Needs torch and ltx-core only; optional packages ltx-core imports at module level (torchaudio,
transformers, ...) are stubbed when missing.
"""
import argparse
import importlib.abc
import importlib.machinery
import json
import os
import sys
import types

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))

MODEL_VERSION = "2.3.0"

TRANSFORMER = {
    "_class_name": "AVTransformer3DModel",
    "activation_fn": "gelu-approximate",
    "attention_bias": True,
    "attention_head_dim": 128,
    "attention_type": "default",
    "caption_channels": 3840,
    "cross_attention_dim": 4096,
    "double_self_attention": False,
    "dropout": 0.0,
    "in_channels": 128,
    "norm_elementwise_affine": False,
    "norm_eps": 1e-06,
    "norm_num_groups": 32,
    "num_attention_heads": 32,
    "num_embeds_ada_norm": 1000,
    "num_layers": 48,
    "num_vector_embeds": None,
    "only_cross_attention": False,
    "cross_attention_norm": True,
    "out_channels": 128,
    "upcast_attention": False,
    "use_linear_projection": False,
    "qk_norm": "rms_norm",
    "standardization_norm": "rms_norm",
    "positional_embedding_type": "rope",
    "positional_embedding_theta": 10000.0,
    "positional_embedding_max_pos": [20, 2048, 2048],
    "timestep_scale_multiplier": 1000,
    "av_ca_timestep_scale_multiplier": 1000.0,
    "causal_temporal_positioning": True,
    "audio_num_attention_heads": 32,
    "audio_attention_head_dim": 64,
    "use_audio_video_cross_attention": True,
    "share_ff": False,
    "audio_out_channels": 128,
    "audio_cross_attention_dim": 2048,
    "audio_positional_embedding_max_pos": [20],
    "av_cross_ada_norm": True,
    "use_embeddings_connector": True,
    "connector_attention_head_dim": 128,
    "connector_num_attention_heads": 32,
    "connector_num_layers": 8,
    "connector_positional_embedding_max_pos": [4096],
    "connector_num_learnable_registers": 128,
    "connector_norm_output": True,
    "use_middle_indices_grid": True,
    "apply_gated_attention": True,
    "connector_apply_gated_attention": True,
    "caption_projection_first_linear": False,
    "caption_projection_second_linear": False,
    "caption_proj_input_norm": False,
    "connector_learnable_registers_std": 1,
    "caption_proj_before_connector": True,
    "audio_connector_attention_head_dim": 64,
    "audio_connector_num_attention_heads": 32,
    "cross_attention_adaln": True,
    "text_encoder_norm_type": "per_token_rms",
    "rope_type": "split",
    "frequencies_precision": "float64",
}

VAE = {
    "_class_name": "CausalVideoAutoencoder",
    "dims": 3,
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 128,
    "encoder_blocks": [
        ["res_x", {"num_layers": 4}],
        ["compress_space_res", {"multiplier": 2}],
        ["res_x", {"num_layers": 6}],
        ["compress_time_res", {"multiplier": 2}],
        ["res_x", {"num_layers": 4}],
        ["compress_all_res", {"multiplier": 2}],
        ["res_x", {"num_layers": 2}],
        ["compress_all_res", {"multiplier": 1}],
        ["res_x", {"num_layers": 2}],
    ],
    "decoder_blocks": [
        ["res_x", {"num_layers": 4}],
        ["compress_space", {"multiplier": 2}],
        ["res_x", {"num_layers": 6}],
        ["compress_time", {"multiplier": 2}],
        ["res_x", {"num_layers": 4}],
        ["compress_all", {"multiplier": 1}],
        ["res_x", {"num_layers": 2}],
        ["compress_all", {"multiplier": 2}],
        ["res_x", {"num_layers": 2}],
    ],
    "scaling_factor": 1.0,
    "norm_layer": "pixel_norm",
    "patch_size": 4,
    "latent_log_var": "uniform",
    "use_quant_conv": False,
    "causal_decoder": False,
    "timestep_conditioning": False,
    "normalize_latent_channels": False,
    "encoder_base_channels": 128,
    "decoder_base_channels": 128,
    "spatial_padding_mode": "zeros",
}

AUDIO_VAE = {
    "model": {
        "params": {
            "ddconfig": {
                "double_z": True,
                "mel_bins": 64,
                "z_channels": 8,
                "resolution": 256,
                "downsample_time": False,
                "in_channels": 2,
                "out_ch": 2,
                "ch": 128,
                "ch_mult": [1, 2, 4],
                "num_res_blocks": 2,
                "attn_resolutions": [],
                "dropout": 0.0,
                "mid_block_add_attention": False,
                "norm_type": "pixel",
                "causality_axis": "height",
            },
            "sampling_rate": 16000,
        }
    },
    "preprocessing": {
        "stft": {"filter_length": 1024, "hop_length": 160, "win_length": 1024, "causal": True},
        "mel": {"n_mel_channels": 64, "mel_fmin": 0, "mel_fmax": 8000},
    },
}

VOCODER = {
    "vocoder": {
        "upsample_initial_channel": 1536,
        "resblock": "AMP1",
        "upsample_rates": [5, 2, 2, 2, 2, 2],
        "resblock_kernel_sizes": [3, 7, 11],
        "upsample_kernel_sizes": [11, 4, 4, 4, 4, 4],
        "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
        "stereo": True,
        "use_tanh_at_final": False,
        "activation": "snakebeta",
        "use_bias_at_final": False,
    },
    "bwe": {
        "upsample_initial_channel": 512,
        "resblock": "AMP1",
        "upsample_rates": [6, 5, 2, 2, 2],
        "resblock_kernel_sizes": [3, 7, 11],
        "upsample_kernel_sizes": [12, 11, 4, 4, 4],
        "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
        "stereo": True,
        "use_tanh_at_final": False,
        "activation": "snakebeta",
        "use_bias_at_final": False,
        "apply_final_activation": False,
        "input_sampling_rate": 16000,
        "output_sampling_rate": 48000,
        "hop_length": 80,
        "n_fft": 512,
        "win_size": 512,
        "num_mels": 64,
    },
}

# Not read by ltx-core (its scheduler is code); content not known from a real header.
SCHEDULER = {"_class_name": "RectifiedFlowScheduler", "num_train_timesteps": 1000, "shifting": "SD3",
             "base_resolution": None, "target_shift_terminal": 0.1}

CONFIG = {"transformer": TRANSFORMER, "vae": VAE, "audio_vae": AUDIO_VAE, "vocoder": VOCODER,
          "scheduler": SCHEDULER}

UPSAMPLER_CONFIG = {"_class_name": "LatentUpsampler", "in_channels": 128, "mid_channels": 1024,
                    "num_blocks_per_stage": 4, "dims": 3, "spatial_upsample": True,
                    "temporal_upsample": False, "spatial_scale": 2.0, "rational_resampler": False}

GEMMA_HIDDEN, GEMMA_LAYERS = 3840, 48  # gemma-3-12b text_config: hidden_size, num_hidden_layers

# Expected counts (LTX23.md section 1, from an earlier run and a third-party header inventory).
EXPECTED = {"total_tensors": 5947, "total_elements": 23069505387, "transformer": 4186,
            "embeddings_processor": 4 + 258, "video_encoder": 84, "video_decoder": 84 + 2,
            "audio_encoder": 44, "audio_decoder": 56 + 2, "vocoder": 1227}

OPTIONAL_ROOTS = ("torchaudio", "transformers", "tokenizers", "triton", "natten", "av", "accelerate",
                  "ltx_kernels", "scipy", "tqdm", "typing_extensions")


def check(name, value):
    print(json.dumps({"check": name, "value": value}), flush=True)


# ---------------------------------------------------------------- import plumbing

class _StubAttr(type):
    """Metaclass so stub classes answer any attribute / subscript (only used when a package is missing)."""

    def __getattr__(cls, item):
        if item.startswith("__"):
            raise AttributeError(item)
        return _stub_class(item)

    def __getitem__(cls, item):
        return cls


def _stub_class(name):
    return _StubAttr(name, (), {"__init__": lambda self, *a, **k: None,
                                "__call__": lambda self, *a, **k: None})


class _StubModule(types.ModuleType):
    def __getattr__(self, item):
        if item.startswith("__"):
            raise AttributeError(item)
        return _stub_class(item)


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Last on sys.meta_path: provides empty modules for optional packages that are not installed."""

    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] in OPTIONAL_ROOTS:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        m = _StubModule(spec.name)
        m.__path__ = []
        return m

    def exec_module(self, module):
        pass


def bare_package(name, path):
    """Registers package `name` without running its __init__ (its submodules still import)."""
    if name in sys.modules:
        return
    m = types.ModuleType(name)
    m.__path__ = [path]
    sys.modules[name] = m


def setup_imports(ltx_core_src):
    sys.path.insert(0, ltx_core_src)
    sys.meta_path.append(_StubFinder())
    # The Gemma package's __init__ imports transformers-heavy encoders we do not need.
    bare_package("ltx_core.text_encoders.gemma", os.path.join(ltx_core_src, "ltx_core", "text_encoders", "gemma"))


# ---------------------------------------------------------------- inventory helpers

def dtype_of(name):
    return "F32" if "scale_shift_table" in name else "BF16"


def entries(module, prefix):
    out = []
    for k, v in module.state_dict().items():
        out.append([prefix + k, [int(d) for d in v.shape], dtype_of(prefix + k)])
    return out


def build(fn, what, cpu_fallback=True):
    """Builds on the meta device; falls back to the CPU for small components (< 1 B params)."""
    try:
        with torch.device("meta"):
            return fn()
    except Exception as e:  # noqa: BLE001
        check(what + ".meta_build_failed", repr(e)[:300])
        if not cpu_fallback:
            raise
        return fn()


def split_stats(items, stats_prefix):
    stats = [e for e in items if e[0].startswith(stats_prefix)]
    rest = [e for e in items if not e[0].startswith(stats_prefix)]
    return rest, stats


def key_roundtrip(sd_ops, stored_names, module_names, what):
    """Maps stored names through ltx-core's key ops and compares with the module's names."""
    try:
        mapped = set()
        for n in stored_names:
            k = sd_ops.apply_to_key(n)
            if k is not None:
                for kv in sd_ops.apply_to_key_value(k, torch.empty(0)):
                    mapped.add(kv.new_key)
        missing = sorted(set(module_names) - mapped)
        check(what + ".key_ops_roundtrip", {"ok": not missing, "unmapped_module_keys": missing[:5]})
    except Exception as e:  # noqa: BLE001
        check(what + ".key_ops_roundtrip", {"error": repr(e)[:300]})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--ltx-core", default=os.path.join(REPO, ".refs", "ltx-core", "src"))
    args = ap.parse_args()
    setup_imports(os.path.abspath(args.ltx_core))
    torch.manual_seed(0)

    from ltx_core.model.transformer.model_configurator import LTXModelConfigurator, LTXV_MODEL_COMFY_RENAMING_MAP
    from ltx_core.text_encoders.gemma.embeddings_connector import (
        AudioEmbeddings1DConnectorConfigurator, Embeddings1DConnectorConfigurator)
    from ltx_core.text_encoders.gemma.feature_extractor import FeatureExtractorV2
    from ltx_core.model.video_vae.model_configurator import (
        VAE_DECODER_COMFY_KEYS_FILTER, VAE_ENCODER_COMFY_KEYS_FILTER, VideoDecoderConfigurator,
        VideoEncoderConfigurator)
    from ltx_core.model.audio_vae.model_configurator import (
        AUDIO_VAE_DECODER_COMFY_KEYS_FILTER, AUDIO_VAE_ENCODER_COMFY_KEYS_FILTER, VOCODER_COMFY_KEYS_FILTER,
        AudioDecoderConfigurator, AudioEncoderConfigurator, VocoderConfigurator)
    from ltx_core.model.upsampler.model_configurator import LatentUpsamplerConfigurator

    md = {"config": CONFIG, "model_version": MODEL_VERSION}
    comps = {}

    transformer = build(lambda: LTXModelConfigurator.from_metadata(md), "transformer", cpu_fallback=False)
    comps["transformer"] = entries(transformer, "model.diffusion_model.")
    key_roundtrip(LTXV_MODEL_COMFY_RENAMING_MAP, [e[0] for e in comps["transformer"]],
                  transformer.state_dict().keys(), "transformer")
    del transformer

    flat = GEMMA_HIDDEN * (GEMMA_LAYERS + 1)
    video_dim = TRANSFORMER["num_attention_heads"] * TRANSFORMER["attention_head_dim"]
    audio_dim = TRANSFORMER["audio_num_attention_heads"] * TRANSFORMER["audio_attention_head_dim"]
    fe = build(lambda: FeatureExtractorV2(video_aggregate_embed=torch.nn.Linear(flat, video_dim, bias=True),
                                          embedding_dim=GEMMA_HIDDEN,
                                          audio_aggregate_embed=torch.nn.Linear(flat, audio_dim, bias=True)),
               "feature_extractor")
    vcon = build(lambda: Embeddings1DConnectorConfigurator.from_metadata(md), "video_connector")
    acon = build(lambda: AudioEmbeddings1DConnectorConfigurator.from_metadata(md), "audio_connector")
    comps["embeddings_processor"] = (entries(fe, "text_embedding_projection.")
                                     + entries(vcon, "model.diffusion_model.video_embeddings_connector.")
                                     + entries(acon, "model.diffusion_model.audio_embeddings_connector."))
    del fe, vcon, acon

    venc = build(lambda: VideoEncoderConfigurator.from_metadata(md), "video_encoder")
    vdec = build(lambda: VideoDecoderConfigurator.from_metadata(md), "video_decoder")
    enc_items = [[("vae.per_channel_statistics." + k[len("per_channel_statistics."):])
                  if k.startswith("per_channel_statistics.") else "vae.encoder." + k, s, d]
                 for k, s, d in entries(venc, "")]
    dec_items = [[("vae.per_channel_statistics." + k[len("per_channel_statistics."):])
                  if k.startswith("per_channel_statistics.") else "vae.decoder." + k, s, d]
                 for k, s, d in entries(vdec, "")]
    key_roundtrip(VAE_ENCODER_COMFY_KEYS_FILTER, [e[0] for e in enc_items], venc.state_dict().keys(), "video_encoder")
    key_roundtrip(VAE_DECODER_COMFY_KEYS_FILTER, [e[0] for e in dec_items], vdec.state_dict().keys(), "video_decoder")
    enc_rest, enc_stats = split_stats(enc_items, "vae.per_channel_statistics.")
    dec_rest, dec_stats = split_stats(dec_items, "vae.per_channel_statistics.")
    check("video_vae.stats_shared", sorted(map(str, enc_stats)) == sorted(map(str, dec_stats)))
    comps["video_encoder"] = enc_rest
    comps["video_decoder"] = dec_rest + dec_stats
    del venc, vdec

    aenc = build(lambda: AudioEncoderConfigurator.from_metadata(md), "audio_encoder")
    adec = build(lambda: AudioDecoderConfigurator.from_metadata(md), "audio_decoder")
    aenc_items = [[("audio_vae.per_channel_statistics." + k[len("per_channel_statistics."):])
                   if k.startswith("per_channel_statistics.") else "audio_vae.encoder." + k, s, d]
                  for k, s, d in entries(aenc, "")]
    adec_items = [[("audio_vae.per_channel_statistics." + k[len("per_channel_statistics."):])
                   if k.startswith("per_channel_statistics.") else "audio_vae.decoder." + k, s, d]
                  for k, s, d in entries(adec, "")]
    key_roundtrip(AUDIO_VAE_ENCODER_COMFY_KEYS_FILTER, [e[0] for e in aenc_items], aenc.state_dict().keys(),
                  "audio_encoder")
    key_roundtrip(AUDIO_VAE_DECODER_COMFY_KEYS_FILTER, [e[0] for e in adec_items], adec.state_dict().keys(),
                  "audio_decoder")
    aenc_rest, aenc_stats = split_stats(aenc_items, "audio_vae.per_channel_statistics.")
    adec_rest, adec_stats = split_stats(adec_items, "audio_vae.per_channel_statistics.")
    check("audio_vae.stats_shared", sorted(map(str, aenc_stats)) == sorted(map(str, adec_stats)))
    comps["audio_encoder"] = aenc_rest
    comps["audio_decoder"] = adec_rest + adec_stats
    del aenc, adec

    voc = build(lambda: VocoderConfigurator.from_metadata(md), "vocoder")
    comps["vocoder"] = entries(voc, "vocoder.")
    key_roundtrip(VOCODER_COMFY_KEYS_FILTER, [e[0] for e in comps["vocoder"]], voc.state_dict().keys(), "vocoder")
    del voc

    ups = build(lambda: LatentUpsamplerConfigurator.from_metadata({"config": UPSAMPLER_CONFIG}), "upsampler")
    ups_items = entries(ups, "")
    del ups

    # Checks against the numbers in LTX23.md.
    all_names = [e[0] for c in comps.values() for e in c]
    check("unique_names", len(all_names) == len(set(all_names)))
    elements = 0
    for c in comps.values():
        for _, shape, _ in c:
            n = 1
            for d in shape:
                n *= d
            elements += n
    check("total_tensors", {"got": len(all_names), "expected": EXPECTED["total_tensors"]})
    check("total_elements", {"got": elements, "expected": EXPECTED["total_elements"]})
    for k, c in comps.items():
        check("count." + k, {"got": len(c), "expected": EXPECTED.get(k)})
    f32 = sum(1 for c in comps.values() for e in c if e[2] == "F32")
    check("f32_tensors", {"got": f32, "expected": 290})
    data_bytes = 0
    for c in comps.values():
        for _, shape, dt in c:
            n = 4 if dt == "F32" else 2
            for d in shape:
                n *= d
            data_bytes += n
    check("data_bytes", {"got": data_bytes, "expected_per_ltx23_md": 46148472534})
    ups_elems = 0
    for _, shape, _ in ups_items:
        n = 1
        for d in shape:
            n *= d
        ups_elems += n
    check("upsampler", {"tensors": len(ups_items), "elements": ups_elems, "bf16_bytes": 2 * ups_elems,
                        "file_bytes_published": 995743560})

    for c in comps.values():
        c.sort(key=lambda e: e[0])
    ups_items.sort(key=lambda e: e[0])
    out = {
        "model_version": MODEL_VERSION,
        "config": CONFIG,
        "checkpoint": {"file": "ltx-2.3-22b-dev.safetensors", "components": comps},
        "spatial_upsampler": {"file": "ltx-2.3-spatial-upscaler-x2-1.1.safetensors", "config": UPSAMPLER_CONFIG,
                              "tensors": ups_items},
        "distilled_lora": {"known": False,
                           "note": "module coverage of ltx-2.3-22b-distilled-lora-384-1.1 is not derivable from "
                                   "ltx-core; keys are diffusion_model.<path>.lora_{A,B}.weight for Linear weights"},
    }
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "ltx23_inventory.json")
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    check("wrote", {"path": path, "bytes": os.path.getsize(path)})


if __name__ == "__main__":
    main()
