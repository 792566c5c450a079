"""Stage 1 alone (bench/gpu/ltx23_job_reference.py): ltx-pipelines' DiffusionStage with the guided
denoiser for a few steps at 512x768x121, bf16 weights or ltx-core's fp8-cast policy (Linear weights
of the blocks stored as float8_e4m3fn, upcast per Linear at compute), as TI2VidTwoStagesPipeline
runs its stage 1. Reports the median step (after the first), the allocator peak and the weights."""
import torch


def stage1_steps(blocks, paths, device, fp8, steps, current, Phases, Builds, median_after_first, note):  # noqa: N803
    from ltx_core.components.guiders import create_multimodal_guider_factory
    from ltx_core.components.noisers import GaussianNoiser
    from ltx_core.components.schedulers import LTX2Scheduler
    from ltx_core.quantization import (
        TRANSFORMER_LINEAR_DOWNCAST_MAP,
        UPCAST_DURING_INFERENCE,
        QuantizationPolicy,
        fp8_cast_fuse_rule,
    )
    from ltx_pipelines.utils.constants import LTX_2_3_PARAMS
    from ltx_pipelines.utils.denoisers import FactoryGuidedDenoiser
    from ltx_pipelines.utils.types import ModalitySpec

    policy = None
    if fp8:
        policy = QuantizationPolicy(sd_ops=TRANSFORMER_LINEAR_DOWNCAST_MAP, module_ops=(UPCAST_DURING_INFERENCE,),
                                    fuse_rule=fp8_cast_fuse_rule)
    stage = blocks.DiffusionStage.from_checkpoint(paths.transformer(), torch.bfloat16, device, quantization=policy)
    g = torch.Generator(device=device).manual_seed(1)
    bf = dict(device=device, dtype=torch.bfloat16)
    vp, vn = torch.randn(1, 1024, 4096, generator=g, **bf), torch.randn(1, 1024, 4096, generator=g, **bf)
    ap, an = torch.randn(1, 1024, 2048, generator=g, **bf), torch.randn(1, 1024, 2048, generator=g, **bf)
    sigmas = LTX2Scheduler().execute(steps=steps).to(dtype=torch.float32, device=device)
    ph = Phases()
    current["phases"] = ph
    note(f"stage 1 alone ({'fp8-cast' if fp8 else 'bf16'}): {steps} guided steps")
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    with torch.inference_mode():
        stage(denoiser=FactoryGuidedDenoiser(
                  v_context=vp, a_context=ap,
                  video_guider_factory=create_multimodal_guider_factory(params=LTX_2_3_PARAMS.video_guider_params,
                                                                        negative_context=vn),
                  audio_guider_factory=create_multimodal_guider_factory(params=LTX_2_3_PARAMS.audio_guider_params,
                                                                        negative_context=an)),
              sigmas=sigmas, noiser=GaussianNoiser(generator=torch.Generator(device=device).manual_seed(10)),
              width=768, height=512, frames=121, fps=24.0,
              video=ModalitySpec(context=vp), audio=ModalitySpec(context=ap))
        torch.cuda.synchronize()
    current["phases"] = None
    step_list = ph.steps[0] if ph.steps else []
    res = {"step_seconds": median_after_first(step_list), "steps": step_list,
           "peak_gb": torch.cuda.max_memory_allocated() / 1e9, "weights_gb": Builds.last_bytes / 1e9}
    note(f"stage 1 alone ({'fp8-cast' if fp8 else 'bf16'}): step {res['step_seconds']:.3f} s, "
         f"peak {res['peak_gb']:.2f} GB, weights {res['weights_gb']:.2f} GB")
    torch.cuda.empty_cache()
    return res
