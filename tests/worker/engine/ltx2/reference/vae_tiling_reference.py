"""Parity reference for the engine config's "vae_tiling" sizes (worker/engine/app/engine_config.hpp
VaeTiling -> ltx2::video_tiling_from_long_side -> tiled decode).

Reads the video decoder fixture written by video_decoder_reference.py (tests/worker/engine/ltx2/fixtures/
video_decoder.safetensors: the tiny decoder's weights under the published names, and its latent),
builds ltx-core's own ConvVideoDecoder from them (that script's builder: VideoDecoderConfigurator
and ltx-core's key filter, strict), makes the layout the pipelines make from a long-side size
(ltx-core TileSizeConfig.from_long_side) with NON-default sizes, and decodes with it in float32 on
the CPU. Also counts ltx-core's tiles (to_splitters) at real size for a few long-side / temporal
sizes.

Fixture vae_tiling.safetensors (into --out):
  expected   frames_f32_long_side_24_8_frames_8_4 [13, 32, 48, 3] F32: decode_video output with
             from_long_side(long_side=(24, 8), height=32, width=48, the decoder's scale factors,
             frames=(8, 4))
  metadata   layouts (that layout in pixel/frame units), split_counts (per case: long side, frames,
             video frames/height/width, tiles per axis and in all, with VIDEO_SCALE_FACTORS)
Usage: python3 tests/worker/engine/ltx2/reference/vae_tiling_reference.py --out tests/worker/engine/ltx2/fixtures
"""
import json
import os
import sys

import torch
from safetensors.torch import load_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "reference"))
from common import reference_args, summary_line, write_fixture  # noqa: E402
import video_decoder_reference as vdr  # noqa: E402  (its ltx-core import and decoder builder)

CASE = {"name": "long_side_24_8_frames_8_4", "long_side": [24, 8], "frames": [8, 4], "height": 32, "width": 48}
SPLIT_CASES = [
    {"long_side": [768, 64], "frames": [80, 24], "video": [121, 1024, 1536]},
    {"long_side": [512, 64], "frames": [64, 24], "video": [121, 1024, 1536]},
    {"long_side": [512, 96], "frames": [48, 16], "video": [241, 704, 1280]},
    {"long_side": [1024, 128], "frames": [0, 0], "video": [121, 1536, 1024]},
]


def main():
    args = reference_args(ltx_core=True, make_out=True, extra=lambda ap: ap.add_argument(
        "--decoder-fixture", default=os.path.normpath(os.path.join(HERE, "..", "fixtures", "video_decoder.safetensors"))))
    torch.manual_seed(0)
    torch.set_num_threads(max(1, min(8, torch.get_num_threads())))

    lc = vdr.import_ltx_core(args.ltx_core)
    dsc = lc.tiling.DimensionSizeConfig
    stored = load_file(args.decoder_fixture)
    weights = {k: v.float() for k, v in stored.items() if k.startswith("vae.")}
    latent = stored["latent"].float()
    print(summary_line("decoder_tensors", len(weights)), flush=True)

    model = vdr.build_decoder(lc, weights, torch.float32)
    scale = model.video_downscale_factors
    print(summary_line("scale_factors", list(scale)), flush=True)
    cfg = lc.tiling.TileSizeConfig.from_long_side(long_side=dsc(tile_size=CASE["long_side"][0],
                                                                overlap=CASE["long_side"][1]),
                                                  height=CASE["height"], width=CASE["width"], scale_factors=scale,
                                                  frames=dsc(tile_size=CASE["frames"][0], overlap=CASE["frames"][1]))
    layout = {"frames": [cfg.frames.tile_size, cfg.frames.overlap],
              "height": [cfg.height.tile_size, cfg.height.overlap],
              "width": [cfg.width.tile_size, cfg.width.overlap]}
    print(summary_line("layout", layout), flush=True)
    frames, chunks = vdr.decode(model, latent.clone(), cfg)
    print(summary_line("chunks", chunks), flush=True)
    print(summary_line("tile_summary", vdr.tile_summary(lc, model, latent, cfg)), flush=True)
    untiled, _ = vdr.decode(model, latent.clone(), None)
    print(summary_line("tiled_vs_untiled_f32", vdr.rel_err(frames, untiled)), flush=True)
    fixture = {"frames_f32_" + CASE["name"]: frames.float().contiguous()}

    counts = []
    s = lc.video_scale
    for case in SPLIT_CASES:
        f, h, w = case["video"]
        frames_cfg = dsc(tile_size=case["frames"][0], overlap=case["frames"][1])
        c = lc.tiling.TileSizeConfig.from_long_side(long_side=dsc(tile_size=case["long_side"][0],
                                                                  overlap=case["long_side"][1]),
                                                    height=h, width=w, scale_factors=s, frames=frames_cfg)
        ts, hs, ws = c.to_splitters(s)
        lat = ((f - 1) // s.time + 1, h // s.height, w // s.width)
        per_axis = [len(op(n).intervals) for op, n in ((ts, lat[0]), (hs, lat[1]), (ws, lat[2]))]
        entry = dict(case)
        entry["per_axis"] = per_axis
        entry["tiles"] = per_axis[0] * per_axis[1] * per_axis[2]
        counts.append(entry)
        print(summary_line("split_count", entry), flush=True)

    metadata = {"layouts": json.dumps({CASE["name"]: dict(CASE, layout=layout)}),
                "split_counts": json.dumps(counts), "format": "pt"}
    path = os.path.join(args.out, "vae_tiling.safetensors")
    write_fixture(fixture, path, metadata)
    print(summary_line("status", "ok"), flush=True)


if __name__ == "__main__":
    main()
