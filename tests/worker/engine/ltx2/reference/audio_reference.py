"""Parity reference for the C++ LTX-2.3 audio path (worker/engine/ltx2/audio_decoder.*, vocoder*.*).

Builds ltx-core's own modules through its configurators (AudioDecoderConfigurator,
VocoderConfigurator -> VocoderWithBWE) from a tiny config laid out exactly like the published
checkpoint's "config" metadata sections "audio_vae" and "vocoder", fills them with random weights
stored under the published names (audio_vae.decoder.*, audio_vae.per_channel_statistics.*,
vocoder.vocoder.*, vocoder.bwe_generator.*, vocoder.mel_stft.*; bf16 values, as the file stores
them) loaded through ltx-core's own key filters, and runs on the CPU:

  audio decoder  latent [2, 8, 6, 2] -> log-mel [2, 2, 21, 8]   (fp32 and bf16 modules; plus the
                 same fp32 weights under configs with mel_bins 6 (crop) and 10 (pad))
  vocoder + BWE  mel [2, 2, 10, 64] -> waveform [2, 2, 240] at 48 kHz (fp32; and the bf16 input
                 whose output the reference returns as bf16)

The tiny decoder keeps ch == z_channels x latent mel bins (16 = 8 x 2), because ltx-core sizes the
per-channel statistics by `ch` and applies them to the patchified (z x mel) latent. The vocoders'
input width is fixed at 128 = 2 x 64 mels by ltx-core, so the vocoder input has 64 mel bins.

Writes tests/worker/engine/ltx2/fixtures/audio.safetensors into --out:
  weights   published names, BF16
  inputs    input.latent [2,8,6,2] F32 (bf16-exact), input.mel [2,2,10,64] F32 (bf16-exact)
  expected  expected.mel_f32, expected.mel_bf16 (BF16), expected.mel_f32_crop6, expected.mel_f32_pad10,
            expected.wave_f32, expected.wave_bf16 (BF16), and intermediates of the fp32 vocoder:
            expected.wave16k_f32 (base BigVGAN output), expected.bwe_logmel_f32 [B,2,64,frames],
            expected.bwe_residual_f32, expected.bwe_skip_f32, expected.resampler_filter [1,1,43]
  metadata  "config" = {"audio_vae": ..., "vocoder": ...} (JSON string, like the published file),
            "config_crop6", "config_pad10" (the same with ddconfig.mel_bins 6 / 10)
Usage: python3 tests/worker/engine/ltx2/reference/audio_reference.py --out tests/worker/engine/ltx2/fixtures [--ltx-core PATH]
"""
import copy
import json
import math
import os
import sys
import tempfile
import types

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "reference"))
from common import bf16_exact, reference_args, rel_err, seeded, stub_module, summary, write_fixture  # noqa: E402
from ltx23_config import AUDIO_VAE as PUBLISHED_AUDIO_VAE, VOCODER as PUBLISHED_VOCODER, derived  # noqa: E402

SEED = 2323

# The published "audio_vae" section (same keys, same order), shrunk: ch 16 = z_channels 8 x 2 latent
# mel bins (see above), 8 mel bins.
AUDIO_VAE = derived(PUBLISHED_AUDIO_VAE, {
    "model": {"params": {"ddconfig": {"mel_bins": 8, "resolution": 32, "ch": 16}}},
    "preprocessing": {"mel": {"n_mel_channels": 8}},
})

# The published vocoders' AMP resblock settings (both generators share them), in the order the
# fixture's "config" metadata lists them: first in each section here, unlike the published file.
_AMP = {key: PUBLISHED_VOCODER["vocoder"][key]
        for key in ("resblock", "resblock_kernel_sizes", "resblock_dilation_sizes", "stereo", "use_tanh_at_final",
                    "activation", "use_bias_at_final")}
VOCODER = {
    "vocoder": dict(_AMP, upsample_initial_channel=16, upsample_rates=[4, 2], upsample_kernel_sizes=[8, 4]),
    "bwe": dict(
        _AMP,
        upsample_initial_channel=16,
        upsample_rates=[6, 3],
        upsample_kernel_sizes=[12, 7],
        apply_final_activation=False,
        input_sampling_rate=16000,
        output_sampling_rate=48000,
        hop_length=6,
        n_fft=128,
        win_size=128,
        num_mels=64,
    ),
}

B, LATENT_T, LATENT_F = 2, 6, 2
MEL_T = 10


def import_ltx_core(path):
    sys.path.insert(0, path)
    try:
        import torchaudio  # noqa: F401  (only AudioProcessor needs it; not on the decode path)
    except Exception:  # noqa: BLE001
        stub_module("torchaudio", transforms=types.SimpleNamespace(), functional=types.SimpleNamespace())
    from ltx_core.model.audio_vae import model_configurator as mc

    return mc


# ---------------------------------------------------------------- stored bases of the BWE mel-STFT


def slaney_mel_basis(sr, n_fft, n_mels, fmin, fmax):
    """Triangular Slaney-scale, Slaney-normalised filterbank [n_mels, n_fft/2+1] (float64)."""
    f_sp = 200.0 / 3.0
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, math.log(6.4) / 27.0

    def hz_to_mel(f):
        return f / f_sp if f < min_log_hz else min_log_mel + math.log(f / min_log_hz) / logstep

    def mel_to_hz(m):
        return m * f_sp if m < min_log_mel else min_log_hz * math.exp(logstep * (m - min_log_mel))

    n_freqs = n_fft // 2 + 1
    fft_freqs = torch.linspace(0, sr / 2.0, n_freqs, dtype=torch.float64)
    mels = torch.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2, dtype=torch.float64)
    mel_f = torch.tensor([mel_to_hz(float(m)) for m in mels], dtype=torch.float64)
    fdiff = mel_f[1:] - mel_f[:-1]
    ramps = mel_f[:, None] - fft_freqs[None, :]
    weights = torch.zeros(n_mels, n_freqs, dtype=torch.float64)
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = torch.clamp(torch.minimum(lower, upper), min=0.0)
    enorm = 2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels])
    return weights * enorm[:, None]


def stft_bases(n_fft):
    """Forward basis: rows [0, n_freqs) = cos, [n_freqs, 2 n_freqs) = -sin, times a periodic Hann
    window ([2 n_freqs, 1, n_fft]); inverse basis: the pseudo-inverse (unused by the forward)."""
    n_freqs = n_fft // 2 + 1
    n = torch.arange(n_fft, dtype=torch.float64)
    k = torch.arange(n_freqs, dtype=torch.float64)
    ang = 2.0 * math.pi * k[:, None] * n[None, :] / n_fft
    window = 0.5 - 0.5 * torch.cos(2.0 * math.pi * n / n_fft)
    fourier = torch.cat([torch.cos(ang), -torch.sin(ang)], dim=0)
    forward = (fourier * window[None, :])[:, None, :]
    inverse = torch.linalg.pinv(fourier).T[:, None, :]
    return forward, inverse


# ---------------------------------------------------------------- random weights by published name


def decoder_published(name):
    if name.startswith("per_channel_statistics."):
        return "audio_vae." + name
    return "audio_vae.decoder." + name


def vocoder_published(name):
    return "vocoder." + name


def ups_stride(published):
    # vocoder.{vocoder|bwe_generator}.ups.{i}.weight -> that stage's upsample rate
    parts = published.split(".")
    cfg = VOCODER["vocoder"] if parts[1] == "vocoder" else VOCODER["bwe"]
    return cfg["upsample_rates"][int(parts[3])]


def make_weights(module, to_published, gen):
    out = {}
    bwe = VOCODER["bwe"]
    for name, t in module.state_dict().items():
        pub = to_published(name)
        shape = tuple(t.shape)
        if name.endswith(".filter"):  # anti-aliasing kaiser filters: stored, keep their values
            v = t.detach().clone().float()
        elif name.endswith("std-of-means"):
            v = torch.rand(shape, generator=gen) + 0.5
        elif name.endswith("mean-of-means"):
            v = torch.randn(shape, generator=gen) * 0.3
        elif name.endswith(".alpha") or name.endswith(".beta"):  # log-scale SnakeBeta parameters
            v = torch.randn(shape, generator=gen) * 0.3
        elif name == "mel_stft.mel_basis":
            v = slaney_mel_basis(bwe["input_sampling_rate"], bwe["n_fft"], bwe["num_mels"], 0.0,
                                 bwe["input_sampling_rate"] / 2.0).float()
        elif name == "mel_stft.stft_fn.forward_basis":
            v = stft_bases(bwe["n_fft"])[0].float()
        elif name == "mel_stft.stft_fn.inverse_basis":
            v = stft_bases(bwe["n_fft"])[1].float()
        elif name.endswith(".bias"):
            v = torch.randn(shape, generator=gen) * 0.05
        elif name.endswith(".weight"):
            if ".ups." in "." + name:  # ConvTranspose1d [in, out, k]
                fan_in = shape[0] * shape[2] / ups_stride(pub)
            else:
                fan_in = 1
                for s in shape[1:]:
                    fan_in *= s
            v = torch.randn(shape, generator=gen) / math.sqrt(fan_in)
        else:
            raise RuntimeError(f"no init rule for {name} {shape}")
        if tuple(v.shape) != shape:
            raise RuntimeError(f"{name}: made {tuple(v.shape)}, module wants {shape}")
        out[pub] = bf16_exact(v)
    return out


def load_published(module, weights, sd_ops, kv=False):
    sd = {}
    for pub, v in weights.items():
        key = sd_ops.apply_to_key(pub)
        if key is None:
            continue
        pairs = sd_ops.apply_to_key_value(key, v) if kv else [(key, v)]
        for k, val in pairs:
            sd[k] = val
    missing, unexpected = module.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise RuntimeError(f"load mismatch: missing={missing[:8]} unexpected={unexpected[:8]}")


def run_with_hook(model, module, x):
    box = {}

    def hook(_m, _inp, out):
        box["out"] = out.detach().clone()

    handle = module.register_forward_hook(hook)
    try:
        with torch.no_grad():
            y = model(x)
    finally:
        handle.remove()
    return y, box["out"]


# ---------------------------------------------------------------- main


def main():
    args = reference_args(ltx_core=True)
    gen = seeded(SEED)  # a generator of its own: the import below cannot move its stream
    torch.set_num_threads(max(1, min(8, os.cpu_count() or 1)))
    mc = import_ltx_core(args.ltx_core)

    config = {"audio_vae": AUDIO_VAE, "vocoder": VOCODER}
    meta = {"config": config}

    # ---- audio decoder
    decoder = mc.AudioDecoderConfigurator.from_metadata(meta).eval().float()
    dec_w = make_weights(decoder, decoder_published, gen)
    load_published(decoder, dec_w, mc.AUDIO_VAE_DECODER_COMFY_KEYS_FILTER)
    summary("decoder_tensors", len(dec_w))

    latent = bf16_exact(torch.randn(B, 8, LATENT_T, LATENT_F, generator=gen))
    with torch.no_grad():
        mel_f32 = decoder(latent)
        dec_bf16 = copy.deepcopy(decoder).to(torch.bfloat16)
        mel_bf16 = dec_bf16(latent.to(torch.bfloat16))
    summary("mel_shape", list(mel_f32.shape))
    summary("mel_std", float(mel_f32.std()))
    summary("mel_bf16_vs_f32", rel_err(mel_bf16.float(), mel_f32))

    variants = {}
    for tag, bins in (("crop6", 6), ("pad10", 10)):
        cfg_v = copy.deepcopy(config)
        cfg_v["audio_vae"]["model"]["params"]["ddconfig"]["mel_bins"] = bins
        dec_v = mc.AudioDecoderConfigurator.from_metadata({"config": cfg_v}).eval().float()
        load_published(dec_v, dec_w, mc.AUDIO_VAE_DECODER_COMFY_KEYS_FILTER)
        with torch.no_grad():
            variants[tag] = (cfg_v, dec_v(latent))
        summary(f"mel_{tag}_shape", list(variants[tag][1].shape))

    # ---- vocoder with bandwidth extension
    vocoder = mc.VocoderConfigurator.from_metadata(meta).eval().float()
    if type(vocoder).__name__ != "VocoderWithBWE":
        raise RuntimeError(f"configurator built {type(vocoder).__name__}, expected VocoderWithBWE")
    voc_w = make_weights(vocoder, vocoder_published, gen)
    load_published(vocoder, voc_w, mc.VOCODER_COMFY_KEYS_FILTER, kv=True)
    summary("vocoder_tensors", len(voc_w))

    mel_in = bf16_exact(torch.randn(B, 2, MEL_T, 64, generator=gen) * 1.5 - 3.0)
    # Scale the two final convolutions so the waveform mostly stays inside the +-1 clamp (a
    # saturated output would hide errors); the scaled weights are what the fixture stores.
    for key, sub, target in (("vocoder.vocoder.conv_post.weight", vocoder.vocoder.conv_post, 0.35),
                             ("vocoder.bwe_generator.conv_post.weight", vocoder.bwe_generator.conv_post, 0.15)):
        _, pre = run_with_hook(vocoder, sub, mel_in)
        std = float(pre.std())
        if not math.isfinite(std) or std <= 0:
            raise RuntimeError(f"{key}: pre-activation std {std}")
        voc_w[key] = bf16_exact(voc_w[key] * (target / std))
        load_published(vocoder, voc_w, mc.VOCODER_COMFY_KEYS_FILTER, kv=True)
        summary(f"scale[{key}]", target / std)

    with torch.no_grad():
        wave_f32 = vocoder(mel_in)
        wave_bf16 = vocoder(mel_in.to(torch.bfloat16))
        # intermediates, recomputed with the module's own pieces
        base = vocoder.vocoder(mel_in.float())
        hop = vocoder.hop_length
        rem = base.shape[-1] % hop
        padded = torch.nn.functional.pad(base, (0, hop - rem)) if rem else base
        logmel = vocoder._compute_mel(padded)
        residual = vocoder.bwe_generator(logmel.transpose(2, 3))
        skip = vocoder.resampler(padded)
    out_len = base.shape[-1] * vocoder.output_sampling_rate // vocoder.input_sampling_rate
    recomposed = torch.clamp(residual + skip, -1, 1)[..., :out_len]
    summary("wave_shape", list(wave_f32.shape))
    summary("wave_bf16_dtype", str(wave_bf16.dtype))
    summary("wave16k_shape", list(base.shape))
    summary("wave16k_clamped_fraction", float((base.abs() >= 1).float().mean()))
    summary("wave_clamped_fraction", float((wave_f32.abs() >= 1).float().mean()))
    summary("wave_std", float(wave_f32.std()))
    summary("residual_std", float(residual.std()))
    summary("logmel_clamped_fraction", float((logmel <= math.log(1e-5) + 1e-6).float().mean()))
    summary("recomposed_vs_forward", rel_err(recomposed, wave_f32))
    summary("wave_bf16_vs_f32", rel_err(wave_bf16.float(), wave_f32))

    # How the pipeline really runs it: bf16 weights, fp32 autocast (may be unsupported on CPU).
    try:
        voc_bf16 = copy.deepcopy(vocoder).to(torch.bfloat16)
        with torch.no_grad():
            w_auto = voc_bf16(mel_in.to(torch.bfloat16))
        summary("autocast_bf16_module_vs_f32_module", rel_err(w_auto.float(), wave_bf16.float()))
    except Exception as e:  # noqa: BLE001
        summary("autocast_bf16_module", f"not runnable here: {type(e).__name__}: {str(e)[:160]}")

    # ---- fixture
    tensors = {}
    for k, v in list(dec_w.items()) + list(voc_w.items()):
        tensors[k] = v.to(torch.bfloat16).contiguous()
    tensors["input.latent"] = latent.contiguous()
    tensors["input.mel"] = mel_in.contiguous()
    tensors["expected.mel_f32"] = mel_f32.float().contiguous()
    tensors["expected.mel_bf16"] = mel_bf16.to(torch.bfloat16).contiguous()
    tensors["expected.mel_f32_crop6"] = variants["crop6"][1].float().contiguous()
    tensors["expected.mel_f32_pad10"] = variants["pad10"][1].float().contiguous()
    tensors["expected.wave_f32"] = wave_f32.float().contiguous()
    tensors["expected.wave_bf16"] = wave_bf16.to(torch.bfloat16).contiguous()
    tensors["expected.wave16k_f32"] = base.float().contiguous()
    tensors["expected.bwe_logmel_f32"] = logmel.float().contiguous()
    tensors["expected.bwe_residual_f32"] = residual.float().contiguous()
    tensors["expected.bwe_skip_f32"] = skip.float().contiguous()
    tensors["expected.resampler_filter"] = vocoder.resampler.filter.float().contiguous()
    metadata = {
        "config": json.dumps(config),
        "config_crop6": json.dumps(variants["crop6"][0]),
        "config_pad10": json.dumps(variants["pad10"][0]),
    }
    from safetensors.torch import save_file

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "audio.safetensors")
    write_fixture(tensors, path, metadata)

    # ---- cross-check: ltx-core's own single-file builder on a weights-only copy of the fixture
    try:
        from ltx_core.loader.single_gpu_model_builder import SingleGPUModelBuilder

        with tempfile.TemporaryDirectory() as tmp:
            wpath = os.path.join(tmp, "weights.safetensors")
            save_file({k: v for k, v in tensors.items() if not k.startswith(("input.", "expected."))}, wpath,
                      metadata={"config": json.dumps(config)})
            cpu = torch.device("cpu")
            dec_b = SingleGPUModelBuilder(model_class_configurator=mc.AudioDecoderConfigurator, model_path=wpath,
                                          model_sd_ops=mc.AUDIO_VAE_DECODER_COMFY_KEYS_FILTER).build(
                device=cpu, dtype=torch.bfloat16).eval()
            voc_b = SingleGPUModelBuilder(model_class_configurator=mc.VocoderConfigurator, model_path=wpath,
                                          model_sd_ops=mc.VOCODER_COMFY_KEYS_FILTER).build(
                device=cpu, dtype=torch.float32).eval()
            with torch.no_grad():
                summary("builder_mel_bf16_vs_fixture", rel_err(dec_b(latent.to(torch.bfloat16)).float(),
                                                               mel_bf16.float()))
                summary("builder_wave_f32_vs_fixture", rel_err(voc_b(mel_in).float(), wave_f32))
    except Exception as e:  # noqa: BLE001
        summary("builder_cross_check", f"failed: {type(e).__name__}: {str(e)[:200]}")

    summary("done", True)


if __name__ == "__main__":
    main()
