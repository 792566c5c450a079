"""Reference side of `ops/bench decode`: ltx-core's own decoders at the published LTX-2.3 sizes
(tests/worker/engine/ltx2/reference/inventory_reference.py's VAE / AUDIO_VAE / VOCODER / UPSAMPLER_CONFIG), random
bf16 weights made on the GPU, the shapes of a 121-frame 1024x1536 job (video latent
[1, 128, 16, 32, 48], audio latent [1, 8, 126, 16], stage-1 video latent [1, 128, 16, 16, 24]).

Measured (median of --repeats after one warm-up; torch.cuda.synchronize around each), with the
CUDA caching allocator's peak (max_memory_allocated, weights included) and what was allocated
before (weights + inputs):
  video_tiled          decode_video as ltx-pipelines' VideoDecoder calls it by default: the
                       memory-efficient forward (MEMORY_EFFICIENT_DECODE, channels-last weights)
                       over the default tiling (TileSizeConfig.from_long_side 768/64, frames 80/24),
                       each chunk mapped to RGB24 with ltx-core's converter and copied to the host
  video_untiled_me     the same, untiled (memory-efficient forward)
  video_untiled_plain  untiled, ConvVideoDecoder's own forward, contiguous weights
  video_tiled_plain    tiled, ConvVideoDecoder's own forward
  audio                decode_audio(latent, audio decoder (bf16), vocoder with BWE (bf16 storage,
                       its fp32 autocast)) -> 48 kHz stereo waveform
  upsampler            upsample_video's math: un-normalize, LatentUpsampler (x2), normalize
Decoders are built once (the pipeline rebuilds them per call; that load is not timed here).
Writes one JSON object to --json (and prints it). Only stdlib + torch + ltx-core (+ einops).
Usage: python3 bench/gpu/decode_reference.py --json FILE [--repeats 3] [--short-repeats 20] [--tiny]
       [--only video,audio,upsampler]
"""
import json
import math
import os
import statistics
import sys
import time
import traceback

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "worker", "engine", "reference"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "worker", "engine", "ltx2", "reference"))
from common import reference_args  # noqa: E402
import inventory_reference as inv  # noqa: E402  (the published 2.3 config sections)
from ltx23_config import derived  # noqa: E402

VIDEO_LATENT = (1, 128, 16, 32, 48)   # 121 frames at 1024x1536
STAGE1_LATENT = (1, 128, 16, 16, 24)  # 121 frames at 512x768 (the upsampler's input)
AUDIO_LATENT = (1, 8, 126, 16)        # 5.04 s at 25 latents/s, 16 latent mel bins


def log(*a):
    print("decode_reference:", *a, flush=True)


def tiny_sections():
    """The tiny preset's shapes (worker/engine/ltx2/published_presets.cpp "tiny")."""
    vae = derived(inv.VAE, {
        "latent_channels": 8,
        "decoder_blocks": [["res_x", {"num_layers": 1}], ["compress_space", {"multiplier": 2}],
                           ["res_x", {"num_layers": 1}], ["compress_time", {"multiplier": 2}],
                           ["res_x", {"num_layers": 1}], ["compress_all", {"multiplier": 1}],
                           ["res_x", {"num_layers": 1}], ["compress_all", {"multiplier": 2}],
                           ["res_x", {"num_layers": 1}]],
        "encoder_base_channels": 8, "decoder_base_channels": 8})
    avae = derived(inv.AUDIO_VAE, {"model": {"params": {"ddconfig": {"ch": 16, "z_channels": 1, "num_res_blocks": 1}}}})
    voc = derived(inv.VOCODER, {
        "vocoder": {"upsample_initial_channel": 64, "upsample_rates": [5, 4, 8], "upsample_kernel_sizes": [11, 8, 16]},
        "bwe": {"upsample_initial_channel": 32, "upsample_rates": [6, 5, 8], "upsample_kernel_sizes": [12, 11, 16]}})
    ups = derived(inv.UPSAMPLER_CONFIG, {"in_channels": 8, "mid_channels": 32, "num_blocks_per_stage": 1})
    return vae, avae, voc, ups


def timed(fn, repeats, device):
    """(median seconds, peak allocated bytes, allocated before) over `repeats` runs after a warm-up."""
    fn()
    torch.cuda.synchronize(device)
    base = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize(device)
        ts.append(time.perf_counter() - t0)
    return {"seconds": statistics.median(ts), "all_seconds": ts, "peak_bytes": torch.cuda.max_memory_allocated(device),
            "base_bytes": base}


def random_(module, stats_std_names=("std-of-means",)):
    """Random values for every parameter and floating buffer of a module built on the meta device
    and materialised with to_empty: convolution / linear weights normal(0, 1/sqrt(fan_in)), biases
    zero, norm weights one, 1-D others zero; buffers: statistics std uniform [0.5, 1.5), others normal * 0.5."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.dim() >= 2:
                fan_in = p[0].numel()
                p.normal_(0.0, 1.0 / math.sqrt(max(fan_in, 1)))
            elif name.endswith("bias"):
                p.zero_()
            elif "norm" in name and name.endswith("weight"):
                p.fill_(1.0)
            else:
                p.zero_()
        for name, b in module.named_buffers():
            if not b.is_floating_point():
                b.zero_()
            elif any(s in name for s in stats_std_names):
                b.uniform_(0.5, 1.5)
            else:
                b.normal_(0.0, 0.5)


def params_bytes(module):
    return sum(p.numel() * p.element_size() for p in module.parameters()) + \
        sum(b.numel() * b.element_size() for b in module.buffers())


# ---------------------------------------------------------------- video

def run_video(out, vae, latent_shape, repeats, device, tiny):
    from ltx_core.model.video_vae import model_configurator as vmc
    from ltx_core.model.video_vae import memory_efficient_decode as med
    from ltx_core import tiling as lt
    from ltx_core.types import VIDEO_SCALE_FACTORS

    with torch.device("meta"):
        decoder = vmc.VideoDecoderConfigurator.from_metadata({"config": {"vae": vae}})
    decoder = decoder.to(torch.bfloat16).to_empty(device=device)
    random_(decoder)
    decoder.eval()
    out["video_decoder_weight_bytes"] = params_bytes(decoder)
    out["video_decoder_parameters"] = sum(p.numel() for p in decoder.parameters())
    f, h, w = latent_shape[2:]
    sf = VIDEO_SCALE_FACTORS
    height, width = h * sf.height, w * sf.width
    dsc = lt.DimensionSizeConfig
    tiling = lt.TileSizeConfig.from_long_side(long_side=dsc(tile_size=768, overlap=64), height=height, width=width,
                                              scale_factors=sf, frames=dsc(tile_size=80, overlap=24))
    if tiny:  # tiny latents: tiles of 2 latent cells so that the tiled path runs several tiles
        tiling = lt.TileSizeConfig(frames=dsc(tile_size=16, overlap=8), height=dsc(tile_size=64, overlap=32),
                                   width=dsc(tile_size=64, overlap=32))
    gen = torch.Generator(device=device).manual_seed(2303)
    latent = torch.randn(latent_shape, generator=gen, device=device, dtype=torch.float32).to(torch.bfloat16)
    tiles = decoder._prepare_tiles(latent, tiling)
    out["video_tiles"] = len(tiles)
    out["video_temporal_groups"] = len(lt.group_tiles_by_temporal_slice(tiles))
    out["video_tiling"] = {"frames": [tiling.frames.tile_size, tiling.frames.overlap],
                           "height": [tiling.height.tile_size, tiling.height.overlap],
                           "width": [tiling.width.tile_size, tiling.width.overlap]}
    out["video_frames"] = 1 + (f - 1) * sf.time
    log(f"video decoder: {out['video_decoder_parameters'] / 1e6:.1f} M parameters, {len(tiles)} tiles")

    def rgb24_to_host(chunk):
        # encode_video's RGB24 path: frames [f, h, w, c] -> [f, c, h, w] view -> clamp_, * 255, uint8, host
        frames = chunk.movedim(-1, -3)
        return frames.clamp_(0.0, 1.0).mul_(255.0).to(torch.uint8).movedim(-3, -1).to("cpu")

    def decode(tiling_config):
        def fn():
            n = 0
            with torch.inference_mode():
                for chunk in decoder.decode_video(latent, tiling_config, None):
                    n += rgb24_to_host(chunk).shape[0]
            if n != out["video_frames"]:
                raise RuntimeError(f"decoded {n} frames, expected {out['video_frames']}")
        return fn

    def with_mode(memory_efficient):
        with torch.no_grad():
            fmt = torch.channels_last_3d if memory_efficient else torch.contiguous_format
            for p in decoder.parameters():
                if p.dim() == 5:
                    p.data = p.data.contiguous(memory_format=fmt)
        if memory_efficient:
            med.enable_memory_efficient_decode(decoder)
        else:
            med.disable_memory_efficient_decode(decoder)

    runs = [("video_tiled", True, tiling), ("video_untiled_me", True, None),
            ("video_untiled_plain", False, None), ("video_tiled_plain", False, tiling)]
    for key, me, cfg in runs:
        try:
            with_mode(me)
            torch.cuda.empty_cache()
            r = timed(decode(cfg), repeats, device)
            out[key] = r
            log(f"{key}: {r['seconds']:.3f} s, peak {r['peak_bytes'] / 2**30:.2f} GiB "
                f"(base {r['base_bytes'] / 2**30:.2f} GiB)")
        except Exception as e:  # noqa: BLE001  (recorded; the other runs still count)
            out[key] = {"error": f"{type(e).__name__}: {e}"[:400]}
            log(f"{key} failed: {traceback.format_exc(limit=4)}")
        torch.cuda.empty_cache()
    del decoder, latent
    torch.cuda.empty_cache()


# ---------------------------------------------------------------- audio

def run_audio(out, avae, voc, latent_shape, repeats, device):
    from ltx_core.model.audio_vae import model_configurator as amc
    from ltx_core.model.audio_vae.audio_vae import decode_audio

    meta = {"config": {"audio_vae": avae, "vocoder": voc}}
    # Small models: built on the CPU so that the buffers computed at construction (resampling
    # filters, windows) are the real ones; the learned weights are then made random.
    decoder = amc.AudioDecoderConfigurator.from_metadata(meta)
    vocoder = amc.VocoderConfigurator.from_metadata(meta)
    with torch.no_grad():
        for m in (decoder, vocoder):
            for name, p in m.named_parameters():
                if p.dim() >= 2:
                    p.normal_(0.0, 1.0 / math.sqrt(max(p[0].numel(), 1)))
                elif name.endswith("bias"):
                    p.zero_()
                elif name.endswith("alpha") or name.endswith("beta"):
                    p.zero_()  # SnakeBeta's log-scale parameters: exp(0) = 1
    decoder = decoder.to(device=device, dtype=torch.bfloat16).eval()
    vocoder = vocoder.to(device=device, dtype=torch.bfloat16).eval()  # ltx-pipelines: stored bf16, fp32 autocast
    out["audio_decoder_weight_bytes"] = params_bytes(decoder)
    out["vocoder_weight_bytes"] = params_bytes(vocoder)
    gen = torch.Generator(device=device).manual_seed(2304)
    latent = torch.randn(latent_shape, generator=gen, device=device, dtype=torch.float32).to(torch.bfloat16)
    shape = {}

    def fn():
        with torch.inference_mode():
            audio = decode_audio(latent, decoder, vocoder)
            shape["wave"] = list(audio.waveform.shape)
            shape["rate"] = int(audio.sampling_rate)
            audio.waveform.to("cpu")

    try:
        r = timed(fn, repeats, device)
        out["audio"] = r
        out["audio_waveform_shape"] = shape.get("wave")
        out["audio_sample_rate"] = shape.get("rate")
        log(f"audio decoder + vocoder: {r['seconds']:.3f} s, peak {r['peak_bytes'] / 2**30:.2f} GiB, "
            f"waveform {shape.get('wave')} at {shape.get('rate')} Hz")
    except Exception as e:  # noqa: BLE001
        out["audio"] = {"error": f"{type(e).__name__}: {e}"[:400]}
        log(f"audio failed: {traceback.format_exc(limit=4)}")
    del decoder, vocoder, latent
    torch.cuda.empty_cache()


# ---------------------------------------------------------------- upsampler

def run_upsampler(out, ups, latent_shape, repeats, device):
    from ltx_core.model.upsampler.model_configurator import LatentUpsamplerConfigurator

    with torch.device("meta"):
        model = LatentUpsamplerConfigurator.from_metadata({"config": ups})
    model = model.to(torch.bfloat16).to_empty(device=device)
    random_(model)
    model.eval()
    out["upsampler_weight_bytes"] = params_bytes(model)
    c = latent_shape[1]
    gen = torch.Generator(device=device).manual_seed(2305)
    latent = torch.randn(latent_shape, generator=gen, device=device, dtype=torch.float32).to(torch.bfloat16)
    std = (torch.rand(c, generator=gen, device=device) + 0.5).to(torch.bfloat16).view(1, -1, 1, 1, 1)
    mean = (torch.randn(c, generator=gen, device=device) * 0.5).to(torch.bfloat16).view(1, -1, 1, 1, 1)

    def fn():
        with torch.inference_mode():
            y = model(latent * std + mean)  # PerChannelStatistics.un_normalize
            return (y - mean) / std          # .normalize

    try:
        r = timed(fn, repeats, device)
        out["upsampler"] = r
        log(f"upsampler: {r['seconds']:.4f} s, peak {r['peak_bytes'] / 2**30:.2f} GiB")
    except Exception as e:  # noqa: BLE001
        out["upsampler"] = {"error": f"{type(e).__name__}: {e}"[:400]}
        log(f"upsampler failed: {traceback.format_exc(limit=4)}")
    del model, latent
    torch.cuda.empty_cache()


def main():
    def extra(ap):
        ap.add_argument("--repeats", type=int, default=3)
        ap.add_argument("--short-repeats", type=int, default=20, help="repeats for the audio and upsampler runs")
        ap.add_argument("--tiny", action="store_true", help="the tiny preset's sizes (smoke test)")
        ap.add_argument("--device", default="cuda")
        ap.add_argument("--only", default="video,audio,upsampler")

    args = reference_args(out="--json", ltx_core=True, extra=extra)
    device = torch.device(args.device)
    if device.type != "cuda":
        raise SystemExit("decode_reference.py measures on CUDA only")
    torch.manual_seed(2303)
    inv.setup_imports(os.path.abspath(args.ltx_core))
    vae, avae, voc, ups = tiny_sections() if args.tiny else (inv.VAE, inv.AUDIO_VAE, inv.VOCODER, inv.UPSAMPLER_CONFIG)
    out = {"bench": "decode-reference", "torch": torch.__version__, "gpu": torch.cuda.get_device_name(device),
           "repeats": args.repeats, "short_repeats": args.short_repeats, "preset": "tiny" if args.tiny else "full",
           "cudnn_benchmark": bool(torch.backends.cudnn.benchmark)}
    if args.tiny:
        video_latent, stage1, audio_latent = (1, 8, 3, 4, 6), (1, 8, 3, 2, 3), (1, 1, 126, 16)
    else:
        video_latent, stage1, audio_latent = VIDEO_LATENT, STAGE1_LATENT, AUDIO_LATENT
    out["video_latent"], out["stage1_latent"], out["audio_latent"] = video_latent, stage1, audio_latent
    only = set(args.only.split(","))
    t0 = time.perf_counter()
    for name, fn in (("video", lambda: run_video(out, vae, video_latent, args.repeats, device, args.tiny)),
                     ("audio", lambda: run_audio(out, avae, voc, audio_latent, args.short_repeats, device)),
                     ("upsampler", lambda: run_upsampler(out, ups, stage1, args.short_repeats, device))):
        if name not in only:
            continue
        try:
            fn()
        except Exception as e:  # noqa: BLE001  (a broken component leaves the others measured)
            out[name + "_error"] = f"{type(e).__name__}: {e}"[:400]
            log(f"{name} failed: {traceback.format_exc(limit=6)}")
        torch.cuda.empty_cache()
    out["total_seconds"] = time.perf_counter() - t0
    text = json.dumps(out, indent=2)
    print(text, flush=True)
    with open(args.json, "w") as f:
        f.write(text + "\n")


if __name__ == "__main__":
    main()
