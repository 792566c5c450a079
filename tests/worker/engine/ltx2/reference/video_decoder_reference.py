"""Parity reference for the C++ LTX-2.3 video VAE decoder (worker/engine/ltx2/video_decoder*, video_tiling*).

Builds ltx-core's own ConvVideoDecoder through VideoDecoderConfigurator from a tiny "vae" config
that uses every decoder block kind LTX-2.3 uses (res_x with dict and int parameters,
compress_space x2 channels, compress_time x1, compress_all x2), zeros spatial padding, no timestep
conditioning, non-causal. Random bf16-exact weights are written under the published checkpoint
names (vae.decoder.*, vae.per_channel_statistics.*) and loaded through ltx-core's own key filter
(VAE_DECODER_COMFY_KEYS_FILTER), strict. Then decode_video() runs untiled and tiled (two size
layouts through ltx-core's TileSizeConfig: A has complementary masks, B does not), in float32 and
bfloat16, on the CPU.

Fixture video_decoder.safetensors (into --out):
  weights    vae.decoder.* and vae.per_channel_statistics.{mean-of-means,std-of-means} (BF16)
  input      latent [1, 8, 4, 4, 6] (BF16, normalized latent as the pipeline hands it over)
  expected   raw_f32 [1, 3, 13, 32, 48]  decoder forward (before the [0, 1] mapping), F32
             frames_{f32,bf16}_{untiled,tiled_a,tiled_b} [13, 32, 48, 3]  decode_video output
             (F32 / BF16, the run's dtype)
             u8_from_f32, u8_from_bf16 [13, 32, 48, 3] U8: ltx-core's RGB24 frame converter applied
             to frames_f32_untiled / frames_bf16_untiled
  metadata   config ({"vae": {...}} as the published file carries it), tilings (the two layouts in
             pixel/frame units), auto_tiling_cases (pipeline default layout per output size),
             split_cases (latent intervals of the default layout at real sizes)
Usage: python3 tests/worker/engine/ltx2/reference/video_decoder_reference.py --out tests/worker/engine/ltx2/fixtures
"""
import importlib.util
import json
import os
import sys
import traceback
import types

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "reference"))
from common import (bare_packages, bf16_exact, ltx_core_on_path, reference_args, rel_err, seeded,  # noqa: E402
                    summary_line, write_fixture)
from ltx23_config import VAE as PUBLISHED_VAE, derived  # noqa: E402

SEED = 2303
LATENT_CHANNELS, BASE = 8, 4
LATENT_SHAPE = (1, LATENT_CHANNELS, 4, 4, 6)
DECODER_BLOCKS = [
    ["res_x", {"num_layers": 1}],
    ["compress_space", {"multiplier": 2}],
    ["res_x", {"num_layers": 2}],
    ["compress_time", {"multiplier": 1}],
    ["res_x", 1],
    ["compress_all", {"multiplier": 2}],
    ["res_x", {"num_layers": 1}],
]
# The published 2.3 "vae" section (every key, same order), shrunk; its encoder-only keys stay on
# purpose (the C++ decoder must accept and ignore them).
VAE = derived(PUBLISHED_VAE, {
    "latent_channels": LATENT_CHANNELS,
    "encoder_blocks": [
        ["res_x", {"num_layers": 1}],
        ["compress_space_res", {"multiplier": 2}],
        ["res_x", {"num_layers": 1}],
        ["compress_time_res", {"multiplier": 1}],
        ["res_x", {"num_layers": 1}],
        ["compress_all_res", {"multiplier": 2}],
        ["res_x", {"num_layers": 1}],
    ],
    "decoder_blocks": DECODER_BLOCKS,
    "patch_size": 2,
    "encoder_base_channels": BASE,
    "decoder_base_channels": BASE,
})
# Tile layouts in pixel / frame units (the decoder's factors here: time 4, space 8).
TILINGS = {
    # latent tiles: frames 3/1, height 3/1, width 3/1 -> masks sum to one (no weight buffer)
    "tiled_a": {"frames": [12, 4], "height": [24, 8], "width": [24, 8]},
    # frames 2/1, height 2/1, width 3/2 -> width ramps overlap inside a tile: weighted blend,
    # and the second temporal tile starts at frame 0 (an empty first chunk)
    "tiled_b": {"frames": [8, 4], "height": [16, 8], "width": [24, 16]},
}
AUTO_CASES = [(1024, 1536), (512, 768), (704, 1280), (480, 832), (1536, 1024), (160, 1280), (96, 96),
              (768, 768), (800, 1216)]
SPLIT_CASES = [(121, 1024, 1536), (121, 512, 768), (241, 704, 1280), (81, 160, 1280), (9, 96, 96)]


# ---------------------------------------------------------------- ltx-core imports

def import_ltx_core(src):
    ltx_core_on_path(src)
    try:
        import ltx_core.model.video_vae  # noqa: F401  (the package as ltx-core uses it)
    except Exception:  # noqa: BLE001
        print(summary_line("import_note", "package import failed, retrying with stub package modules: "
                           + traceback.format_exc(limit=3).replace("\n", " | ")), flush=True)
        for name in list(sys.modules):
            if name == "ltx_core" or name.startswith("ltx_core."):
                del sys.modules[name]
        bare_packages(src, ("ltx_core", "ltx_core.model", "ltx_core.model.video_vae", "ltx_core.loader"))
        import ltx_core.model.video_vae.video_vae  # noqa: F401  (defines, then imports conv decoder)
    from ltx_core.model.video_vae.model_configurator import (  # noqa: E402
        VAE_DECODER_COMFY_KEYS_FILTER,
        VideoDecoderConfigurator,
    )
    from ltx_core.model.video_vae.conv_video_decoder import ConvVideoDecoder  # noqa: E402
    from ltx_core import tiling  # noqa: E402
    from ltx_core.types import VIDEO_SCALE_FACTORS  # noqa: E402
    # yuv.py needs only torch; loading it alone avoids ltx_core.color's optional PyAV import.
    spec = importlib.util.spec_from_file_location("ltx_core_color_yuv_alone",
                                                  os.path.join(src, "ltx_core", "color", "yuv.py"))
    yuv = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(yuv)
    return types.SimpleNamespace(filter=VAE_DECODER_COMFY_KEYS_FILTER, configurator=VideoDecoderConfigurator,
                                 decoder_cls=ConvVideoDecoder, tiling=tiling,
                                 video_scale=VIDEO_SCALE_FACTORS, yuv=yuv)


# ---------------------------------------------------------------- weights

def published_name(module_name):
    if module_name.startswith("per_channel_statistics."):
        return "vae." + module_name
    return "vae.decoder." + module_name


def make_weights(model, gen):
    """Random bf16-exact tensors for every parameter and buffer of `model`, keyed by published name."""
    out = {}
    for name, t in model.state_dict().items():
        shape = tuple(t.shape)
        if name.endswith("std-of-means"):
            v = torch.rand(shape, generator=gen) + 0.5
        elif name.endswith("mean-of-means"):
            v = torch.randn(shape, generator=gen) * 0.5
        elif name.endswith(".bias"):
            v = torch.randn(shape, generator=gen) * 0.05
        elif name.endswith(".weight"):
            fan_in = shape[1] * shape[2] * shape[3] * shape[4]
            gain = 0.6 if ".conv2." in name else (0.8 if name.startswith("conv_out.") else 1.0)
            v = torch.randn(shape, generator=gen) * (gain / fan_in ** 0.5)
        else:
            raise RuntimeError(f"unexpected decoder tensor {name}")
        out[published_name(name)] = bf16_exact(v)
    return out


def build_decoder(lc, weights, dtype):
    model = lc.configurator.from_metadata({"config": {"vae": VAE}})
    if not isinstance(model, lc.decoder_cls):
        raise RuntimeError(f"configurator built {type(model).__name__}, expected ConvVideoDecoder")
    sd = {}
    for k, v in weights.items():
        nk = lc.filter.apply_to_key(k)
        if nk is None:
            raise RuntimeError(f"ltx-core's key filter drops published name {k}")
        sd[nk] = v
    model.load_state_dict(sd, strict=True)
    return model.to(dtype).eval()


# ---------------------------------------------------------------- runs

def tiling_config(lc, spec):
    d = lc.tiling.DimensionSizeConfig
    return lc.tiling.TileSizeConfig(frames=d(tile_size=spec["frames"][0], overlap=spec["frames"][1]),
                                    height=d(tile_size=spec["height"][0], overlap=spec["height"][1]),
                                    width=d(tile_size=spec["width"][0], overlap=spec["width"][1]))


def decode(model, latent, cfg):
    with torch.no_grad():
        chunks = [c.clone() for c in model.decode_video(latent, cfg, None)]
    return torch.cat(chunks, dim=0), [int(c.shape[0]) for c in chunks]


def tile_summary(lc, model, latent, cfg):
    tiles = model._prepare_tiles(latent, cfg)
    full = (1, 3, (latent.shape[2] - 1) * model.video_downscale_factors.time + 1,
            latent.shape[3] * model.video_downscale_factors.height,
            latent.shape[4] * model.video_downscale_factors.width)
    comp = lc.tiling.masks_are_complementary(tiles, full)
    groups = lc.tiling.group_tiles_by_temporal_slice(tiles)
    return {"tiles": len(tiles), "temporal_groups": len(groups), "complementary": bool(comp)}


def auto_cases(lc):
    out = []
    dsc = lc.tiling.DimensionSizeConfig
    for h, w in AUTO_CASES:
        cfg = lc.tiling.TileSizeConfig.from_long_side(long_side=dsc(tile_size=768, overlap=64), height=h, width=w,
                                                      scale_factors=lc.video_scale,
                                                      frames=dsc(tile_size=80, overlap=24))
        out.append({"height": h, "width": w,
                    "tile": {"frames": [cfg.frames.tile_size, cfg.frames.overlap],
                             "height": [cfg.height.tile_size, cfg.height.overlap],
                             "width": [cfg.width.tile_size, cfg.width.overlap]}})
    return out


def split_cases(lc):
    out = []
    dsc = lc.tiling.DimensionSizeConfig
    s = lc.video_scale
    for f, h, w in SPLIT_CASES:
        cfg = lc.tiling.TileSizeConfig.from_long_side(long_side=dsc(tile_size=768, overlap=64), height=h, width=w,
                                                      scale_factors=s, frames=dsc(tile_size=80, overlap=24))
        ts, hs, ws = cfg.to_splitters(s)
        lat = ((f - 1) // s.time + 1, h // s.height, w // s.width)
        axes = {}
        for name, op, n in (("frames", ts, lat[0]), ("height", hs, lat[1]), ("width", ws, lat[2])):
            axes[name] = [[iv.start, iv.end, iv.left_ramp, iv.right_ramp] for iv in op(n).intervals]
        out.append({"frames": f, "height": h, "width": w, "latent": list(lat), "intervals": axes})
    return out


def main():
    args = reference_args(ltx_core=True, make_out=True)
    gen = seeded(SEED)  # a generator of its own: the imports below cannot move its stream
    torch.set_num_threads(max(1, min(8, torch.get_num_threads())))

    lc = import_ltx_core(args.ltx_core)
    probe = lc.configurator.from_metadata({"config": {"vae": VAE}})
    weights = make_weights(probe, gen)
    latent = bf16_exact(torch.randn(LATENT_SHAPE, generator=gen))
    print(summary_line("decoder_tensors", len(weights)), flush=True)
    print(summary_line("scale_factors", list(probe.video_downscale_factors)), flush=True)

    fixture = {k: v.to(torch.bfloat16).contiguous() for k, v in weights.items()}
    fixture["latent"] = latent.to(torch.bfloat16).contiguous()

    results = {}
    for dtype, tag in ((torch.float32, "f32"), (torch.bfloat16, "bf16")):
        model = build_decoder(lc, weights, dtype)
        x = latent.to(dtype)
        if dtype == torch.float32:
            with torch.no_grad():
                raw = model(x.clone())
            fixture["raw_f32"] = raw.float().contiguous()
            print(summary_line("raw_shape", list(raw.shape)), flush=True)
            print(summary_line("raw_abs_mean", float(raw.abs().mean())), flush=True)
            print(summary_line("raw_fraction_outside_unit", float((raw.abs() > 1).float().mean())), flush=True)
        frames, chunks = decode(model, x.clone(), None)
        results[(tag, "untiled")] = frames
        print(summary_line(f"{tag}_untiled_chunks", chunks), flush=True)
        for name, spec in TILINGS.items():
            cfg = tiling_config(lc, spec)
            frames_t, chunks_t = decode(model, x.clone(), cfg)
            results[(tag, name)] = frames_t
            print(summary_line(f"{tag}_{name}_chunks", chunks_t), flush=True)
            if dtype == torch.float32:
                print(summary_line(f"{name}_layout", tile_summary(lc, model, x, cfg)), flush=True)
        for (t, name), fr in results.items():
            if t == tag:
                fixture[f"frames_{tag}_{name}"] = fr.to(dtype).contiguous()
                print(summary_line(f"frames_{tag}_{name}_shape", list(fr.shape)), flush=True)

    for name in ("untiled",) + tuple(TILINGS):
        print(summary_line(f"bf16_vs_f32_{name}", rel_err(results[("bf16", name)], results[("f32", name)])),
              flush=True)
    for name in TILINGS:
        print(summary_line(f"{name}_vs_untiled_f32", rel_err(results[("f32", name)], results[("f32", "untiled")])),
              flush=True)

    # ltx-core's RGB24 converter takes [*, C, H, W] and may mutate its input.
    for tag in ("f32", "bf16"):
        src = results[(tag, "untiled")]
        u8 = lc.yuv.FrameConverter.RGB24(src.movedim(-1, -3).clone())
        fixture[f"u8_from_{tag}"] = u8.contiguous()
        print(summary_line(f"u8_from_{tag}_shape", list(u8.shape)), flush=True)

    metadata = {
        "config": json.dumps({"vae": VAE}),
        "tilings": json.dumps(TILINGS),
        "auto_tiling_cases": json.dumps(auto_cases(lc)),
        "split_cases": json.dumps(split_cases(lc)),
        "format": "pt",
    }
    path = os.path.join(args.out, "video_decoder.safetensors")
    write_fixture(fixture, path, metadata)
    print(summary_line("status", "ok"), flush=True)


if __name__ == "__main__":
    main()
