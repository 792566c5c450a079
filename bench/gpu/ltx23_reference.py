"""Reference side of `ops/bench ltx23`: ltx-core's own LTXModel at the published LTX-2.3 transformer
config (48 layers, video 32x128 = 4096, audio 32x64 = 2048), built on the meta device, materialised
on CUDA with random bf16 weights, running the same forward shapes as bench/gpu/bench_ltx23.cpp with
ltx-core's default attention (AttentionFunction.AUTOMATIC: FA3 when installed on Hopper, else torch
SDPA with the cuDNN > flash > efficient > math priority).

Measured (median of --repeats after one warm-up; torch.cuda.synchronize around each):
  stage1_step_seconds          one guided stage-1 step as ltx-pipelines runs it by default: the
                               4 passes (cond, uncond, STG at block 28, modality-isolated) as 4
                               batch-1 forwards (BatchSplitAdapter, max_batch_size=1)
  stage1_pass_seconds          one plain stage-1 forward (batch 1)
  stage1_step_batched_seconds  the same 4 passes as ONE batch-4 forward (max_batch_size >= 4)
  stage2_step_seconds          one stage-2 forward (distilled: one pass; the LoRA fused, so the
                               same shapes as a plain forward)
and the CUDA caching allocator's peak (max_memory_allocated) per configuration, weights included.

Writes one JSON object to --json (and prints it). Only stdlib + torch + ltx-core.
Usage: python3 bench/gpu/ltx23_reference.py --json FILE [--repeats 3] [--tiny] [--device cuda]
"""
import json
import math
import os
import statistics
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "worker", "engine", "reference"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "worker", "engine", "ltx2", "reference"))
from common import import_modules, ltx_core_on_path, reference_args  # noqa: E402
from ltx23_config import TRANSFORMER as PUBLISHED_TRANSFORMER, derived  # noqa: E402  (the real 2.3 section)

STG_BLOCK = 28          # LTX_2_3_PARAMS video/audio stg_blocks
FPS = 24.0
CONTEXT_ROWS = 1024     # connector output rows per prompt
STAGE1 = (16, 16, 24)   # latent frames, height, width: 121 frames at 512x768 -> 6144 tokens
STAGE2 = (16, 32, 48)   # 1024x1536 -> 24576 tokens
AUDIO_FRAMES = 126      # 121 frames at 24 fps = 5.04 s of 25 latents/s


def import_ltx_core(src):
    """The needed ltx-core modules, imported without running package __init__ files."""
    ltx_core_on_path(src, ("ltx_core", "ltx_core.model", "ltx_core.model.transformer", "ltx_core.guidance",
                           "ltx_core.loader", "ltx_core.components"))
    return import_modules(
        configurator="ltx_core.model.transformer.model_configurator",
        modality="ltx_core.model.transformer.modality", attention="ltx_core.model.transformer.attention",
        perturbations="ltx_core.guidance.perturbations", tools="ltx_core.tools",
        patchifiers="ltx_core.components.patchifiers", types="ltx_core.types")


def tiny_config():
    return derived(PUBLISHED_TRANSFORMER, {
        "num_layers": 2, "num_attention_heads": 4, "attention_head_dim": 16, "cross_attention_dim": 64,
        "audio_num_attention_heads": 4, "audio_attention_head_dim": 8, "audio_cross_attention_dim": 32})


def init_(name, p):
    """The C++ bench's init (av_transformer_weights.cpp slots): fan-in normal for Linears and
    tables, 0.5x for the AdaLN output Linears, zero biases, unit q/k norms."""
    if name.endswith(".bias"):
        p.zero_()
    elif name.endswith("q_norm.weight") or name.endswith("k_norm.weight"):
        p.fill_(1.0)
    elif p.dim() == 2:
        std = 1.0 / math.sqrt(p.shape[1])
        if name.endswith("adaln_single.linear.weight"):
            std *= 0.5
        p.normal_(0.0, std)
    else:
        raise ValueError(f"no init rule for {name} {tuple(p.shape)}")


def build_model(mods, cfg, device):
    with torch.device("meta"):
        model = mods.configurator.LTXModelConfigurator.from_metadata({"config": {"transformer": cfg}})
        model = model.to(torch.bfloat16)
    model = model.to_empty(device=device)
    n = 0
    with torch.no_grad():
        for name, p in model.named_parameters():
            init_(name, p)
            n += p.numel()
        for name, b in model.named_buffers():
            raise RuntimeError(f"unexpected buffer {name}: to_empty left it uninitialised")
    model.eval()
    return model, n


class Inputs:
    """One grid's Modality inputs (batch 1), positions from ltx-core's own latent tools."""

    def __init__(self, mods, grid, cfg, device, ctx, neg_ctx, tiny):
        T = mods.types
        f, h, w = grid
        vtools = mods.tools.VideoLatentTools(
            patchifier=mods.patchifiers.VideoLatentPatchifier(patch_size=1),
            target_shape=T.VideoLatentShape(batch=1, channels=cfg["in_channels"], frames=f, height=h, width=w),
            fps=FPS)
        atools = mods.tools.AudioLatentTools(
            patchifier=mods.patchifiers.AudioPatchifier(patch_size=1),
            target_shape=T.AudioLatentShape(batch=1, channels=8, frames=AUDIO_FRAMES, mel_bins=16))  # 8 x 16 = 128
        vstate = vtools.create_initial_state(device=device, dtype=torch.bfloat16)
        astate = atools.create_initial_state(device=device, dtype=torch.bfloat16)
        self.video_tokens = vstate.latent.shape[1]
        self.audio_tokens = astate.latent.shape[1]
        sigma = torch.tensor([0.9], dtype=torch.float32, device=device)
        self.v = dict(latent=torch.randn_like(vstate.latent), sigma=sigma,
                      timesteps=vstate.denoise_mask.float() * 0.9, positions=vstate.positions.float())
        self.a = dict(latent=torch.randn_like(astate.latent), sigma=sigma,
                      timesteps=astate.denoise_mask.float() * 0.9, positions=astate.positions.float())
        self.ctx, self.neg = ctx, neg_ctx
        self.M = mods.modality.Modality

    def modalities(self, negative=False, batch=1):
        vc, ac = self.neg if negative else self.ctx

        def rep(t):
            return t if batch == 1 else t.expand(batch, *t.shape[1:])
        v = self.M(latent=rep(self.v["latent"]), sigma=self.v["sigma"].expand(batch), timesteps=rep(self.v["timesteps"]),
                   positions=rep(self.v["positions"]), context=vc, enabled=True, context_mask=None)
        a = self.M(latent=rep(self.a["latent"]), sigma=self.a["sigma"].expand(batch), timesteps=rep(self.a["timesteps"]),
                   positions=rep(self.a["positions"]), context=ac, enabled=True, context_mask=None)
        return v, a


def pass_configs(mods):
    P = mods.perturbations
    return [
        ("cond", False, P.PerturbationConfig.empty()),
        ("uncond", True, P.PerturbationConfig.empty()),
        ("ptb", False, P.PerturbationConfig([P.Perturbation(type=P.PerturbationType.SKIP_VIDEO_SELF_ATTN, blocks=[STG_BLOCK]),
                                             P.Perturbation(type=P.PerturbationType.SKIP_AUDIO_SELF_ATTN, blocks=[STG_BLOCK])])),
        ("mod", False, P.PerturbationConfig([P.Perturbation(type=P.PerturbationType.SKIP_A2V_CROSS_ATTN, blocks=None),
                                             P.Perturbation(type=P.PerturbationType.SKIP_V2A_CROSS_ATTN, blocks=None)])),
    ]


def timed(fn, repeats, device):
    """(median seconds, peak allocated bytes) over `repeats` runs after one warm-up."""
    fn()
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize(device)
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts), torch.cuda.max_memory_allocated(device)


def main():
    def extra(ap):
        ap.add_argument("--repeats", type=int, default=3)
        ap.add_argument("--tiny", action="store_true", help="toy sizes (smoke test)")
        ap.add_argument("--device", default="cuda")

    args = reference_args(out="--json", ltx_core=True, extra=extra)
    device = torch.device(args.device)
    if device.type != "cuda":
        raise SystemExit("ltx23_reference.py measures on CUDA only")
    torch.manual_seed(2303)
    mods = import_ltx_core(os.path.abspath(args.ltx_core))
    cfg = tiny_config() if args.tiny else dict(PUBLISHED_TRANSFORMER)
    out = {"bench": "ltx23-reference", "torch": torch.__version__, "gpu": torch.cuda.get_device_name(device),
           "repeats": args.repeats, "preset": "tiny" if args.tiny else "full",
           "attention": mods.attention.attention_label(mods.attention.automatic_attention())}
    t0 = time.perf_counter()
    model, params = build_model(mods, cfg, device)
    torch.cuda.synchronize(device)
    out["build_seconds"] = time.perf_counter() - t0
    out["parameters"] = params
    out["weights_bytes"] = torch.cuda.memory_allocated(device)

    vdim = cfg["num_attention_heads"] * cfg["attention_head_dim"]
    adim = cfg["audio_num_attention_heads"] * cfg["audio_attention_head_dim"]
    rows = 16 if args.tiny else CONTEXT_ROWS
    ctx = (torch.randn(1, rows, vdim, device=device, dtype=torch.bfloat16),
           torch.randn(1, rows, adim, device=device, dtype=torch.bfloat16))
    neg = (torch.randn(1, rows, vdim, device=device, dtype=torch.bfloat16),
           torch.randn(1, rows, adim, device=device, dtype=torch.bfloat16))
    P = mods.perturbations
    nb = model.num_blocks

    def ptb(configs):
        return P.BatchedPerturbationConfig(configs, num_blocks=nb, device=device, dtype=torch.bfloat16)

    grids = {"stage1": (2, 2, 3) if args.tiny else STAGE1, "stage2": (2, 4, 6) if args.tiny else STAGE2}
    with torch.inference_mode():
        s1 = Inputs(mods, grids["stage1"], cfg, device, ctx, neg, args.tiny)
        out["stage1_video_tokens"], out["audio_tokens"] = s1.video_tokens, s1.audio_tokens
        passes = pass_configs(mods)
        prepared = [(s1.modalities(negative=neg_), ptb([c])) for _, neg_, c in passes]

        def step_one_by_one():
            return [model(v, a, p) for (v, a), p in prepared]
        out["stage1_step_seconds"], out["stage1_step_peak_bytes"] = timed(step_one_by_one, args.repeats, device)

        (v1, a1), p1 = prepared[0]
        out["stage1_pass_seconds"], out["stage1_pass_peak_bytes"] = timed(lambda: model(v1, a1, p1), args.repeats, device)

        # ltx-pipelines' batched form (max_batch_size >= 4): contexts concatenated, states repeated.
        vb = s1.M(latent=s1.v["latent"].expand(4, -1, -1), sigma=s1.v["sigma"].expand(4),
                  timesteps=s1.v["timesteps"].expand(4, -1, -1), positions=s1.v["positions"].expand(4, -1, -1, -1),
                  context=torch.cat([neg[0] if n_ else ctx[0] for _, n_, _ in passes]), enabled=True, context_mask=None)
        ab = s1.M(latent=s1.a["latent"].expand(4, -1, -1), sigma=s1.a["sigma"].expand(4),
                  timesteps=s1.a["timesteps"].expand(4, -1, -1), positions=s1.a["positions"].expand(4, -1, -1, -1),
                  context=torch.cat([neg[1] if n_ else ctx[1] for _, n_, _ in passes]), enabled=True, context_mask=None)
        pb = ptb([c for _, _, c in passes])
        try:
            out["stage1_step_batched_seconds"], out["stage1_step_batched_peak_bytes"] = timed(
                lambda: model(vb, ab, pb), args.repeats, device)
        except Exception as e:  # noqa: BLE001  (recorded, not fatal: the default path is one by one)
            out["stage1_step_batched_error"] = f"{type(e).__name__}: {e}"[:300]
        del prepared, vb, ab, pb, s1
        torch.cuda.empty_cache()

        s2 = Inputs(mods, grids["stage2"], cfg, device, ctx, neg, args.tiny)
        out["stage2_video_tokens"] = s2.video_tokens
        (v2, a2), p2 = s2.modalities(), ptb([P.PerturbationConfig.empty()])
        out["stage2_step_seconds"], out["stage2_step_peak_bytes"] = timed(lambda: model(v2, a2, p2), args.repeats, device)

    text = json.dumps(out, indent=2)
    print(text)
    with open(args.json, "w") as f:
        f.write(text + "\n")


if __name__ == "__main__":
    main()
