"""Parity reference for the C++ LTX-2.3 pipeline drivers (worker/engine/ltx2/pipelines.*): whole
`two_stages` and `distilled` samples on a tiny random model.

Builds ltx-core's own modules (LTXModel through LTXModelConfigurator with every 2.3 feature on,
X0Model, BatchSplitAdapter(max_batch_size=1), LatentUpsampler through its configurator,
upsample_video, PerChannelStatistics, VideoLatentTools / AudioLatentTools, GaussianNoiser,
EulerDiffusionStep, LTX2Scheduler) and ltx-pipelines' own sampling code (FactoryGuidedDenoiser,
SimpleDenoiser, euler_denoising_loop, create_noised_state, constants). The stage driver
(ltx-pipelines utils/blocks.py DiffusionStage.__call__, whose module pulls in every model
family) is followed step by step: tools from the pixel shape, create_noised_state for video then
audio, the Euler loop, clear_conditioning, unpatchify. The four noise tensors are injected (a
GaussianNoiser whose draws come from a list, in the order stage-1 video, stage-1 audio, stage-2
video, stage-2 audio). Stage 2 of two_stages runs the SAME weights without the distilled LoRA
(LoRA fusion is tested elsewhere). Runs in float32 and bfloat16 on the CPU.

Writes tests/worker/engine/ltx2/fixtures/pipelines.safetensors:
  model.diffusion_model.*           transformer weights (published names; tables F32, rest BF16,
                                    bf16-exact values); metadata "config" = {"transformer": ...}
  upsampler.*                       upsampler weights under its file's names + "upsampler."
                                    (metadata "upsampler_config" = the upsampler file's config)
  vae.per_channel_statistics.{mean-of-means,std-of-means}   [128]
  inputs.{video_context,audio_context,video_negative,audio_negative}  F32 (bf16-exact)
  noise.{s1_video,s1_audio,s2_video,s2_audio}                          F32 (bf16-exact), patchified
  noise.seeded_cpu.{0..3}           torch.randn draws in order from one CPU generator seeded with
                                    the seed (informational: libtorch's default noise source)
  two_stages.<f32|bf16>.{stage1_video,stage1_audio,upsampled,video,audio,stage2_audio}
  distilled.<f32|bf16>.{stage1_video,stage1_audio,upsampled,video,audio}
  metadata "pipeline" = {width, height, frames, fps, seed, steps, video_guider, audio_guider,
                         stage1_sigmas, stage2_sigmas, distilled_sigmas}
Usage: python3 tests/worker/engine/ltx2/reference/pipelines_reference.py --out tests/worker/engine/ltx2/fixtures
"""
import ast
import copy
import json
import math
import os
import sys
import types

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "reference"))
from common import (bare_packages, bf16_exact, pipelines_imports, reference_args, rel_err,  # noqa: E402
                    stub_missing, summary_line, write_fixture)
from ltx23_config import UPSAMPLER_CONFIG, derived  # noqa: E402

WIDTH, HEIGHT, FRAMES, FPS, SEED = 192, 128, 17, 24.0, 10
STAGE1_STEPS = 2
NUM_LAYERS = 2
STG_BLOCK = 1
CTX_LEN = 6
TRANSFORMER = {
    "dropout": 0.0, "attention_bias": True, "num_vector_embeds": None, "activation_fn": "gelu-approximate",
    "num_embeds_ada_norm": 1000, "use_linear_projection": False, "only_cross_attention": False,
    "cross_attention_norm": True, "double_self_attention": False, "upcast_attention": False,
    "standardization_norm": "rms_norm", "norm_elementwise_affine": False, "qk_norm": "rms_norm",
    "positional_embedding_type": "rope", "use_audio_video_cross_attention": True, "share_ff": False,
    "av_cross_ada_norm": True, "use_middle_indices_grid": True,
    "num_layers": NUM_LAYERS, "num_attention_heads": 2, "attention_head_dim": 8,
    "in_channels": 128, "out_channels": 128, "cross_attention_dim": 16,
    "audio_num_attention_heads": 2, "audio_attention_head_dim": 4, "audio_in_channels": 128,
    "audio_out_channels": 128, "audio_cross_attention_dim": 8,
    "positional_embedding_theta": 10000.0, "positional_embedding_max_pos": [20, 2048, 2048],
    "audio_positional_embedding_max_pos": [20], "timestep_scale_multiplier": 1000,
    "av_ca_timestep_scale_multiplier": 1000.0, "norm_eps": 1e-06, "rope_type": "split",
    "frequencies_precision": "float64", "apply_gated_attention": True, "cross_attention_adaln": True,
    "caption_proj_before_connector": True,
}
UPSAMPLER = derived(UPSAMPLER_CONFIG, {"mid_channels": 32, "num_blocks_per_stage": 1})  # the published one, shrunk
VIDEO_GUIDER = dict(cfg_scale=3.0, stg_scale=1.0, modality_scale=3.0, rescale_scale=0.7, skip_step=0,
                    stg_blocks=[STG_BLOCK])
AUDIO_GUIDER = dict(cfg_scale=7.0, stg_scale=1.0, modality_scale=3.0, rescale_scale=0.7, skip_step=0,
                    stg_blocks=[STG_BLOCK])


def import_pipelines_helpers(pipelines_src):
    """ltx_pipelines.utils.helpers, or (when its media imports are missing) a module holding ITS
    sampling functions, compiled from its own source."""
    try:
        import ltx_pipelines.utils.helpers as h  # noqa: PLC0415
        print(summary_line("helpers", "imported"))
        return h
    except Exception as e:  # noqa: BLE001
        print(summary_line("helpers_import_failed", repr(e)))
    from ltx_core.components.noisers import Noiser  # noqa: PLC0415
    from ltx_core.conditioning import ConditioningItem  # noqa: PLC0415
    from ltx_core.model.transformer import Modality  # noqa: PLC0415
    from ltx_core.tools import LatentTools  # noqa: PLC0415
    from ltx_core.types import LatentState  # noqa: PLC0415
    path = os.path.join(pipelines_src, "ltx_pipelines", "utils", "helpers.py")
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    wanted = {"post_process_latent", "modality_from_latent_state", "timesteps_from_mask", "create_noised_state",
              "state_with_conditionings"}
    body = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in wanted]
    mod = types.ModuleType("ltx_pipelines.utils.helpers")
    mod.__dict__.update(torch=torch, Noiser=Noiser, ConditioningItem=ConditioningItem, Modality=Modality,
                        LatentTools=LatentTools, LatentState=LatentState)
    exec(compile(ast.Module(body=body, type_ignores=[]), path, "exec"), mod.__dict__)  # noqa: S102
    missing = wanted - set(mod.__dict__)
    if missing:
        raise RuntimeError(f"helpers.py lacks {missing}")
    sys.modules["ltx_pipelines.utils.helpers"] = mod
    print(summary_line("helpers", "compiled from " + path))
    return mod


def import_upsampler(core_src):
    """ltx-core's LatentUpsampler pieces. The video_vae package __init__ pulls in the whole VAE and
    tiling stacks; when that import fails, video_vae is registered as a bare package (upsampler
    model.py needs VideoEncoder only as an annotation) and the same modules load from source."""
    try:
        from ltx_core.model.upsampler import LatentUpsamplerConfigurator, upsample_video  # noqa: PLC0415
        from ltx_core.model.video_vae.ops import PerChannelStatistics  # noqa: PLC0415
        return LatentUpsamplerConfigurator, upsample_video, PerChannelStatistics
    except Exception as e:  # noqa: BLE001
        print(summary_line("upsampler_import_fallback", repr(e)))
    for name in list(sys.modules):
        if name.startswith(("ltx_core.model.video_vae", "ltx_core.model.upsampler")):
            del sys.modules[name]
    bare_packages(core_src, ("ltx_core.model.video_vae", "ltx_core.model.upsampler"))
    sys.modules["ltx_core.model.video_vae"].VideoEncoder = type("VideoEncoder", (), {})
    from ltx_core.model.upsampler.model import upsample_video  # noqa: PLC0415
    from ltx_core.model.upsampler.model_configurator import LatentUpsamplerConfigurator  # noqa: PLC0415
    from ltx_core.model.video_vae.ops import PerChannelStatistics  # noqa: PLC0415
    return LatentUpsamplerConfigurator, upsample_video, PerChannelStatistics


def random_state(names_shapes, gen):
    out = {}
    for name, shape in names_shapes:
        n = len(shape)
        if "scale_shift_table" in name:
            v = 0.1 * torch.randn(*shape, generator=gen)
        elif n == 1 and "norm" in name and name.endswith(".weight"):
            v = 1.0 + 0.1 * torch.randn(*shape, generator=gen)
        elif n >= 2:
            fan_in = 1
            for d in shape[1:]:
                fan_in *= d
            v = torch.randn(*shape, generator=gen) / math.sqrt(fan_in)
        else:
            v = 0.05 * torch.randn(*shape, generator=gen)
        out[name] = bf16_exact(v)
    return out


def main():  # noqa: PLR0915
    args = reference_args(ltx_core=True, ltx_pipelines=True)
    pipelines_imports(args.ltx_core, args.ltx_pipelines)
    stub_missing("tqdm", {"tqdm": lambda it=None, *a, **k: it})
    torch.manual_seed(0)

    from ltx_core.batch_split import BatchSplitAdapter
    from ltx_core.components.diffusion_steps import EulerDiffusionStep
    from ltx_core.components.guiders import MultiModalGuiderParams, create_multimodal_guider_factory
    from ltx_core.components.noisers import GaussianNoiser
    from ltx_core.components.patchifiers import AudioPatchifier, VideoLatentPatchifier
    from ltx_core.components.schedulers import LTX2Scheduler
    from ltx_core.model.transformer import LTXModelConfigurator, X0Model
    LatentUpsamplerConfigurator, upsample_video, PerChannelStatistics = import_upsampler(args.ltx_core)
    from ltx_core.tools import AudioLatentTools, VideoLatentTools
    from ltx_core.types import AudioLatentShape, VideoLatentShape, VideoPixelShape
    helpers = import_pipelines_helpers(args.ltx_pipelines)
    from ltx_pipelines.utils.constants import DISTILLED_SIGMAS, STAGE_2_DISTILLED_SIGMAS
    from ltx_pipelines.utils.denoisers import FactoryGuidedDenoiser, SimpleDenoiser
    from ltx_pipelines.utils.samplers import euler_denoising_loop

    tensors, meta = {}, {}
    gen = torch.Generator().manual_seed(1234)

    # ------------------------------------------------------------------ models
    model = LTXModelConfigurator.from_metadata({"config": {"transformer": TRANSFORMER}}).eval()
    sd = random_state([(k, tuple(v.shape)) for k, v in model.state_dict().items()], gen)
    model.load_state_dict(sd, strict=True)
    for k, v in sd.items():
        store = v if "scale_shift_table" in k else v.to(torch.bfloat16)
        tensors["model.diffusion_model." + k] = store.contiguous()
    meta["config"] = json.dumps({"transformer": TRANSFORMER})

    upsampler = LatentUpsamplerConfigurator.from_metadata({"config": UPSAMPLER}).eval()
    usd = random_state([(k, tuple(v.shape)) for k, v in upsampler.state_dict().items()], gen)
    upsampler.load_state_dict(usd, strict=True)
    for k, v in usd.items():
        tensors["upsampler." + k] = v.to(torch.bfloat16).contiguous()
    meta["upsampler_config"] = json.dumps(UPSAMPLER)
    stats = PerChannelStatistics(128)
    mean = bf16_exact(0.3 * torch.randn(128, generator=gen))
    std = bf16_exact(0.5 + torch.rand(128, generator=gen))
    stats.get_buffer("mean-of-means").copy_(mean)
    stats.get_buffer("std-of-means").copy_(std)
    tensors["vae.per_channel_statistics.mean-of-means"] = mean.to(torch.bfloat16)
    tensors["vae.per_channel_statistics.std-of-means"] = std.to(torch.bfloat16)
    encoder_stub = types.SimpleNamespace(per_channel_statistics=stats)

    # ------------------------------------------------------------------ inputs and noise
    ctx = {
        "video_context": bf16_exact(torch.randn(1, CTX_LEN, 16, generator=gen)),
        "audio_context": bf16_exact(torch.randn(1, CTX_LEN, 8, generator=gen)),
        "video_negative": bf16_exact(torch.randn(1, CTX_LEN, 16, generator=gen)),
        "audio_negative": bf16_exact(torch.randn(1, CTX_LEN, 8, generator=gen)),
    }
    for k, v in ctx.items():
        tensors["inputs." + k] = v
    half = VideoPixelShape(batch=1, frames=FRAMES, height=HEIGHT // 2, width=WIDTH // 2, fps=FPS)
    full = VideoPixelShape(batch=1, frames=FRAMES, height=HEIGHT, width=WIDTH, fps=FPS)
    n_v1 = VideoLatentShape.from_pixel_shape(half).token_count()
    n_v2 = VideoLatentShape.from_pixel_shape(full).token_count()
    n_a = AudioLatentShape.from_video_pixel_shape(full).token_count()
    noise_shapes = {"s1_video": (1, n_v1, 128), "s1_audio": (1, n_a, 128), "s2_video": (1, n_v2, 128),
                    "s2_audio": (1, n_a, 128)}
    noise = {k: bf16_exact(torch.randn(*s, generator=gen)) for k, s in noise_shapes.items()}
    for k, v in noise.items():
        tensors["noise." + k] = v
    seeded = torch.Generator().manual_seed(SEED)
    for i, s in enumerate(noise_shapes.values()):
        tensors[f"noise.seeded_cpu.{i}"] = torch.randn(*s, generator=seeded, dtype=torch.float32)

    class InjectedNoiser(GaussianNoiser):
        """GaussianNoiser whose draws are given tensors (in draw order)."""

        def __init__(self, draws):
            super().__init__(generator=None)
            self.draws = list(draws)

        def _sample_noise(self, latent_state):
            n = self.draws.pop(0)
            assert tuple(n.shape) == tuple(latent_state.latent.shape), (n.shape, latent_state.latent.shape)
            return n.to(device=latent_state.latent.device, dtype=latent_state.latent.dtype)

    def run_stage(x0_model, denoiser, sigmas, noiser, pixel_shape, dtype, video_init, audio_init, noise_scale):
        """DiffusionStage.__call__ (no conditionings, not frozen), step by step."""
        v_tools = VideoLatentTools(VideoLatentPatchifier(patch_size=1), VideoLatentShape.from_pixel_shape(pixel_shape),
                                   pixel_shape.fps)
        v_state = helpers.create_noised_state(tools=v_tools, conditionings=[], noiser=noiser, dtype=dtype,
                                              device=torch.device("cpu"), noise_scale=noise_scale,
                                              initial_latent=video_init)
        a_tools = AudioLatentTools(AudioPatchifier(patch_size=1), AudioLatentShape.from_video_pixel_shape(pixel_shape))
        a_state = helpers.create_noised_state(tools=a_tools, conditionings=[], noiser=noiser, dtype=dtype,
                                              device=torch.device("cpu"), noise_scale=noise_scale,
                                              initial_latent=audio_init)
        wrapped = BatchSplitAdapter(x0_model, max_batch_size=1)
        v_state, a_state = euler_denoising_loop(sigmas=sigmas, video_state=v_state, audio_state=a_state,
                                                stepper=EulerDiffusionStep(), transformer=wrapped, denoiser=denoiser)
        v_state = v_tools.unpatchify(v_tools.clear_conditioning(v_state))
        a_state = a_tools.unpatchify(a_tools.clear_conditioning(a_state))
        return v_state, a_state

    stage1_sigmas = LTX2Scheduler().execute(steps=STAGE1_STEPS).to(torch.float32)
    stage2_sigmas = STAGE_2_DISTILLED_SIGMAS.to(torch.float32)
    distilled_sigmas = DISTILLED_SIGMAS.to(torch.float32)
    order = ["s1_video", "s1_audio", "s2_video", "s2_audio"]

    def both_stages(x0, ups, c, dtype, stage1_denoiser, stage1_sigmas_):
        """Both stages of a two-stage pipeline with the injected noise in `order`: stage 1 at half size
        (`stage1_denoiser` over `stage1_sigmas_`), the x2 upsample of its video, stage 2 at full size
        (the simple denoiser over the stage-2 distilled sigmas) from that and stage 1's audio.
        Returns (stage-1 video, stage-1 audio, upsampled latent, stage-2 video, stage-2 audio)."""
        noiser = InjectedNoiser([noise[k] for k in order])
        v1, a1 = run_stage(x0, stage1_denoiser, stage1_sigmas_, noiser, half, dtype, None, None, 1.0)
        up = upsample_video(latent=v1.latent[:1], video_encoder=encoder_stub, upsampler=ups)
        v2, a2 = run_stage(x0, SimpleDenoiser(c["video_context"], c["audio_context"]), stage2_sigmas, noiser, full,
                           dtype, up, a1.latent, stage2_sigmas[0].item())
        assert not noiser.draws
        return v1, a1, up, v2, a2

    results = {}

    def keep(prefix, out):
        """Stores a run's latents as fixture tensors prefix + name and in `results` for the summary."""
        for k, v in out.items():
            tensors[prefix + k] = v.contiguous()
        results[prefix] = out

    model.requires_grad_(False)
    upsampler.requires_grad_(False)
    runs = []
    for dname, dtype in (("f32", torch.float32), ("bf16", torch.bfloat16)):
        runs.append((dname, dtype, X0Model(copy.deepcopy(model).to(dtype)).eval(),
                     copy.deepcopy(upsampler).to(dtype).eval()))
    with torch.inference_mode():
        for dname, dtype, x0, ups in runs:
            c = {k: v.to(dtype) for k, v in ctx.items()}

            # two_stages (ti2vid_two_stages.py at HEAD): its final audio is stage 1's
            guided = FactoryGuidedDenoiser(
                v_context=c["video_context"], a_context=c["audio_context"],
                video_guider_factory=create_multimodal_guider_factory(
                    params=MultiModalGuiderParams(**VIDEO_GUIDER), negative_context=c["video_negative"]),
                audio_guider_factory=create_multimodal_guider_factory(
                    params=MultiModalGuiderParams(**AUDIO_GUIDER), negative_context=c["audio_negative"]))
            v1, a1, up, v2, a2 = both_stages(x0, ups, c, dtype, guided, stage1_sigmas)
            keep(f"two_stages.{dname}.", {"stage1_video": v1.latent, "stage1_audio": a1.latent, "upsampled": up,
                                          "video": v2.latent, "audio": a1.latent, "stage2_audio": a2.latent})

            # distilled (distilled.py; 2.3 uses the deterministic Euler sampler): its final audio is stage 2's
            simple = SimpleDenoiser(c["video_context"], c["audio_context"])
            v1, a1, up, v2, a2 = both_stages(x0, ups, c, dtype, simple, distilled_sigmas)
            keep(f"distilled.{dname}.", {"stage1_video": v1.latent, "stage1_audio": a1.latent, "upsampled": up,
                                         "video": v2.latent, "audio": a2.latent})

    for pipe in ("two_stages", "distilled"):
        f, b = results[f"{pipe}.f32."], results[f"{pipe}.bf16."]
        print(summary_line(f"{pipe}.bf16_vs_f32", {k: rel_err(b[k].float(), f[k]) for k in f}))
        print(summary_line(f"{pipe}.f32.norms", {k: float(v.float().norm()) for k, v in f.items()}))
        print(summary_line(f"{pipe}.f32.video_vs_noise_init", rel_err(f["video"], f["upsampled"])))

    meta["pipeline"] = json.dumps({
        "width": WIDTH, "height": HEIGHT, "frames": FRAMES, "fps": FPS, "seed": SEED, "steps": STAGE1_STEPS,
        "video_guider": VIDEO_GUIDER, "audio_guider": AUDIO_GUIDER,
        "stage1_sigmas": [float(x) for x in stage1_sigmas], "stage2_sigmas": [float(x) for x in stage2_sigmas],
        "distilled_sigmas": [float(x) for x in distilled_sigmas],
    })
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "pipelines.safetensors")
    write_fixture({k: v.detach().clone().contiguous() for k, v in tensors.items()}, path, meta, tensors=len(tensors))


if __name__ == "__main__":
    main()
