"""Parity reference for the C++ LTX-2.3 audio-video transformer (worker/engine/ltx2/av_transformer.*).

Builds Lightricks ltx-core's own LTXModel through LTXModelConfigurator.from_metadata with a tiny
config that has every LTX-2.3 feature on (cross_attention_adaln + prompt AdaLN, gated attention,
split RoPE with the float64 grid and a 2-entry identity pad, av_ca_timestep_scale_multiplier 1000,
FFN biases), loads random bf16-exact weights into it under their published checkpoint names
("model.diffusion_model." + LTXModel state_dict names, through ltx-core's own renaming map), and
runs it on the CPU with video/audio latent states built by ltx-core's VideoLatentTools /
AudioLatentTools (fps 24, a clean first video frame: denoise mask 0 on latent frame 0).
Batch 2 with different step sigmas per sample and per modality (so the A/V gates' "other
modality's sigma" matters).

Passes: plain, STG (video and audio self-attention skipped in block 1, as the pipeline's "ptb"
pass), modality-isolated (A2V and V2A skipped in all blocks, the "mod" pass); each in float32 and
bfloat16 (model and latents/contexts cast to bf16; sigmas and positions stay float32 as in the
pipeline). Expected: velocities (LTXModel) and denoised x0 (X0Model).

Writes ONE file av_transformer.safetensors into --out:
  weights    model.diffusion_model.* (BF16; the *scale_shift_table* tensors F32, as the published file)
  inputs     in.video_latent_5d [B,128,F,H,W], in.audio_latent_4d [B,8,T,16] (BF16);
             in.video.{latent,timesteps,sigma,positions,context}, in.audio.{...}
             (latent/context BF16, timesteps [B,N,1] / sigma [B] / positions F32)
  expected   out.<pass>.<dtype>.{video,audio,video_x0,audio_x0}, pass in plain|stg|mod, dtype f32|bf16
  rope       rope.{video,audio,cross_video,cross_audio}.{cos,sin}.{f32,bf16} (precompute_freqs_cis
             with the model's own arguments); grid.{video,audio}.f64 (generate_freq_grid_np at
             the REAL sizes 4096/3 and 2048/1, the latter also the A/V cross-attention grid) and grid.video.f32 (generate_freq_grid_pytorch)
  metadata   "config" = {"transformer": {...}} as the published file carries it; "stg_block";
             "fps"; "generator"
Usage: python3 tests/worker/engine/ltx2/reference/av_transformer_reference.py --out tests/worker/engine/ltx2/fixtures
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "reference"))
from common import (import_modules, ltx_core_on_path, randn, reference_args, rel_err, seeded,  # noqa: E402
                    summary_line, write_fixture)
from ltx23_config import TRANSFORMER as PUBLISHED_TRANSFORMER, derived  # noqa: E402

SEED = 2303
B = 2
FRAMES, HEIGHT, WIDTH = 3, 2, 3      # video latent grid -> 18 tokens
AUDIO_FRAMES, AUDIO_Z, MEL = 5, 8, 16  # audio latent (B, 8, 5, 16) -> 5 tokens of 128
CTX_LEN = 6
FPS = 24.0
STG_BLOCK = 1
VIDEO_SIGMA = [0.8, 0.45]
AUDIO_SIGMA = [0.6, 0.3]
PREFIX = "model.diffusion_model."

# The published file's transformer section (same keys, same order), shrunk: video 4 heads x 16 (inner 64:
# 64//6 = 10 frequencies per axis -> 30 + a 2-entry identity pad, as 4096 -> 2046 + 2), audio
# 4 heads x 8 (inner 32), 3 layers; connectors 2 layers at the same head sizes.
TRANSFORMER = derived(PUBLISHED_TRANSFORMER, {
    "attention_head_dim": 16, "cross_attention_dim": 64, "num_attention_heads": 4, "num_layers": 3,
    "audio_num_attention_heads": 4, "audio_attention_head_dim": 8, "audio_cross_attention_dim": 32,
    "connector_attention_head_dim": 16, "connector_num_attention_heads": 4, "connector_num_layers": 2,
    "audio_connector_attention_head_dim": 8, "audio_connector_num_attention_heads": 4})
VIDEO_DIM = TRANSFORMER["num_attention_heads"] * TRANSFORMER["attention_head_dim"]
AUDIO_DIM = TRANSFORMER["audio_num_attention_heads"] * TRANSFORMER["audio_attention_head_dim"]


# ---------------------------------------------------------------- ltx-core import

def import_ltx_core(src):
    """The needed ltx-core modules, imported without running package __init__ files (they pull in
    loaders, pipelines and optional dependencies)."""
    ltx_core_on_path(src, ("ltx_core", "ltx_core.model", "ltx_core.model.transformer", "ltx_core.guidance",
                           "ltx_core.loader", "ltx_core.components"))
    return import_modules(
        configurator="ltx_core.model.transformer.model_configurator", model="ltx_core.model.transformer.model",
        modality="ltx_core.model.transformer.modality", rope="ltx_core.model.transformer.rope",
        perturbations="ltx_core.guidance.perturbations", tools="ltx_core.tools",
        patchifiers="ltx_core.components.patchifiers", types="ltx_core.types")


# ---------------------------------------------------------------- weights

def random_value(gen, name, shape):
    """bf16-exact random values sized so activations stay O(1) through 3 blocks."""
    if "scale_shift_table" in name:
        return randn(gen, shape, 0.3)
    if name.endswith("q_norm.weight") or name.endswith("k_norm.weight"):
        return randn(gen, shape, 0.1, mean=1.0)
    if name.endswith(".bias"):
        return randn(gen, shape, 0.1)
    if len(shape) == 2:
        std = 1.0 / math.sqrt(shape[1])
        if name.endswith("adaln_single.linear.weight"):
            std *= 0.5
        return randn(gen, shape, std)
    raise ValueError(f"no init rule for {name} {shape}")


def build_model(mods, gen):
    metadata = {"config": {"transformer": dict(TRANSFORMER)}}
    model = mods.configurator.LTXModelConfigurator.from_metadata(metadata)
    own = model.state_dict()
    stored = {}
    for name, t in own.items():
        stored[PREFIX + name] = random_value(gen, name, tuple(t.shape))
    # Load through ltx-core's own key map (strips "model.diffusion_model.").
    renaming = mods.configurator.LTXV_MODEL_COMFY_RENAMING_MAP
    sd = {}
    for k, v in stored.items():
        nk = renaming.apply_to_key(k)
        if nk is None:
            raise RuntimeError(f"renaming map dropped {k}")
        sd[nk] = v
    model.load_state_dict(sd, strict=True)
    model.eval()
    return model, stored


# ---------------------------------------------------------------- inputs

def build_inputs(mods, gen):
    tools, patchifiers, T = mods.tools, mods.patchifiers, mods.types
    video_5d = randn(gen, (B, 128, FRAMES, HEIGHT, WIDTH), 1.0)
    audio_4d = randn(gen, (B, AUDIO_Z, AUDIO_FRAMES, MEL), 1.0)
    vtools = tools.VideoLatentTools(
        patchifier=patchifiers.VideoLatentPatchifier(patch_size=1),
        target_shape=T.VideoLatentShape(batch=B, channels=128, frames=FRAMES, height=HEIGHT, width=WIDTH),
        fps=FPS)
    atools = tools.AudioLatentTools(
        patchifier=patchifiers.AudioPatchifier(patch_size=1),
        target_shape=T.AudioLatentShape(batch=B, channels=AUDIO_Z, frames=AUDIO_FRAMES, mel_bins=MEL))
    vstate = vtools.create_initial_state(device="cpu", dtype=torch.float32, initial_latent=video_5d)
    astate = atools.create_initial_state(device="cpu", dtype=torch.float32, initial_latent=audio_4d)
    vmask = vstate.denoise_mask.clone()          # (B, N, 1) float32
    vmask[:, : HEIGHT * WIDTH] = 0.0             # clean first latent frame (conditioning)
    amask = astate.denoise_mask.clone()
    vsig = torch.tensor(VIDEO_SIGMA, dtype=torch.float32)
    asig = torch.tensor(AUDIO_SIGMA, dtype=torch.float32)
    return {
        "video_5d": video_5d, "audio_4d": audio_4d,
        "video": {"latent": vstate.latent, "sigma": vsig, "timesteps": vmask * vsig.view(-1, 1, 1),
                  "positions": vstate.positions.float(),
                  "context": randn(gen, (B, CTX_LEN, VIDEO_DIM), 1.0)},
        "audio": {"latent": astate.latent, "sigma": asig, "timesteps": amask * asig.view(-1, 1, 1),
                  "positions": astate.positions.float(),
                  "context": randn(gen, (B, CTX_LEN, AUDIO_DIM), 1.0)},
    }


def modality(mods, d, dtype):
    return mods.modality.Modality(
        latent=d["latent"].to(dtype), sigma=d["sigma"], timesteps=d["timesteps"], positions=d["positions"],
        context=d["context"].to(dtype), enabled=True, context_mask=None)


def perturbations(mods, kind, num_blocks, dtype):
    P = mods.perturbations
    if kind == "plain":
        cfg = P.PerturbationConfig.empty()
    elif kind == "stg":
        cfg = P.PerturbationConfig([P.Perturbation(type=P.PerturbationType.SKIP_VIDEO_SELF_ATTN, blocks=[STG_BLOCK]),
                                    P.Perturbation(type=P.PerturbationType.SKIP_AUDIO_SELF_ATTN, blocks=[STG_BLOCK])])
    elif kind == "mod":
        cfg = P.PerturbationConfig([P.Perturbation(type=P.PerturbationType.SKIP_A2V_CROSS_ATTN, blocks=None),
                                    P.Perturbation(type=P.PerturbationType.SKIP_V2A_CROSS_ATTN, blocks=None)])
    else:
        raise ValueError(kind)
    # As the pipeline's denoiser builds it: keep-masks on the latent's device and in its dtype.
    return P.BatchedPerturbationConfig([cfg for _ in range(B)], num_blocks, device="cpu", dtype=dtype)


def rope_tables(mods, inputs, dtype):
    R = mods.rope
    tr = TRANSFORMER
    out = {}
    specs = {
        "video": (inputs["video"]["positions"], VIDEO_DIM, tr["positional_embedding_max_pos"], tr["num_attention_heads"]),
        "audio": (inputs["audio"]["positions"], AUDIO_DIM, tr["audio_positional_embedding_max_pos"],
                  tr["audio_num_attention_heads"]),
        "cross_video": (inputs["video"]["positions"][:, 0:1, :], tr["audio_cross_attention_dim"],
                        [max(tr["positional_embedding_max_pos"][0], tr["audio_positional_embedding_max_pos"][0])],
                        tr["num_attention_heads"]),
        "cross_audio": (inputs["audio"]["positions"][:, 0:1, :], tr["audio_cross_attention_dim"],
                        [max(tr["positional_embedding_max_pos"][0], tr["audio_positional_embedding_max_pos"][0])],
                        tr["audio_num_attention_heads"]),
    }
    for name, (pos, dim, max_pos, heads) in specs.items():
        cos, sin = R.precompute_freqs_cis(pos, dim=dim, out_dtype=dtype, theta=tr["positional_embedding_theta"],
                                          max_pos=max_pos, use_middle_indices_grid=True, num_attention_heads=heads,
                                          rope_type=R.LTXRopeType.SPLIT, freq_grid_generator=R.generate_freq_grid_np)
        out[name] = (cos.contiguous(), sin.contiguous())
    return out


# ---------------------------------------------------------------- main

def main():
    args = reference_args(ltx_core=True, make_out=True)
    gen = seeded(SEED)
    torch.set_num_threads(max(1, min(8, os.cpu_count() or 1)))

    mods = import_ltx_core(os.path.abspath(args.ltx_core))
    print(summary_line("ltx_core", os.path.abspath(args.ltx_core)))
    model, stored = build_model(mods, gen)
    print(summary_line("tensors", len(stored)))
    inputs = build_inputs(mods, gen)

    fixture = {}
    for k, v in stored.items():
        fixture[k] = v.to(torch.float32 if "scale_shift_table" in k else torch.bfloat16).contiguous()
    fixture["in.video_latent_5d"] = inputs["video_5d"].to(torch.bfloat16).contiguous()
    fixture["in.audio_latent_4d"] = inputs["audio_4d"].to(torch.bfloat16).contiguous()
    for m in ("video", "audio"):
        d = inputs[m]
        fixture[f"in.{m}.latent"] = d["latent"].to(torch.bfloat16).contiguous()
        fixture[f"in.{m}.context"] = d["context"].to(torch.bfloat16).contiguous()
        fixture[f"in.{m}.timesteps"] = d["timesteps"].float().contiguous()
        fixture[f"in.{m}.sigma"] = d["sigma"].float().contiguous()
        fixture[f"in.{m}.positions"] = d["positions"].float().contiguous()

    R = mods.rope
    fixture["grid.video.f64"] = R.generate_freq_grid_np(10000.0, 3, 4096).contiguous()
    fixture["grid.audio.f64"] = R.generate_freq_grid_np(10000.0, 1, 2048).contiguous()
    fixture["grid.video.f32"] = R.generate_freq_grid_pytorch(10000.0, 3, 4096).contiguous()
    print(summary_line("grid_f32_vs_f64", rel_err(fixture["grid.video.f32"], fixture["grid.video.f64"])))

    x0_model = mods.model.X0Model(model)
    results = {}
    for tag, dtype in (("f32", torch.float32), ("bf16", torch.bfloat16)):
        model.to(dtype)
        for name, (cos, sin) in rope_tables(mods, inputs, dtype).items():
            fixture[f"rope.{name}.cos.{tag}"] = cos
            fixture[f"rope.{name}.sin.{tag}"] = sin
        for kind in ("plain", "stg", "mod"):
            video = modality(mods, inputs["video"], dtype)
            audio = modality(mods, inputs["audio"], dtype)
            with torch.no_grad():
                vv, av = model(video, audio, perturbations(mods, kind, model.num_blocks, dtype))
                vx0, ax0 = x0_model(video, audio, perturbations(mods, kind, model.num_blocks, dtype))
            results[(kind, tag)] = (vv, av)
            fixture[f"out.{kind}.{tag}.video"] = vv.contiguous()
            fixture[f"out.{kind}.{tag}.audio"] = av.contiguous()
            fixture[f"out.{kind}.{tag}.video_x0"] = vx0.contiguous()
            fixture[f"out.{kind}.{tag}.audio_x0"] = ax0.contiguous()
            print(summary_line(f"{kind}.{tag}", {"video_norm": float(vv.float().norm()),
                                                 "audio_norm": float(av.float().norm()),
                                                 "video_x0_norm": float(vx0.float().norm())}))
    for kind in ("plain", "stg", "mod"):
        f, h = results[(kind, "f32")], results[(kind, "bf16")]
        print(summary_line(f"bf16_vs_f32.{kind}", [rel_err(h[0], f[0]), rel_err(h[1], f[1])]))
    p = results[("plain", "f32")]
    for kind in ("stg", "mod"):
        q = results[(kind, "f32")]
        print(summary_line(f"{kind}_vs_plain.f32", [rel_err(q[0], p[0]), rel_err(q[1], p[1])]))

    path = os.path.join(args.out, "av_transformer.safetensors")
    # Own storage per entry (cached grids and views must not share memory in the file).
    fixture = {k: v.detach().clone().contiguous() for k, v in fixture.items()}
    write_fixture(fixture, path, {
        "config": json.dumps({"transformer": TRANSFORMER}),
        "stg_block": str(STG_BLOCK), "fps": str(FPS),
        "generator": "tests/worker/engine/ltx2/reference/av_transformer_reference.py"})


if __name__ == "__main__":
    main()
