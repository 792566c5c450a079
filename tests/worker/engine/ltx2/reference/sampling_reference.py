"""Parity reference for the C++ LTX-2.3 sampling pieces (worker/engine/ltx2/{schedulers,guider,
diffusion_step}.*).

Runs Lightricks' ltx-core components themselves (LTX2Scheduler, MultiModalGuider,
EulerDiffusionStep, GaussianNoiser, AudioLatentShape / VideoLatentShape) and ltx-pipelines'
constants and helpers (DISTILLED_SIGMA_VALUES, STAGE_2_DISTILLED_SIGMA_VALUES, LTX_2_3_PARAMS,
post_process_latent) on the CPU, and writes tests/worker/engine/ltx2/fixtures/sampling.safetensors:

  sigmas.<case>            F32 schedules; metadata "sigma_cases" = {case: {steps, latent_shape}}
  sigmas.distilled/.stage2 F32 ltx-pipelines' constant schedules
  guider.{cond,uncond,ptb,mod}        F32 [1, 24, 128] inputs
  guider.out.<case>                   F32 outputs; metadata "guider_cases" = {case: params, passes}
  guider.bf16.{cond,...,out}          BF16 inputs and the BF16 output of the "video" params
  euler.{sample,denoised,clean,mask}  inputs (mask F32 [1, 40, 1] with 0, 0.5 and 1 entries)
  euler.<dtype>.{post,step3,last}     post_process_latent, then EulerDiffusionStep at index 3 and
                                      at the last index (sigma_next 0) of the default schedule
  noiser.{latent,clean,mask}, noiser.<dtype>.noise, noiser.<dtype>.{partial,full}
                                      GaussianNoiser at noise_scale 0.909375 and 1.0 (zero latent)
  metadata "audio_lengths" [[frames, fps, T]], "video_shapes" [[frames, h, w, F, H, W]],
           "pipeline_params" (LTX_2_3_PARAMS as JSON, when ltx-pipelines imports)

Usage: python3 tests/worker/engine/ltx2/reference/sampling_reference.py --out tests/worker/engine/ltx2/fixtures
"""
import ast
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "reference"))
from common import pipelines_imports, reference_args, rel_err, summary_line, write_fixture  # noqa: E402


def ast_constant(path, name):
    """A literal assigned at module level in `path` (used when the module cannot be imported)."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise KeyError(f"{name} not found in {path}")


def main():
    args = reference_args(ltx_core=True, ltx_pipelines=True)
    pipelines_imports(args.ltx_core, args.ltx_pipelines)

    from ltx_core.components.diffusion_steps import EulerDiffusionStep
    from ltx_core.components.guiders import MultiModalGuider, MultiModalGuiderParams
    from ltx_core.components.noisers import GaussianNoiser
    from ltx_core.components.schedulers import LTX2Scheduler
    from ltx_core.types import AudioLatentShape, LatentState, VideoLatentShape, VideoPixelShape

    torch.manual_seed(0)
    tensors = {}
    meta = {}

    # ------------------------------------------------------------------ schedules
    sched = LTX2Scheduler()
    cases = {
        "default30": (30, None),
        "s30_t6144": (30, (1, 128, 16, 16, 24)),
        "s40_t24576": (40, (1, 128, 16, 32, 48)),
        "s8_t72": (8, (1, 128, 3, 4, 6)),
        "s3_t4": (3, (1, 128, 1, 2, 2)),
        "s1": (1, None),
        "s2": (2, None),
    }
    sigma_cases = {}
    for name, (steps, shape) in cases.items():
        latent = torch.zeros(*shape) if shape is not None else None
        s = sched.execute(steps=steps, latent=latent) if latent is not None else sched.execute(steps=steps)
        tensors[f"sigmas.{name}"] = s.to(torch.float32).contiguous()
        sigma_cases[name] = {"steps": steps, "latent_shape": list(shape) if shape else None}
        print(summary_line(f"sigmas.{name}", [float(x) for x in s[:3]] + [float(s[-2])]))
    meta["sigma_cases"] = json.dumps(sigma_cases)

    consts_py = os.path.join(args.ltx_pipelines, "ltx_pipelines", "utils", "constants.py")
    params_json = None
    try:
        from ltx_pipelines.utils import constants as C  # noqa: N812
        distilled = list(C.DISTILLED_SIGMA_VALUES)
        stage2 = list(C.STAGE_2_DISTILLED_SIGMA_VALUES)
        p = C.LTX_2_3_PARAMS

        def gp(g):
            return {"cfg_scale": g.cfg_scale, "stg_scale": g.stg_scale, "modality_scale": g.modality_scale,
                    "rescale_scale": g.rescale_scale, "skip_step": g.skip_step, "stg_blocks": list(g.stg_blocks)}
        params_json = {"seed": p.seed, "stage_1_height": p.stage_1_height, "stage_1_width": p.stage_1_width,
                       "num_frames": p.num_frames, "frame_rate": p.frame_rate,
                       "num_inference_steps": p.num_inference_steps,
                       "video": gp(p.video_guider_params), "audio": gp(p.audio_guider_params)}
    except Exception as e:  # noqa: BLE001
        print(summary_line("constants_import_failed", repr(e)))
        distilled = ast_constant(consts_py, "DISTILLED_SIGMA_VALUES")
        stage2 = ast_constant(consts_py, "STAGE_2_DISTILLED_SIGMA_VALUES")
    tensors["sigmas.distilled"] = torch.tensor(distilled, dtype=torch.float32)
    tensors["sigmas.stage2"] = torch.tensor(stage2, dtype=torch.float32)
    if params_json is not None:
        meta["pipeline_params"] = json.dumps(params_json)
        print(summary_line("pipeline_params", params_json))

    # ------------------------------------------------------------------ guider
    g = torch.Generator().manual_seed(11)
    shape = (1, 24, 128)
    cond = torch.randn(*shape, generator=g) * 1.3 + 0.2
    uncond = cond + 0.4 * torch.randn(*shape, generator=g)
    ptb = cond + 0.3 * torch.randn(*shape, generator=g) - 0.1
    mod = cond + 0.2 * torch.randn(*shape, generator=g) + 0.05
    for k, v in (("cond", cond), ("uncond", uncond), ("ptb", ptb), ("mod", mod)):
        tensors[f"guider.{k}"] = v.contiguous()
    gcases = {
        "video": dict(cfg_scale=3.0, stg_scale=1.0, modality_scale=3.0, rescale_scale=0.7),
        "audio": dict(cfg_scale=7.0, stg_scale=1.0, modality_scale=3.0, rescale_scale=0.7),
        "norescale": dict(cfg_scale=3.0, stg_scale=1.0, modality_scale=3.0, rescale_scale=0.0),
        "cfg_only": dict(cfg_scale=4.5, stg_scale=0.0, modality_scale=1.0, rescale_scale=0.5),
        "stg_mod": dict(cfg_scale=1.0, stg_scale=2.0, modality_scale=2.5, rescale_scale=0.0),
        "positive": dict(cfg_scale=1.0, stg_scale=0.0, modality_scale=1.0, rescale_scale=0.0),
    }
    guider_meta = {}
    for name, kw in gcases.items():
        guider = MultiModalGuider(params=MultiModalGuiderParams(**kw))
        need = {"uncond": guider.do_unconditional_generation(), "ptb": guider.do_perturbed_generation(),
                "mod": guider.do_isolated_modality_generation()}
        # Passes that do not run reach calculate() as the float 0.0, as _guided_denoise does.
        out = guider.calculate(cond, uncond if need["uncond"] else 0.0, ptb if need["ptb"] else 0.0,
                               mod if need["mod"] else 0.0)
        tensors[f"guider.out.{name}"] = out.contiguous()
        guider_meta[name] = {"params": kw, "passes": need}
        print(summary_line(f"guider.{name}", {"passes": need, "rel_to_cond": rel_err(out, cond)}))
    meta["guider_cases"] = json.dumps(guider_meta)
    bf = {k: v.to(torch.bfloat16) for k, v in (("cond", cond), ("uncond", uncond), ("ptb", ptb), ("mod", mod))}
    out_bf = MultiModalGuider(params=MultiModalGuiderParams(**gcases["video"])).calculate(
        bf["cond"], bf["uncond"], bf["ptb"], bf["mod"])
    assert out_bf.dtype == torch.bfloat16
    for k, v in bf.items():
        tensors[f"guider.bf16.{k}"] = v.contiguous()
    tensors["guider.bf16.out"] = out_bf.contiguous()

    # ------------------------------------------------------------------ Euler step with mask
    try:
        from ltx_pipelines.utils.helpers import post_process_latent
        post_src = "ltx_pipelines.utils.helpers"
    except Exception as e:  # noqa: BLE001
        print(summary_line("helpers_import_failed", repr(e)))
        helpers_py = os.path.join(args.ltx_pipelines, "ltx_pipelines", "utils", "helpers.py")
        with open(helpers_py, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "post_process_latent")
        ns = {"torch": torch}
        exec(compile(ast.Module(body=[fn], type_ignores=[]), helpers_py, "exec"), ns)  # noqa: S102
        post_process_latent = ns["post_process_latent"]
        post_src = "ast:" + helpers_py
    print(summary_line("post_process_latent_source", post_src))

    g = torch.Generator().manual_seed(22)
    T = 40
    sample = torch.randn(1, T, 128, generator=g)
    denoised = 0.6 * sample + 0.5 * torch.randn(1, T, 128, generator=g)
    clean = torch.randn(1, T, 128, generator=g) * 0.8
    mask = torch.ones(1, T, 1)
    mask[:, :8] = 0.0
    mask[:, 8:12] = 0.5
    for k, v in (("sample", sample), ("denoised", denoised), ("clean", clean), ("mask", mask)):
        tensors[f"euler.{k}"] = v.contiguous()
    sigmas = tensors["sigmas.default30"]
    stepper = EulerDiffusionStep()
    for dname, dt in (("f32", torch.float32), ("bf16", torch.bfloat16)):
        s_in = sample.to(dt)
        d_in = denoised.to(dt)
        c_in = clean.to(dt)
        post = post_process_latent(d_in, mask, c_in)
        step3 = stepper.step(s_in, post, sigmas, 3)
        last = stepper.step(s_in, post, sigmas, len(sigmas) - 2)
        assert step3.dtype == dt and post.dtype == dt
        tensors[f"euler.{dname}.post"] = post.contiguous()
        tensors[f"euler.{dname}.step3"] = step3.contiguous()
        tensors[f"euler.{dname}.last"] = last.contiguous()
        print(summary_line(f"euler.{dname}", {"step3_vs_sample": rel_err(step3.float(), s_in.float())}))

    # ------------------------------------------------------------------ noiser
    g = torch.Generator().manual_seed(33)
    latent = torch.randn(1, T, 128, generator=g)
    nclean = torch.randn(1, T, 128, generator=g)
    for k, v in (("latent", latent), ("clean", nclean), ("mask", mask)):
        tensors[f"noiser.{k}"] = v.contiguous()
    for dname, dt in (("f32", torch.float32), ("bf16", torch.bfloat16)):
        noise = torch.randn(1, T, 128, dtype=dt, generator=torch.Generator().manual_seed(44))
        st = LatentState(latent=latent.to(dt), denoise_mask=mask, positions=torch.zeros(1, 1, T, 2),
                         clean_latent=nclean.to(dt))
        partial = GaussianNoiser(torch.Generator().manual_seed(44))(st, 0.909375).latent
        zero = LatentState(latent=torch.zeros(1, T, 128, dtype=dt), denoise_mask=torch.ones(1, T, 1),
                           positions=torch.zeros(1, 1, T, 2), clean_latent=torch.zeros(1, T, 128, dtype=dt))
        full = GaussianNoiser(torch.Generator().manual_seed(44))(zero, 1.0).latent
        assert torch.equal(full, noise), "noise_scale 1 on a zero latent must give the noise itself"
        tensors[f"noiser.{dname}.noise"] = noise.contiguous()
        tensors[f"noiser.{dname}.partial"] = partial.contiguous()
        tensors[f"noiser.{dname}.full"] = full.contiguous()
        print(summary_line(f"noiser.{dname}", {"partial_vs_noise": rel_err(partial.float(), noise.float())}))

    # ------------------------------------------------------------------ latent shapes
    lengths = []
    for frames, fps in ((121, 24.0), (97, 25.0), (9, 24.0), (1, 10.0), (3, 10.0), (121, 30.0), (257, 24.0),
                        (49, 12.0), (33, 8.0)):
        t = AudioLatentShape.from_video_pixel_shape(
            VideoPixelShape(batch=1, frames=frames, height=64, width=64, fps=fps)).frames
        lengths.append([frames, fps, int(t)])
    meta["audio_lengths"] = json.dumps(lengths)
    print(summary_line("audio_lengths", lengths))
    shapes = []
    for frames, h, w in ((121, 512, 768), (121, 1024, 1536), (9, 64, 128), (1, 32, 32)):
        v = VideoLatentShape.from_pixel_shape(VideoPixelShape(batch=1, frames=frames, height=h, width=w, fps=24.0))
        shapes.append([frames, h, w, v.frames, v.height, v.width])
    meta["video_shapes"] = json.dumps(shapes)
    print(summary_line("video_shapes", shapes))

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "sampling.safetensors")
    write_fixture({k: v.detach().clone().contiguous() for k, v in tensors.items()}, path, meta, tensors=len(tensors))


if __name__ == "__main__":
    main()
