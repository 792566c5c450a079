"""Parity reference for the C++ LTX-2.3 embeddings processor (worker/engine/text/embeddings_processor.*).

Runs Lightricks' ltx-core modules (FeatureExtractorV2, Embeddings1DConnector, EmbeddingsProcessor)
from a fetched copy of packages/ltx-core/src (path in --ltx-core, default ../../../.refs/ltx-core/src;
the copy is git-ignored and never committed) on tiny random weights and random "Gemma hidden
states" of a left-padded batch, in float32 and bfloat16 on the CPU. A faithful plain-torch
reimplementation of the same semantics runs too; when ltx-core cannot be imported the
reimplementation provides the expected values and the report says so.

Two connector configurations: A = LTX-2.3's (split RoPE, float64 frequency grid, gated
attention) and B = (interleaved RoPE, float32 grid, no gates; fp32 only).
Writes tests/worker/engine/text/fixtures-style file ltx_processor_tiny.safetensors into --out:
  weights   text_embedding_projection.*, model.diffusion_model.{video,audio}_embeddings_connector.*
            (checkpoint names, bf16-exact values stored as BF16)
  inputs    hidden.N [B, T, D] (BF16), attention_mask [B, T] (I64)
  expected  expected_f32.{video,audio}, expected_bf16.{video,audio}, expected_b_f32.{video,audio}
  metadata  "config" (config A as in the LTX checkpoint metadata), "config_b", "gemma_config"
Usage: python3 ltx_processor_reference.py --out DIR [--ltx-core PATH]
"""
import json
import math
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "reference"))
from common import bare_packages, randn, reference_args, rel_err, seeded, summary_line, write_fixture  # noqa: E402

D, LAYERS = 32, 6            # Gemma hidden size and layer count (L = LAYERS + 1 hidden states)
L = LAYERS + 1
T, LENGTHS = 128, [90, 7]    # T must be a multiple of the 128 registers; left padding
REGISTERS = 128
SEED = 4321

TRANSFORMER_A = {
    "num_attention_heads": 2, "attention_head_dim": 16,
    "audio_num_attention_heads": 2, "audio_attention_head_dim": 8,
    "caption_proj_before_connector": True, "caption_projection_first_linear": False,
    "caption_proj_input_norm": False, "caption_projection_second_linear": False,
    "connector_num_attention_heads": 2, "connector_attention_head_dim": 16, "connector_num_layers": 2,
    "audio_connector_num_attention_heads": 2, "audio_connector_attention_head_dim": 8,
    "audio_connector_num_layers": 2,
    "connector_apply_gated_attention": True, "connector_positional_embedding_max_pos": [256],
    "rope_type": "split", "frequencies_precision": "float64",
}
TRANSFORMER_B = dict(TRANSFORMER_A, rope_type="interleaved", frequencies_precision="float32",
                     connector_apply_gated_attention=False)
VIDEO_DIM, AUDIO_DIM = 32, 16


# ---------------------------------------------------------------- weights and inputs

def connector_names(prefix, dim, heads, layers, gated):
    out = [(prefix + "learnable_registers", (REGISTERS, dim))]
    for i in range(layers):
        p = f"{prefix}transformer_1d_blocks.{i}."
        for n in ("to_q", "to_k", "to_v"):
            out += [(p + f"attn1.{n}.weight", (dim, dim)), (p + f"attn1.{n}.bias", (dim,))]
        out += [(p + "attn1.q_norm.weight", (dim,)), (p + "attn1.k_norm.weight", (dim,))]
        out += [(p + "attn1.to_out.0.weight", (dim, dim)), (p + "attn1.to_out.0.bias", (dim,))]
        if gated:
            out += [(p + "attn1.to_gate_logits.weight", (heads, dim)), (p + "attn1.to_gate_logits.bias", (heads,))]
        out += [(p + "ff.net.0.proj.weight", (4 * dim, dim)), (p + "ff.net.0.proj.bias", (4 * dim,))]
        out += [(p + "ff.net.2.weight", (dim, 4 * dim)), (p + "ff.net.2.bias", (dim,))]
    return out


def all_names(gated=True):
    names = [("text_embedding_projection.video_aggregate_embed.weight", (VIDEO_DIM, D * L)),
             ("text_embedding_projection.video_aggregate_embed.bias", (VIDEO_DIM,)),
             ("text_embedding_projection.audio_aggregate_embed.weight", (AUDIO_DIM, D * L)),
             ("text_embedding_projection.audio_aggregate_embed.bias", (AUDIO_DIM,))]
    names += connector_names("model.diffusion_model.video_embeddings_connector.", VIDEO_DIM, 2, 2, gated)
    names += connector_names("model.diffusion_model.audio_embeddings_connector.", AUDIO_DIM, 2, 2, gated)
    return names


def random_weights(gen):
    sd = {}
    for name, shape in all_names(True):
        if name.endswith("learnable_registers"):
            sd[name] = (torch.rand(*shape, generator=gen) * 2 - 1).to(torch.bfloat16).float()
        elif name.endswith("norm.weight"):
            sd[name] = randn(gen, shape, 0.1, mean=1.0)
        elif len(shape) == 2:
            sd[name] = randn(gen, shape, 1.0 / math.sqrt(shape[1]))
        else:
            sd[name] = randn(gen, shape, 0.1)
    return sd


def random_hidden(gen):
    b = len(LENGTHS)
    mask = torch.zeros(b, T, dtype=torch.int64)
    for i, n in enumerate(LENGTHS):
        mask[i, T - n:] = 1
    hs = []
    for layer in range(L):
        scale = 0.5 * (3.0 ** layer)  # very different magnitudes per layer, as in Gemma
        hs.append(randn(gen, (b, T, D), scale))
    return hs, mask


# ---------------------------------------------------------------- ltx-core

def import_ltx_core(src):
    """Imports the ltx-core submodules needed here without running package __init__ files
    (they pull in the whole pipeline and optional dependencies)."""
    if not os.path.isdir(os.path.join(src, "ltx_core")):
        raise ImportError(f"no ltx_core under {src}")
    sys.path.insert(0, src)
    bare_packages(src, ("ltx_core", "ltx_core.model", "ltx_core.model.transformer", "ltx_core.text_encoders",
                        "ltx_core.text_encoders.gemma"))
    from ltx_core.text_encoders.gemma.embeddings_connector import Embeddings1DConnector  # noqa: E402
    from ltx_core.text_encoders.gemma.embeddings_processor import EmbeddingsProcessor  # noqa: E402
    from ltx_core.text_encoders.gemma.feature_extractor import FeatureExtractorV2  # noqa: E402
    from ltx_core.model.transformer.rope import LTXRopeType  # noqa: E402
    return Embeddings1DConnector, EmbeddingsProcessor, FeatureExtractorV2, LTXRopeType


def ltx_core_processor(mods, tr, sd):
    Embeddings1DConnector, EmbeddingsProcessor, FeatureExtractorV2, LTXRopeType = mods

    def connector(heads, hd, layers):
        return Embeddings1DConnector(
            attention_head_dim=hd, num_attention_heads=heads, num_layers=layers,
            positional_embedding_max_pos=tr["connector_positional_embedding_max_pos"],
            rope_type=LTXRopeType(tr["rope_type"]),
            double_precision_rope=tr["frequencies_precision"] == "float64",
            apply_gated_attention=tr["connector_apply_gated_attention"])

    fe = FeatureExtractorV2(video_aggregate_embed=torch.nn.Linear(D * L, VIDEO_DIM, bias=True), embedding_dim=D,
                            audio_aggregate_embed=torch.nn.Linear(D * L, AUDIO_DIM, bias=True))
    ep = EmbeddingsProcessor(
        feature_extractor=fe,
        video_connector=connector(tr["connector_num_attention_heads"], tr["connector_attention_head_dim"],
                                  tr["connector_num_layers"]),
        audio_connector=connector(tr["audio_connector_num_attention_heads"],
                                  tr["audio_connector_attention_head_dim"], tr["audio_connector_num_layers"]))
    mapped = {}
    for k, v in sd.items():
        if k.startswith("text_embedding_projection."):
            mapped["feature_extractor." + k[len("text_embedding_projection."):]] = v
        elif k.startswith("model.diffusion_model.video_embeddings_connector."):
            mapped["video_connector." + k[len("model.diffusion_model.video_embeddings_connector."):]] = v
        elif k.startswith("model.diffusion_model.audio_embeddings_connector."):
            mapped["audio_connector." + k[len("model.diffusion_model.audio_embeddings_connector."):]] = v
    if not tr["connector_apply_gated_attention"]:
        mapped = {k: v for k, v in mapped.items() if "to_gate_logits" not in k}
    ep.load_state_dict(mapped, strict=True)
    return ep.eval()


def run_ltx_core(ep, hs, mask, dtype):
    ep = ep.to(dtype)
    with torch.no_grad():
        out = ep.process_hidden_states(tuple(h.to(dtype) for h in hs), mask, padding_side="left")
    return out.video_encoding, out.audio_encoding


# ---------------------------------------------------------------- plain reimplementation

def plain_processor(tr, sd, hs, mask, dtype):
    W = {k: v.to(dtype) for k, v in sd.items()}
    enc = torch.stack([h.to(dtype) for h in hs], -1)  # [B, T, D, L]
    b = enc.shape[0]
    var = torch.mean(enc ** 2, dim=2, keepdim=True)
    normed = (enc * torch.rsqrt(var + 1e-6)).reshape(b, T, D * L)
    normed = torch.where(mask.bool()[..., None], normed, torch.zeros_like(normed)).to(dtype)

    def proj(name, out_dim):
        w = W[f"text_embedding_projection.{name}.weight"]
        bias = W[f"text_embedding_projection.{name}.bias"]
        return torch.nn.functional.linear(normed * math.sqrt(out_dim / D), w, bias)

    video, audio = proj("video_aggregate_embed", VIDEO_DIM), proj("audio_aggregate_embed", AUDIO_DIM)
    order = torch.argsort(mask.int(), dim=-1, descending=True, stable=True)
    lengths = mask.sum(-1)

    def rmsn(x, w=None):
        return torch.nn.functional.rms_norm(x, (x.shape[-1],), weight=w, eps=1e-6)

    def connector(x, prefix, heads, hd, layers):
        dim = heads * hd
        x = torch.gather(x, 1, order[..., None].expand_as(x))
        regs = W[prefix + "learnable_registers"].repeat(T // REGISTERS, 1)[None].expand(b, -1, -1)
        valid = (torch.arange(T)[None] < lengths[:, None])[..., None]
        x = torch.where(valid, x, regs)
        nf = dim // 2
        theta = 10000.0
        if tr["frequencies_precision"] == "float64":
            import numpy as np
            idx = torch.as_tensor(np.power(theta, np.linspace(0.0, 1.0, nf, dtype=np.float64)) * math.pi / 2,
                                  dtype=torch.float32)
        else:
            idx = theta ** torch.linspace(0.0, 1.0, nf, dtype=torch.float32) * math.pi / 2
        frac = torch.arange(T, dtype=torch.float32) / tr["connector_positional_embedding_max_pos"][0]
        freqs = idx[None] * (frac * 2 - 1)[:, None]
        if tr["rope_type"] == "split":
            cos = freqs.cos().to(dtype).view(T, heads, hd // 2)
            sin = freqs.sin().to(dtype).view(T, heads, hd // 2)

            def rope(q):
                qs = q.view(b, T, heads, 2, hd // 2)
                q1, q2 = qs[..., 0, :], qs[..., 1, :]
                return torch.stack([q1 * cos - q2 * sin, q2 * cos + q1 * sin], 3).view(b, T, dim)
        else:
            cos = freqs.cos().repeat_interleave(2, -1).to(dtype)
            sin = freqs.sin().repeat_interleave(2, -1).to(dtype)

            def rope(q):
                pr = q.view(b, T, -1, 2)
                r = torch.stack([-pr[..., 1], pr[..., 0]], -1).view(b, T, dim)
                return q * cos + r * sin
        lin = lambda x, n: torch.nn.functional.linear(x, W[n + ".weight"], W.get(n + ".bias"))  # noqa: E731
        for i in range(layers):
            p = f"{prefix}transformer_1d_blocks.{i}."
            n = rmsn(x)
            q = rope(rmsn(lin(n, p + "attn1.to_q"), W[p + "attn1.q_norm.weight"]))
            k = rope(rmsn(lin(n, p + "attn1.to_k"), W[p + "attn1.k_norm.weight"]))
            v = lin(n, p + "attn1.to_v")
            sp = lambda z: z.view(b, T, heads, hd).transpose(1, 2)  # noqa: E731
            a = torch.nn.functional.scaled_dot_product_attention(sp(q), sp(k), sp(v))
            a = a.transpose(1, 2).reshape(b, T, dim)
            if tr["connector_apply_gated_attention"]:
                g = 2.0 * torch.sigmoid(lin(n, p + "attn1.to_gate_logits"))
                a = (a.view(b, T, heads, hd) * g[..., None]).view(b, T, dim)
            x = x + lin(a, p + "attn1.to_out.0")
            m = lin(torch.nn.functional.gelu(lin(rmsn(x), p + "ff.net.0.proj"), approximate="tanh"), p + "ff.net.2")
            x = x + m
        return rmsn(x)

    v = connector(video, "model.diffusion_model.video_embeddings_connector.", tr["connector_num_attention_heads"],
                  tr["connector_attention_head_dim"], tr["connector_num_layers"])
    a = connector(audio, "model.diffusion_model.audio_embeddings_connector.",
                  tr["audio_connector_num_attention_heads"], tr["audio_connector_attention_head_dim"],
                  tr["audio_connector_num_layers"])
    return v, a


def main():
    args = reference_args(ltx_core=True, make_out=True)
    gen = seeded(SEED)
    sd = random_weights(gen)
    hs, mask = random_hidden(gen)
    try:
        mods = import_ltx_core(os.path.abspath(args.ltx_core))
        source = "ltx-core"
    except Exception as e:  # noqa: BLE001
        print(summary_line("ltx_core_import_failed", repr(e)))
        mods, source = None, "plain reimplementation"
    fixture = {k: v.to(torch.bfloat16).contiguous() for k, v in sd.items()}
    for i, h in enumerate(hs):
        fixture[f"hidden.{i}"] = h.to(torch.bfloat16).contiguous()
    fixture["attention_mask"] = mask
    report = {"expected_from": source}
    for tag, tr, dtype in (("f32", TRANSFORMER_A, torch.float32), ("bf16", TRANSFORMER_A, torch.bfloat16),
                           ("b_f32", TRANSFORMER_B, torch.float32)):
        with torch.no_grad():
            pv, pa = plain_processor(tr, sd, hs, mask, dtype)
        if mods is not None:
            try:
                ev, ea = run_ltx_core(ltx_core_processor(mods, tr, sd), hs, mask, dtype)
                report["plain_vs_ltx_" + tag] = [rel_err(pv, ev), rel_err(pa, ea)]
            except Exception as e:  # noqa: BLE001
                print(summary_line("ltx_core_run_failed_" + tag, repr(e)))
                ev, ea = pv, pa
                report["expected_from_" + tag] = "plain reimplementation"
        else:
            ev, ea = pv, pa
        fixture[f"expected_{tag}.video"] = ev.to(dtype).contiguous()
        fixture[f"expected_{tag}.audio"] = ea.to(dtype).contiguous()
    print(summary_line("report", report))
    path = os.path.join(args.out, "ltx_processor_tiny.safetensors")
    write_fixture(fixture, path, {
        "config": json.dumps({"transformer": TRANSFORMER_A}),
        "config_b": json.dumps({"transformer": TRANSFORMER_B}),
        "gemma_config": json.dumps({"model_type": "gemma3_text", "hidden_size": D, "num_hidden_layers": LAYERS,
                                    "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8,
                                    "intermediate_size": 64, "vocab_size": 96}),
        "lengths": json.dumps(LENGTHS), "expected_from": json.dumps(report),
        "generator": "tests/worker/engine/text/reference/ltx_processor_reference.py"})


if __name__ == "__main__":
    main()
