"""Parity reference for the C++ Gemma-3 text model (worker/engine/text/gemma_model.*).

Builds a tiny random Gemma3TextModel with HF transformers (sliding window shorter than the
sequence, sliding and full layers with their own RoPE bases, linear RoPE scaling on the full
layers, GQA, q/k norms, query_pre_attn_scalar != head_dim), runs it on a left-padded batch of
3 rows in float32 and bfloat16 (eager attention, CPU), and writes one small safetensors fixture:
  weights   language_model.model.* (HF names, bf16-exact values stored as BF16)
  inputs    input_ids, attention_mask (I64, [B, T])
  expected  expected_f32.hidden.N (F32), expected_bf16.hidden.N (BF16), N = 0..layers
  metadata  "config" = the text config in the transformers 4.x dialect (what config.json holds)
Also runs an independent plain-torch implementation of the same math and prints its distance to
HF, so a mismatch can be attributed. Usage: python3 gemma3_reference.py --out DIR
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "reference"))
from common import randn, reference_args, rel_err, seeded, summary_line, write_fixture  # noqa: E402

CONFIG_V4 = {
    "model_type": "gemma3_text",
    "vocab_size": 96,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 6,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 8,
    "query_pre_attn_scalar": 12,
    "sliding_window": 4,
    "sliding_window_pattern": 3,
    "rope_theta": 1000000.0,
    "rope_local_base_freq": 10000.0,
    "rope_scaling": {"rope_type": "linear", "factor": 8.0},
    "rms_norm_eps": 1e-06,
    "hidden_activation": "gelu_pytorch_tanh",
    "attn_logit_softcapping": None,
    "final_logit_softcapping": None,
    "pad_token_id": 0,
    "bos_token_id": 2,
    "eos_token_id": 1,
    "max_position_embeddings": 512,
    "torch_dtype": "float32",
}
LENGTHS = [12, 7, 1]  # real tokens per row; T = 12, left padding
SEED = 1234


def layer_types():
    p = CONFIG_V4["sliding_window_pattern"]
    return ["sliding_attention" if (i + 1) % p else "full_attention" for i in range(CONFIG_V4["num_hidden_layers"])]


def expected_inv_freq(theta, factor):
    d = CONFIG_V4["head_dim"]
    return (1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))) / factor


def make_config():
    """Gemma3TextConfig for CONFIG_V4, in whichever dialect this transformers accepts."""
    from transformers import Gemma3TextConfig

    base = {k: v for k, v in CONFIG_V4.items()
            if k not in ("model_type", "rope_theta", "rope_local_base_freq", "rope_scaling",
                         "sliding_window_pattern", "torch_dtype")}
    attempts = []
    v5 = dict(base, layer_types=layer_types(), rope_parameters={
        "full_attention": {"rope_type": "linear", "rope_theta": CONFIG_V4["rope_theta"], "factor": 8.0},
        "sliding_attention": {"rope_type": "default", "rope_theta": CONFIG_V4["rope_local_base_freq"]},
    })
    v4 = dict(base, rope_theta=CONFIG_V4["rope_theta"], rope_local_base_freq=CONFIG_V4["rope_local_base_freq"],
              rope_scaling=CONFIG_V4["rope_scaling"], sliding_window_pattern=CONFIG_V4["sliding_window_pattern"])
    for name, kw in (("v5", v5), ("v4", v4)):
        try:
            cfg = Gemma3TextConfig(**kw)
            cfg._attn_implementation = "eager"
            attempts.append((name, cfg))
        except Exception as e:  # noqa: BLE001
            print(summary_line("config_" + name + "_rejected", repr(e)))
    return attempts


def rotary_ok(model):
    """Checks the model's RoPE buffers against the intended bases/scaling."""
    g = expected_inv_freq(CONFIG_V4["rope_theta"], 8.0)
    l = expected_inv_freq(CONFIG_V4["rope_local_base_freq"], 1.0)
    found = {}
    re = getattr(model, "rotary_emb", None)
    if re is not None and hasattr(re, "full_attention_inv_freq"):
        found["global"] = re.full_attention_inv_freq
        found["local"] = re.sliding_attention_inv_freq
    elif re is not None and hasattr(re, "inv_freq") and hasattr(model, "rotary_emb_local"):
        found["global"] = re.inv_freq
        found["local"] = model.rotary_emb_local.inv_freq
    if not found:
        return False, "no rotary buffers found"
    ok = torch.allclose(found["global"].float().cpu(), g, rtol=1e-6) and torch.allclose(
        found["local"].float().cpu(), l, rtol=1e-6)
    return ok, {"global": found["global"].tolist(), "local": found["local"].tolist()}


def random_weights(model, gen):
    sd = {}
    for name, p in model.state_dict().items():
        if name.endswith("norm.weight") or "layernorm" in name:
            sd[name] = randn(gen, p.shape, 0.3)
        elif name == "embed_tokens.weight":
            sd[name] = randn(gen, p.shape, 1.0 / math.sqrt(CONFIG_V4["hidden_size"]))
        elif p.dim() == 2:
            sd[name] = randn(gen, p.shape, 1.0 / math.sqrt(p.shape[1]))
        else:
            sd[name] = randn(gen, p.shape, 0.1)
    return sd


def inputs(gen):
    b, t = len(LENGTHS), max(LENGTHS)
    ids = torch.zeros(b, t, dtype=torch.int64)
    mask = torch.zeros(b, t, dtype=torch.int64)
    for i, n in enumerate(LENGTHS):
        ids[i, t - n] = 2  # BOS
        if n > 1:
            ids[i, t - n + 1:] = torch.randint(3, CONFIG_V4["vocab_size"], (n - 1,), generator=gen)
        mask[i, t - n:] = 1
    return ids, mask


# ---- independent plain-torch implementation (diagnostics only)

def plain_forward(sd, ids, mask, dtype):
    c = CONFIG_V4
    h, nh, nkv, hd = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
    W = {k: v.to(dtype) for k, v in sd.items()}

    def norm(x, w):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + c["rms_norm_eps"]) * (1 + w.float())).to(x.dtype)

    b, t = ids.shape
    pos = torch.arange(t).float()

    def tables(theta, factor):
        inv = expected_inv_freq(theta, factor)
        f = pos[:, None] * inv[None]
        e = torch.cat([f, f], -1)
        return e.cos().to(dtype), e.sin().to(dtype)

    rot = lambda x: torch.cat([-x[..., hd // 2:], x[..., :hd // 2]], -1)  # noqa: E731
    glob, loc = tables(c["rope_theta"], 8.0), tables(c["rope_local_base_freq"], 1.0)
    qi, ki = torch.arange(t)[:, None], torch.arange(t)[None, :]
    valid = mask.bool()[:, None, None, :]
    causal = (ki <= qi)[None, None]
    window = ((qi - ki) < c["sliding_window"])[None, None]
    x = W["embed_tokens.weight"][ids] * torch.tensor(h ** 0.5).to(dtype)
    out = [x]
    for l, lt in enumerate(layer_types()):
        p = f"layers.{l}."
        r = x
        y = norm(x, W[p + "input_layernorm.weight"])
        q = (y @ W[p + "self_attn.q_proj.weight"].T).view(b, t, nh, hd)
        k = (y @ W[p + "self_attn.k_proj.weight"].T).view(b, t, nkv, hd)
        v = (y @ W[p + "self_attn.v_proj.weight"].T).view(b, t, nkv, hd).transpose(1, 2)
        q = norm(q, W[p + "self_attn.q_norm.weight"]).transpose(1, 2)
        k = norm(k, W[p + "self_attn.k_norm.weight"]).transpose(1, 2)
        cos, sin = loc if lt == "sliding_attention" else glob
        q = q * cos + rot(q) * sin
        k = k * cos + rot(k) * sin
        k = k.repeat_interleave(nh // nkv, 1)
        v = v.repeat_interleave(nh // nkv, 1)
        allowed = causal & valid
        if lt == "sliding_attention":
            allowed = allowed & window
        allowed = allowed | torch.eye(t, dtype=torch.bool)[None, None]
        s = (q @ k.transpose(-1, -2)).float() * c["query_pre_attn_scalar"] ** -0.5
        s = s.masked_fill(~allowed, float("-inf"))
        a = (torch.softmax(s, -1).to(dtype) @ v).transpose(1, 2).reshape(b, t, nh * hd)
        o = a @ W[p + "self_attn.o_proj.weight"].T
        x = r + norm(o, W[p + "post_attention_layernorm.weight"])
        y = norm(x, W[p + "pre_feedforward_layernorm.weight"])
        g = torch.nn.functional.gelu(y @ W[p + "mlp.gate_proj.weight"].T, approximate="tanh")
        m = (g * (y @ W[p + "mlp.up_proj.weight"].T)) @ W[p + "mlp.down_proj.weight"].T
        x = x + norm(m, W[p + "post_feedforward_layernorm.weight"])
        if l + 1 < len(layer_types()):
            out.append(x)
    out.append(norm(x, W["norm.weight"]))
    return out


def main():
    args = reference_args(make_out=True)
    import transformers
    from transformers import Gemma3TextModel

    print(summary_line("versions", {"torch": torch.__version__, "transformers": transformers.__version__}))
    gen = seeded(SEED)
    chosen = None
    first = None
    for name, cfg in make_config():
        model = Gemma3TextModel(cfg).eval()
        first = first or (name + "-UNVERIFIED", cfg, model)
        ok, info = rotary_ok(model)
        lt = list(getattr(cfg, "layer_types", []) or [])
        print(summary_line("config_" + name, {"rotary_ok": ok, "rotary": info, "layer_types": lt}))
        if ok and lt == layer_types():
            chosen = (name, cfg, model)
            break
    if chosen is None:
        print(summary_line("WARNING", "no config dialect verified; using the first one"))
        chosen = first
    name, cfg, model = chosen
    sd = random_weights(model, gen)
    model.load_state_dict(sd)
    ids, mask = inputs(gen)
    fixture = {}
    for k, v in sd.items():
        fixture["language_model.model." + k] = v.to(torch.bfloat16).contiguous()
    fixture["input_ids"] = ids
    fixture["attention_mask"] = mask
    report = {"dialect": name}
    for tag, dtype in (("f32", torch.float32), ("bf16", torch.bfloat16)):
        # Cast parameters only: RoPE inv_freq buffers stay fp32, as when HF loads a bf16 checkpoint.
        for prm in model.parameters():
            prm.data = prm.data.to(dtype)
        m = model
        with torch.no_grad():
            hs = m(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
            plain = plain_forward(sd, ids, mask, dtype)
        assert len(hs) == CONFIG_V4["num_hidden_layers"] + 1, len(hs)
        valid = mask.bool()
        errs = [rel_err(p[valid], h[valid]) for p, h in zip(plain, hs)]
        report["plain_vs_hf_" + tag] = errs
        for i, h in enumerate(hs):
            fixture[f"expected_{tag}.hidden.{i}"] = h.to(dtype).contiguous()
    print(summary_line("report", report))
    path = os.path.join(args.out, "gemma3_tiny.safetensors")
    write_fixture(fixture, path, {"config": json.dumps(CONFIG_V4), "lengths": json.dumps(LENGTHS),
                                  "generator": "tests/worker/engine/text/reference/gemma3_reference.py"})


if __name__ == "__main__":
    main()
