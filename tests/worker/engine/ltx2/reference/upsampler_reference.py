"""Parity reference for the C++ LTX-2 spatial latent upsampler (worker/engine/ltx2/upsampler.*).

Builds ltx-core's own LatentUpsampler through LatentUpsamplerConfigurator.from_metadata on tiny
random configs (dims 3, spatial x2), in both key variants of the x2 convolution:
  variant a: rational_resampler false -> "upsampler.0.{weight,bias}"
  variant b: rational_resampler true  -> "upsampler.conv.{weight,bias}" + "upsampler.blur_down.kernel"
loads random (bf16-exact) weights by their published names, and runs ltx-core's upsample_video
(un-normalize with the VAE per-channel statistics, upsample, normalize) on the CPU in float32 and
bfloat16, plus the bare network in float32.

Writes ONE fixture, upsampler.safetensors, into --out:
  weights   a.<name>, b.<name>          (the file's unprefixed names under a variant prefix; BF16)
  stats     vae.per_channel_statistics.{mean-of-means,std-of-means}  [C] (BF16, as the checkpoint)
  inputs    latent [B, C, F, H, W] (F32, bf16-exact values; normalized latent space)
  expected  {a,b}.forward_f32 (network alone on latent), {a,b}.upsampled_f32, {a,b}.upsampled_bf16
  metadata  "config_a", "config_b": the configs as the upsampler file's "config" metadata carries them
Usage: python3 tests/worker/engine/ltx2/reference/upsampler_reference.py --out tests/worker/engine/ltx2/fixtures [--ltx-core PATH]
"""
import json
import os
import sys
import types

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "reference"))
from common import (bf16_exact, ltx_core_on_path, randn, reference_args, rel_err, seeded, stub_module,  # noqa: E402
                    summary_line, write_fixture)
from ltx23_config import UPSAMPLER_CONFIG, derived  # noqa: E402

SEED = 2305
IN_CH = 8
B, F, H, W = 2, 3, 4, 6
# The published upsampler config (same keys, same order), shrunk; "b" also takes the rational resampler.
_TINY = derived(UPSAMPLER_CONFIG, {"in_channels": IN_CH, "mid_channels": 32, "num_blocks_per_stage": 1})
CONFIGS = {
    "a": _TINY,
    "b": derived(_TINY, {"mid_channels": 64, "rational_resampler": True}),
}


def import_ltx_core(src):
    """Imports the upsampler modules without running package __init__ files (they pull in the
    whole VAE, tiling and loader stacks). The video_vae package is stubbed: model.py only needs
    VideoEncoder as a type annotation; PerChannelStatistics comes from video_vae/ops.py."""
    ltx_core_on_path(src, ("ltx_core", "ltx_core.model", "ltx_core.model.upsampler"))

    class VideoEncoder:  # annotation placeholder only
        pass

    stub_module("ltx_core.model.video_vae", [os.path.join(src, "ltx_core", "model", "video_vae")],
                VideoEncoder=VideoEncoder)
    from ltx_core.model.upsampler.model import upsample_video  # noqa: E402
    from ltx_core.model.upsampler.model_configurator import LatentUpsamplerConfigurator  # noqa: E402
    from ltx_core.model.video_vae.ops import PerChannelStatistics  # noqa: E402
    return LatentUpsamplerConfigurator, upsample_video, PerChannelStatistics


def random_state(model, gen):
    """Random bf16-exact values for every parameter, by state_dict name; buffers (the blur
    kernel) keep ltx-core's own values."""
    sd = {}
    params = dict(model.named_parameters())
    for name, t in model.state_dict().items():
        if name not in params:
            sd[name] = t.detach().clone().float()
            continue
        if name.endswith(".weight") and t.dim() > 1:
            fan_in = t[0].numel()
            sd[name] = randn(gen, tuple(t.shape), 1.0 / fan_in ** 0.5)
        elif "norm" in name and name.endswith(".weight"):
            sd[name] = randn(gen, tuple(t.shape), 0.2, 1.0)
        else:
            sd[name] = randn(gen, tuple(t.shape), 0.1)
    return sd


def main():
    args = reference_args(ltx_core=True, make_out=True)
    gen = seeded(SEED)
    torch.set_num_threads(max(1, min(8, torch.get_num_threads())))

    Configurator, upsample_video, PerChannelStatistics = import_ltx_core(os.path.abspath(args.ltx_core))

    mean = randn(gen, (IN_CH,), 0.5)
    std = bf16_exact(torch.rand(IN_CH, generator=gen) + 0.5)
    latent = randn(gen, (B, IN_CH, F, H, W), 1.0)

    fixture = {
        "vae.per_channel_statistics.mean-of-means": mean.to(torch.bfloat16),
        "vae.per_channel_statistics.std-of-means": std.to(torch.bfloat16),
        "latent": latent.contiguous(),
    }
    metadata = {}
    ok = True
    for tag, cfg in CONFIGS.items():
        model = Configurator.from_metadata({"config": cfg})
        sd = random_state(model, gen)
        model.load_state_dict(sd, strict=True)
        model.eval()
        names = sorted(sd)
        print(summary_line(f"{tag}.state_dict_names", names))
        for name, t in sd.items():
            fixture[f"{tag}.{name}"] = (t.to(torch.bfloat16) if t.is_floating_point() else t).contiguous()
        metadata[f"config_{tag}"] = json.dumps(cfg)

        for dtype, dname in ((torch.float32, "f32"), (torch.bfloat16, "bf16")):
            m = model.to(dtype)
            stats = PerChannelStatistics(IN_CH)
            stats.get_buffer("mean-of-means").copy_(mean)
            stats.get_buffer("std-of-means").copy_(std)
            stats = stats.to(dtype)
            enc = types.SimpleNamespace(per_channel_statistics=stats)
            with torch.no_grad():
                x = latent.to(dtype)
                up = upsample_video(latent=x, video_encoder=enc, upsampler=m)
                fixture[f"{tag}.upsampled_{dname}"] = up.float().contiguous()
                if dtype == torch.float32:
                    fwd = m(x)
                    fixture[f"{tag}.forward_f32"] = fwd.float().contiguous()
            print(summary_line(f"{tag}.upsampled_{dname}.shape", list(up.shape)))
            if up.shape != (B, IN_CH, F, 2 * H, 2 * W) or not torch.isfinite(up.float()).all():
                ok = False
        e = rel_err(fixture[f"{tag}.upsampled_bf16"], fixture[f"{tag}.upsampled_f32"])
        print(summary_line(f"{tag}.bf16_vs_f32_rel_err", e))

    # The two variants compute the same function for the same conv weights (blur stride 1).
    path = os.path.join(args.out, "upsampler.safetensors")
    write_fixture(fixture, path, metadata, label="fixture", ok=ok)
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
