"""Inventory of the published LTX-2.3 files, built with ltx-core's own classes (no weights).

Builds every component of ltx-2.3-22b-dev.safetensors with ltx-core's configurators at real size
on the meta device, from the 2.3 config written below (the published file's "config" metadata:
sections transformer, vae, audio_vae, vocoder, scheduler), maps each module's state-dict names
to the stored names, and writes tests/worker/engine/ltx2/fixtures/ltx23_inventory.json:
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

Usage: python3 tests/worker/engine/ltx2/reference/inventory_reference.py --out tests/worker/engine/ltx2/fixtures [--ltx-core PATH]
Needs torch and ltx-core only; optional packages ltx-core imports at module level (torchaudio,
transformers, ...) are stubbed when missing.
"""
import importlib.abc
import importlib.machinery
import json
import math
import os
import sys
import types

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "reference"))
from common import bare_packages, reference_args, summary  # noqa: E402
from ltx23_config import (AUDIO_VAE, CONFIG, GEMMA_HIDDEN, GEMMA_LAYERS, MODEL_VERSION,  # noqa: E402,F401
                          SCHEDULER, TRANSFORMER, UPSAMPLER_CONFIG, VAE, VOCODER)  # (re-exported for bench/gpu)

# Expected counts (LTX23.md section 1, from an earlier run and a third-party header inventory).
EXPECTED = {"total_tensors": 5947, "total_elements": 23069505387, "transformer": 4186,
            "embeddings_processor": 4 + 258, "video_encoder": 84, "video_decoder": 84 + 2,
            "audio_encoder": 44, "audio_decoder": 56 + 2, "vocoder": 1227}

OPTIONAL_ROOTS = ("torchaudio", "transformers", "tokenizers", "triton", "natten", "av", "accelerate",
                  "ltx_kernels", "scipy", "tqdm", "typing_extensions")


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


def setup_imports(ltx_core_src):
    sys.path.insert(0, ltx_core_src)
    sys.meta_path.append(_StubFinder())
    # The Gemma package's __init__ imports transformers-heavy encoders we do not need.
    bare_packages(ltx_core_src, ("ltx_core.text_encoders.gemma",), keep_existing=True)


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
        summary(what + ".meta_build_failed", repr(e)[:300])
        if not cpu_fallback:
            raise
        return fn()


def split_stats(items, stats_prefix):
    stats = [e for e in items if e[0].startswith(stats_prefix)]
    rest = [e for e in items if not e[0].startswith(stats_prefix)]
    return rest, stats


def vae_components(encoder, decoder, root, encoder_ops, decoder_ops, what):
    """(encoder entries, decoder entries) of a VAE stored under `root` ("vae." / "audio_vae."): each
    half's names under root + "encoder." / "decoder.", except its PerChannelStatistics, stored once
    as root + "per_channel_statistics.*" and listed with the decoder (after its other entries). Prints
    the key-op round trip of each half (<what>_encoder / <what>_decoder) and whether both halves hold
    the same statistics (<what>_vae.stats_shared)."""
    stats = "per_channel_statistics."

    def stored(module, part):
        return [[root + stats + k[len(stats):] if k.startswith(stats) else root + part + k, s, d]
                for k, s, d in entries(module, "")]

    enc_items, dec_items = stored(encoder, "encoder."), stored(decoder, "decoder.")
    key_roundtrip(encoder_ops, [e[0] for e in enc_items], encoder.state_dict().keys(), what + "_encoder")
    key_roundtrip(decoder_ops, [e[0] for e in dec_items], decoder.state_dict().keys(), what + "_decoder")
    enc_rest, enc_stats = split_stats(enc_items, root + stats)
    dec_rest, dec_stats = split_stats(dec_items, root + stats)
    summary(what + "_vae.stats_shared", sorted(map(str, enc_stats)) == sorted(map(str, dec_stats)))
    return enc_rest, dec_rest + dec_stats


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
        summary(what + ".key_ops_roundtrip", {"ok": not missing, "unmapped_module_keys": missing[:5]})
    except Exception as e:  # noqa: BLE001
        summary(what + ".key_ops_roundtrip", {"error": repr(e)[:300]})


def main():
    args = reference_args(ltx_core=True)
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
    comps["video_encoder"], comps["video_decoder"] = vae_components(
        venc, vdec, "vae.", VAE_ENCODER_COMFY_KEYS_FILTER, VAE_DECODER_COMFY_KEYS_FILTER, "video")
    del venc, vdec

    aenc = build(lambda: AudioEncoderConfigurator.from_metadata(md), "audio_encoder")
    adec = build(lambda: AudioDecoderConfigurator.from_metadata(md), "audio_decoder")
    comps["audio_encoder"], comps["audio_decoder"] = vae_components(
        aenc, adec, "audio_vae.", AUDIO_VAE_ENCODER_COMFY_KEYS_FILTER, AUDIO_VAE_DECODER_COMFY_KEYS_FILTER, "audio")
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
    summary("unique_names", len(all_names) == len(set(all_names)))
    elements = sum(math.prod(shape) for c in comps.values() for _, shape, _ in c)
    summary("total_tensors", {"got": len(all_names), "expected": EXPECTED["total_tensors"]})
    summary("total_elements", {"got": elements, "expected": EXPECTED["total_elements"]})
    for k, c in comps.items():
        summary("count." + k, {"got": len(c), "expected": EXPECTED.get(k)})
    f32 = sum(1 for c in comps.values() for e in c if e[2] == "F32")
    summary("f32_tensors", {"got": f32, "expected": 290})
    data_bytes = sum((4 if dt == "F32" else 2) * math.prod(shape) for c in comps.values() for _, shape, dt in c)
    summary("data_bytes", {"got": data_bytes, "expected_per_ltx23_md": 46148472534})
    ups_elems = sum(math.prod(shape) for _, shape, _ in ups_items)
    summary("upsampler", {"tensors": len(ups_items), "elements": ups_elems, "bf16_bytes": 2 * ups_elems,
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
    summary("wrote", {"path": path, "bytes": os.path.getsize(path)})


if __name__ == "__main__":
    main()
