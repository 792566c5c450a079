"""Parity reference for the C++ LoRA fusion and FP8 weight storage (worker/engine/ltx2/lora.*,
fp8_storage.*).

Runs ltx-core's own apply_loras (loader/fuse_loras.py) with its default bf16 fuse rule on a tiny
model state dict in bf16 and in fp32, and with the fp8-cast policy's fuse rule
(quantization/fp8_cast.py, its deterministic CPU path) on the same weights downcast by
TRANSFORMER_LINEAR_DOWNCAST_MAP; the LoRA keys go through LTXV_LORA_COMFY_RENAMING_MAP as the
pipelines pass them. Also records which Linear names the fp8 downcast map selects, and one
Fp8CastLinear forward. CUDA is hidden so every fusion runs on the CPU (ltx-core would otherwise
move a CPU fuse to CUDA and, with Triton, round fp8 stochastically).

Writes ONE fixture, lora.safetensors, into --out:
  lora       diffusion_model.<name>.lora_{A,B}.weight   (BF16, as the published LoRA file)
  model      model_{bf16,f32}.<name>.weight             (the weights before fusion)
  expected   fused_{bf16,f32}.<name>.weight             (ltx-core's fused weights, their dtype)
             fused_fp8.<name>.weight                    (fp8 result upcast to F32, exact)
  fp8        fp8.x [4, in] BF16, fp8.weight/fp8.bias (BF16, before downcast), fp8.out (BF16):
             ltx-core's Fp8CastLinear forward
  metadata   "strength", "names" (JSON list), "fp8_cast" (JSON {name: selected})
Usage: python3 tests/worker/engine/ltx2/reference/lora_reference.py --out tests/worker/engine/ltx2/fixtures [--ltx-core PATH]
"""
import os

os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before torch: keep ltx-core's fusion on the CPU

import json  # noqa: E402
import sys  # noqa: E402

import torch  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "reference"))
from common import (ltx_core_on_path, randn, reference_args, rel_err, seeded, stub_module,  # noqa: E402
                    summary_line, write_fixture)

SEED = 384
RANK = 8
STRENGTH = 0.8
# name -> (out, in); block Linears (fp8-cast candidates) and one global Linear.
LINEARS = {
    "transformer_blocks.0.attn1.to_q": (48, 32),
    "transformer_blocks.0.audio_to_video_attn.to_out.0": (32, 24),
    "transformer_blocks.1.ff.net.2": (32, 96),
    "patchify_proj": (32, 16),
}
# Names probed against the fp8 downcast map (what ltx-core stores as float8_e4m3fn).
FP8_PROBE = [
    "transformer_blocks.0.attn1.to_q", "transformer_blocks.0.attn1.to_k", "transformer_blocks.0.attn1.to_v",
    "transformer_blocks.0.attn1.to_out.0", "transformer_blocks.0.attn1.to_gate_logits",
    "transformer_blocks.0.attn2.to_q", "transformer_blocks.0.audio_attn1.to_k",
    "transformer_blocks.0.audio_attn2.to_out.0", "transformer_blocks.0.audio_to_video_attn.to_q",
    "transformer_blocks.0.video_to_audio_attn.to_v", "transformer_blocks.0.ff.net.0.proj",
    "transformer_blocks.0.ff.net.2", "transformer_blocks.0.audio_ff.net.0.proj", "transformer_blocks.0.audio_ff.net.2",
    "transformer_blocks.47.attn1.to_q", "patchify_proj", "audio_patchify_proj", "proj_out", "audio_proj_out",
    "adaln_single.linear", "adaln_single.emb.timestep_embedder.linear_1", "prompt_adaln_single.linear",
    "av_ca_a2v_gate_adaln_single.linear",
]


def import_ltx_core(src):
    """Imports the loader and quantization modules without running package __init__ files."""
    ltx_core_on_path(src, ("ltx_core", "ltx_core.loader", "ltx_core.model", "ltx_core.model.transformer",
                           "ltx_core.quantization", "ltx_core.guidance"))
    from ltx_core.loader.fuse_loras import apply_loras, bf16_fuse_rule  # noqa: E402
    from ltx_core.loader.primitives import LoraStateDictWithStrength, StateDict  # noqa: E402
    from ltx_core.loader.sd_ops import LTXV_LORA_COMFY_RENAMING_MAP  # noqa: E402
    try:
        import ltx_core.quantization.fp8_cast as fp8  # noqa: E402
    except Exception as e:  # the transformer's import chain needs something missing: stub LTXModel
        print(summary_line("fp8_cast_import_retry_with_stub_LTXModel", repr(e)))
        for k in [k for k in sys.modules if k.startswith("ltx_core.quantization.") or k == "ltx_core.model.transformer.model"]:
            del sys.modules[k]
        stub_module("ltx_core.model.transformer.model", LTXModel=type("LTXModel", (torch.nn.Module,), {}))
        import ltx_core.quantization.fp8_cast as fp8  # noqa: E402
    return apply_loras, bf16_fuse_rule, LoraStateDictWithStrength, StateDict, LTXV_LORA_COMFY_RENAMING_MAP, fp8


def main():
    args = reference_args(ltx_core=True, make_out=True)
    gen = seeded(SEED)
    apply_loras, bf16_rule, LoraSDS, StateDict, renaming, fp8 = import_ltx_core(os.path.abspath(args.ltx_core))
    cpu = torch.device("cpu")

    def make_sd(tensors):
        return StateDict(sd=dict(tensors), device=cpu, size=sum(t.nbytes for t in tensors.values()),
                         dtype={t.dtype for t in tensors.values()})

    fixture = {}
    # Weights: fp32 values that are NOT bf16-exact (so the fp32 path's rounding shows), plus bf16.
    w32 = {n: torch.randn(o, i, generator=gen) * 0.05 for n, (o, i) in LINEARS.items()}
    lora_file = {}
    for n, (o, i) in LINEARS.items():
        lora_file[f"diffusion_model.{n}.lora_A.weight"] = randn(gen, (RANK, i), 0.3).to(torch.bfloat16)
        lora_file[f"diffusion_model.{n}.lora_B.weight"] = randn(gen, (o, RANK), 0.05).to(torch.bfloat16)
    fixture.update(lora_file)
    renamed = {}
    for k, v in lora_file.items():
        nk = renaming.apply_to_key(k)
        renamed[nk] = v
    print(summary_line("renamed_keys", sorted(renamed)))
    lora = [LoraSDS(make_sd(renamed), STRENGTH)]

    for tag, dtype in (("f32", torch.float32), ("bf16", torch.bfloat16)):
        model = {f"{n}.weight": w32[n].to(dtype) for n in LINEARS}
        for n in LINEARS:
            fixture[f"model_{tag}.{n}.weight"] = model[f"{n}.weight"].contiguous()
        fused = apply_loras(make_sd(model), lora, fuse_rule=bf16_rule).sd
        for n in LINEARS:
            f = fused[f"{n}.weight"]
            assert f.dtype == dtype, (n, f.dtype)
            fixture[f"fused_{tag}.{n}.weight"] = f.contiguous()
            print(summary_line(f"fused_{tag}.{n}.delta_rel", rel_err(f.float(), model[f"{n}.weight"].float())))

    # fp8-cast: the bf16 model through the downcast map (block Linears -> float8_e4m3fn), then the
    # policy's fuse rule.
    probe = {}
    for n in FP8_PROBE:
        out = fp8.TRANSFORMER_LINEAR_DOWNCAST_MAP.apply_to_key_value(f"{n}.weight", torch.ones(2, 2, dtype=torch.bfloat16))
        probe[n] = bool(out[0].new_value.dtype == torch.float8_e4m3fn)
    print(summary_line("fp8_cast_selection", probe))
    model8 = {}
    for n in LINEARS:
        w = w32[n].to(torch.bfloat16)
        res = fp8.TRANSFORMER_LINEAR_DOWNCAST_MAP.apply_to_key_value(f"{n}.weight", w)
        model8[res[0].new_key] = res[0].new_value
    fused8 = apply_loras(make_sd(model8), lora, fuse_rule=fp8.fp8_cast_fuse_rule).sd
    for n in LINEARS:
        f = fused8[f"{n}.weight"]
        fixture[f"fused_fp8.{n}.weight"] = f.to(torch.float32).contiguous()
        print(summary_line(f"fused_fp8.{n}.dtype", str(f.dtype)))

    # One Fp8CastLinear forward (bias included: the policy downcasts biases too).
    o, i = LINEARS["transformer_blocks.0.attn1.to_q"]
    wq = randn(gen, (o, i), 0.2).to(torch.bfloat16)
    bq = randn(gen, (o,), 0.5).to(torch.bfloat16)
    x = randn(gen, (4, i), 1.0).to(torch.bfloat16)
    root = torch.nn.Module()
    blocks = torch.nn.ModuleList([torch.nn.Module()])
    root.transformer_blocks = blocks
    blocks[0].attn1 = torch.nn.Module()
    blocks[0].attn1.to_q = torch.nn.Linear(i, o)
    fp8._amend_forward_with_upcast(root)
    lin = blocks[0].attn1.to_q
    sd8 = {}
    for suffix, t in (("weight", wq), ("bias", bq)):
        res = fp8.TRANSFORMER_LINEAR_DOWNCAST_MAP.apply_to_key_value(f"transformer_blocks.0.attn1.to_q.{suffix}", t)
        sd8[suffix] = res[0].new_value
    lin.weight.data = sd8["weight"]
    lin.bias.data = sd8["bias"]
    with torch.no_grad():
        out = lin(x)
    print(summary_line("fp8_linear", {"class": type(lin).__name__, "weight": str(lin.weight.dtype),
                                      "bias": str(lin.bias.dtype), "out": str(out.dtype)}))
    fixture.update({"fp8.x": x.contiguous(), "fp8.weight": wq.contiguous(), "fp8.bias": bq.contiguous(),
                    "fp8.out": out.contiguous()})

    path = os.path.join(args.out, "lora.safetensors")
    write_fixture(fixture, path, {"strength": json.dumps(STRENGTH), "names": json.dumps(list(LINEARS)),
                                  "fp8_cast": json.dumps(probe)}, label="fixture")


if __name__ == "__main__":
    main()
