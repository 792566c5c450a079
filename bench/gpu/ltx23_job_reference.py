"""Reference side of `ops/bench ltx23-job`: ltx-pipelines' own TI2VidTwoStagesPipeline and
DistilledPipeline running whole jobs (121 frames to 1024x1536, stage 1 at 512x768) on CUDA with
ltx-core's models at the published LTX-2.3 sizes and random weights.

Nothing is read from disk but headers: the pipelines are constructed as ltx-pipelines constructs
them, over header-only safetensors files that carry the published metadata (config, model_version;
bench/gpu/ltx23_job_reference_config.py), and ltx-core's SingleGPUModelBuilder.build is replaced by
one that does what it does (meta model from the configurator, module ops, `assign` load, .to(device))
with random tensors drawn on the device instead of the checkpoint's (dtype: the build's, else the
published file's: F32 for *scale_shift_table*, BF16 otherwise; fp8-retyped Linears stay fp8).
LoRA fusion is load-time work and is skipped. Every build is timed and SUBTRACTED from the job's
time (the engine's side excludes loading too). The Gemma-3 folder (config.json + tokenizer) is
replaced by its config dict in code and a tokenizer stand-in that left-pads prompts of fixed lengths
to 1024 ids (the real tokenizer's output shape).

Per job: whole time, phase times and the CUDA allocator's peak per phase (max_memory_allocated,
everything resident included), median step time per stage (steps after the first; one
synchronize per step, as the engine side). Video chunks are consumed to uint8 RGB on the CPU (the
engine's decode_to_uint8); the mux is not timed on either side. Also stage 1 alone for a few
guided steps with bf16 and with ltx-core's fp8-cast policy (float8_e4m3fn weights upcast per Linear).

Usage: python3 bench/gpu/ltx23_job_reference.py --json FILE [--steps 30] [--jobs two_stages,distilled,fp8]
Only stdlib + torch + transformers (installed there) + ltx-core + ltx-pipelines.
"""
import importlib
import json
import os
import statistics
import sys
import tempfile
import time
import traceback

os.environ.setdefault("TQDM_DISABLE", "1")
import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "worker", "engine", "reference"))
from common import reference_args, stub_module  # noqa: E402
from ltx23_job_reference_builder import Builds, install_memory_builder  # noqa: E402

T0 = time.perf_counter()

FRAMES, HEIGHT, WIDTH, FPS = 121, 1024, 1536, 24.0
PROMPT_TOKENS = (160, 110)  # positive, negative (as the engine side)
MAX_LENGTH = 1024


def note(msg):
    print(f"[{time.perf_counter() - T0:7.1f} s] reference: {msg}", flush=True)


def stub_missing(names):
    """Modules the pipelines import at module level for muxing/EXR only (PyAV, OpenImageIO): a
    stand-in where the real one is missing, so the import chain loads; nothing here calls them.
    The stand-in answers ordinary attribute names with a placeholder class and raises
    AttributeError for dunder names, so introspection (inspect.getmodule walks sys.modules and
    reads __file__) sees a plain module without a file."""
    for name in names:
        try:
            importlib.import_module(name)
            continue
        except Exception:  # noqa: BLE001
            pass

        class _Placeholder:
            def __init__(self, *a, **k):
                pass

        def _getattr(item, _P=_Placeholder):
            if item.startswith("__"):
                raise AttributeError(item)
            return _P

        stub_module(name, __file__=None, __getattr__=_getattr)
        note(f"stubbed missing module {name}")


class BenchTokenizer:
    """LTXGemmaTokenizer's output for a prompt of n tokens: BOS + ids, left-padded to 1024."""

    def __init__(self, vocab):
        self.vocab = vocab
        self.lengths = {}

    def tokenize_with_weights(self, text, return_word_ids=False):  # noqa: ARG002
        n = self.lengths.get(text.strip(), PROMPT_TOKENS[0])
        ids = [2] + [3 + (k * 7919 + len(text) * 104729) % (self.vocab - 3) for k in range(1, n)]
        pad = MAX_LENGTH - len(ids)
        return {"gemma": [(0, 0)] * pad + [(i, 1) for i in ids]}


class Phases:
    """Wall time (builds subtracted) and allocator peak per phase of one job."""

    def __init__(self):
        self.seconds, self.peaks, self.steps = {}, {}, []

    def add(self, name, seconds, peak):
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
        self.peaks[name] = max(self.peaks.get(name, 0), peak)


class Timed:
    def __init__(self, inner, names, phases):
        self.inner, self.names, self.phases, self.calls = inner, names, phases, 0

    def __call__(self, *a, **k):
        name = self.names[min(self.calls, len(self.names) - 1)]
        self.calls += 1
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        t0, b0 = time.perf_counter(), Builds.seconds
        out = self.inner(*a, **k)
        torch.cuda.synchronize()
        self.phases.add(name, time.perf_counter() - t0 - (Builds.seconds - b0), torch.cuda.max_memory_allocated())
        return out

    def __getattr__(self, item):
        return getattr(self.inner, item)


def median_after_first(v):
    v = list(v[1:]) if len(v) > 1 else list(v)
    return statistics.median(v) if v else -1.0


def main():  # noqa: PLR0915
    def extra(ap):
        ap.add_argument("--steps", type=int, default=30, help="stage-1 steps of two_stages")
        ap.add_argument("--jobs", default="two_stages,distilled,fp8")
        ap.add_argument("--budget", type=float, default=0.0,
                        help="seconds; a part is skipped when less than its estimate is left (0: no limit)")

    args = reference_args(out="--json", ltx_core=True, ltx_pipelines=True, extra=extra)
    jobs = set(args.jobs.split(","))
    out = {"bench": "ltx23-job-reference", "torch": torch.__version__, "steps": args.steps, "jobs": {}}

    def save():
        with open(args.json, "w") as f:
            f.write(json.dumps(out, indent=2) + "\n")

    try:
        out["gpu"] = torch.cuda.get_device_name(0)
        sys.path[:0] = [os.path.abspath(args.ltx_core), os.path.abspath(args.ltx_pipelines), HERE]
        import transformers
        from transformers import AutoModelForImageTextToText, PreTrainedModel  # noqa: F401  (before any stub)
        stub_missing(["av", "OpenImageIO"])
        out["transformers"] = transformers.__version__
        from ltx23_job_reference_config import GEMMA3_12B_CONFIG, checkpoint_metadata, upsampler_metadata
        from safetensors.torch import save_file
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING

        import ltx_core.loader.helpers as helpers_mod
        from ltx_core.loader import LTXV_LORA_COMFY_RENAMING_MAP, LoraPathStrengthAndSDOps
        from ltx_core.loader.module_ops import ModuleOps
        from ltx_core.loader.single_gpu_model_builder import SingleGPUModelBuilder
        from ltx_core.text_encoders.gemma.encoders import encoder_configurator as enc_cfg
        from ltx_core.text_encoders.gemma.encoders.base_encoder import LTXGemmaTextEncoder
        import ltx_pipelines.utils.blocks as blocks
        from ltx_pipelines.utils.model_paths import ModelPaths
        from ltx_pipelines.utils.constants import LTX_2_3_PARAMS, DEFAULT_NEGATIVE_PROMPT
        from ltx_pipelines.ti2vid_two_stages import TI2VidTwoStagesPipeline
        from ltx_pipelines.distilled import DistilledPipeline
    except Exception as e:  # noqa: BLE001
        out["error"] = f"import: {type(e).__name__}: {e}"[:600]
        traceback.print_exc()
        save()
        return 1
    note(f"imports done (torch {torch.__version__}, transformers {transformers.__version__})")

    device = torch.device("cuda")
    install_memory_builder(helpers_mod, SingleGPUModelBuilder, note)
    gemma_config = CONFIG_MAPPING["gemma3"].from_dict(dict(GEMMA3_12B_CONFIG))
    tokenizer = BenchTokenizer(gemma_config.text_config.vocab_size)
    prompt = "a bench prompt"
    tokenizer.lengths = {prompt: PROMPT_TOKENS[0], DEFAULT_NEGATIVE_PROMPT.strip(): PROMPT_TOKENS[1]}

    # The Gemma folder: its config in code, the tokenizer stand-in, ltx-core's own buffer population.
    enc_cfg._load_gemma_config = lambda _path: gemma_config
    blocks.gemma_model_type = lambda _path: "gemma3"

    def set_tokenizer(module):
        module.tokenizer = tokenizer
        return module

    def populate_gemma3(module):
        try:
            return enc_cfg._create_and_populate_gemma3(module)
        except Exception as e:  # noqa: BLE001  (vision-tower layout of this transformers; encode never runs it)
            note(f"ltx-core's gemma3 buffer population failed ({type(e).__name__}: {e}); language model only")
            return enc_cfg._populate_language_model_buffers(module)

    gemma_ops = (
        ModuleOps("GemmaModel", matcher=lambda m: isinstance(m, LTXGemmaTextEncoder), mutator=populate_gemma3),
        ModuleOps("TokenizerLoad", matcher=lambda m: isinstance(m, LTXGemmaTextEncoder) and m.tokenizer is None,
                  mutator=set_tokenizer),
    )
    blocks.get_gemma_ops = lambda _path: (None, gemma_ops)
    # 2.3 checkpoints carry no DurationHead: from_checkpoint answers None for them.
    blocks.DurationPredictor.from_checkpoint = classmethod(lambda cls, *a, **k: None)

    tmp = tempfile.mkdtemp(prefix="ff_ltx23_ref_")
    ckpt = os.path.join(tmp, "ltx-2.3-22b-dev.safetensors")
    ups = os.path.join(tmp, "ltx-2.3-spatial-upscaler-x2-1.1.safetensors")
    lora = os.path.join(tmp, "ltx-2.3-22b-distilled-lora-384-1.1.safetensors")
    placeholder = {"bench.placeholder": torch.zeros(1)}
    save_file(placeholder, ckpt, metadata=checkpoint_metadata())
    save_file(placeholder, ups, metadata=upsampler_metadata())
    save_file(placeholder, lora, metadata={})
    blocks.resolve_gemma_weight_paths = lambda _path: (ckpt,)
    paths = ModelPaths.from_monolith(ckpt, os.path.join(tmp, "gemma-3-12b-it-qat-q4_0-unquantized"))

    # Per-step times: the default loop, its denoiser wrapped (one synchronize per step).
    orig_loop = blocks.euler_denoising_loop
    current = {"phases": None}

    def timed_loop(sigmas, video_state, audio_state, stepper, transformer, denoiser, **kw):
        marks = []

        def wrapped(*a, **k):
            torch.cuda.synchronize()
            marks.append(time.perf_counter())
            return denoiser(*a, **k)

        res = orig_loop(sigmas=sigmas, video_state=video_state, audio_state=audio_state, stepper=stepper,
                        transformer=transformer, denoiser=wrapped, **kw)
        torch.cuda.synchronize()
        marks.append(time.perf_counter())
        steps = [b - a for a, b in zip(marks, marks[1:])]
        if current["phases"] is not None:
            current["phases"].steps.append(steps)
        note(f"  denoising loop: {len(steps)} steps, median {median_after_first(steps):.3f} s")
        return res

    blocks.euler_denoising_loop = timed_loop

    def run_job(name, make_pipeline, call):
        note(f"{name}: constructing the pipeline (ltx-pipelines' own constructor)")
        pipe = make_pipeline()
        ph = Phases()
        current["phases"] = ph
        stage_names = ["stage1", "stage2"]
        for attr, names in (("prompt_encoder", ["prompt_encode"]), ("image_conditioner", ["image_conditioner"]),
                            ("upsampler", ["upsample"]), ("video_decoder", ["decode_video"]),
                            ("audio_decoder", ["decode_audio"]), ("stage_1", ["stage1"]), ("stage_2", ["stage2"]),
                            ("stage", stage_names)):
            if hasattr(pipe, attr):
                setattr(pipe, attr, Timed(getattr(pipe, attr), names, ph))
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        b0 = Builds.seconds
        note(f"{name}: start")
        t0 = time.perf_counter()
        with torch.inference_mode():
            video, audio, _num_frames, _tiling = call(pipe)
            torch.cuda.synchronize()
            t1, bd = time.perf_counter(), Builds.seconds
            torch.cuda.reset_peak_memory_stats()
            frames = 0
            for chunk in video:  # the decoder runs as the chunks are taken
                rgb = (chunk * 255.0).round().clamp(0, 255).to(torch.uint8).cpu()
                frames += rgb.shape[0]
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        ph.add("decode_video", t2 - t1 - (Builds.seconds - bd), torch.cuda.max_memory_allocated())
        whole = t2 - t0 - (Builds.seconds - b0)
        steps = ph.steps + [[], []]
        res = {"whole_seconds": whole, "builds_excluded_seconds": Builds.seconds - b0,
               "phases": ph.seconds, "peaks_gb": {k: v / 1e9 for k, v in ph.peaks.items()},
               "peak_gb": max(ph.peaks.values()) / 1e9 if ph.peaks else -1,
               "stage1_step_seconds": median_after_first(steps[0]), "stage2_step_seconds": median_after_first(steps[1]),
               "stage1_steps": steps[0], "stage2_steps": steps[1], "frames": frames,
               "audio_samples": int(audio.waveform.shape[-1]) if hasattr(audio, "waveform") else -1}
        note(f"{name}: whole {whole:.2f} s (builds excluded: {Builds.seconds - b0:.1f} s); phases "
             + ", ".join(f"{k} {v:.2f}" for k, v in ph.seconds.items()))
        current["phases"] = None
        del pipe, video, audio
        torch.cuda.empty_cache()
        return res

    vg, ag = LTX_2_3_PARAMS.video_guider_params, LTX_2_3_PARAMS.audio_guider_params

    def fits(part, estimate):
        left = args.budget - (time.perf_counter() - T0)
        if args.budget > 0 and left < estimate:
            note(f"skipping {part}: {left:.0f} s left of the budget, estimate {estimate:.0f} s")
            out.setdefault("skipped", []).append(part)
            return False
        return True

    if "two_stages" in jobs:
        try:
            out["jobs"]["two_stages"] = run_job(
                "two_stages",
                lambda: TI2VidTwoStagesPipeline(
                    model_paths=paths,
                    distilled_lora=[LoraPathStrengthAndSDOps(lora, 1.0, LTXV_LORA_COMFY_RENAMING_MAP)],
                    spatial_upsampler_path=ups, loras=[], device=device),
                lambda p: p(prompt=prompt, negative_prompt=DEFAULT_NEGATIVE_PROMPT, seed=10, height=HEIGHT, width=WIDTH,
                            frame_rate=FPS, num_inference_steps=args.steps, video_guider_params=vg,
                            audio_guider_params=ag, images=[], num_frames=FRAMES))
        except Exception as e:  # noqa: BLE001
            out["jobs"]["two_stages"] = {"error": f"{type(e).__name__}: {e}"[:600]}
            traceback.print_exc()
        save()
    if "distilled" in jobs and fits("distilled", 45):
        try:
            out["jobs"]["distilled"] = run_job(
                "distilled",
                lambda: DistilledPipeline(model_paths=paths, spatial_upsampler_path=ups, loras=[], device=device),
                lambda p: p(prompt=prompt, seed=10, height=HEIGHT, width=WIDTH, frame_rate=FPS, images=[],
                            num_frames=FRAMES))
        except Exception as e:  # noqa: BLE001
            out["jobs"]["distilled"] = {"error": f"{type(e).__name__}: {e}"[:600]}
            traceback.print_exc()
        save()
    if "fp8" in jobs:
        import ltx23_job_reference_stage1 as s1
        for key, fp8 in (("stage1_bf16", False), ("stage1_fp8", True)):
            if not fits(key, 15):
                continue
            try:
                out[key] = s1.stage1_steps(blocks, paths, device, fp8, min(args.steps, 4), current, Phases, Builds,
                                           median_after_first, note)
            except Exception as e:  # noqa: BLE001
                out[key] = {"error": f"{type(e).__name__}: {e}"[:600]}
                traceback.print_exc()
            save()
    save()
    note("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
