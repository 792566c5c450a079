"""Shared helpers of every parity reference script (tests/worker/engine/*/reference,
bench/gpu/*reference*.py).

The one home for what each script used to repeat: the repository paths, the `--out` / `--ltx-core` /
`--ltx-pipelines` arguments, seeding, stand-in modules in sys.modules (so ltx-core's submodules import
without their package __init__ files or optional dependencies; ltx_core_on_path, import_modules), the
JSON summary lines and writing a fixture (the LTX-2.3 configs live in ltx2/reference/ltx23_config.py).
It lives in tests/worker/engine/reference, beside the engine test folders whose scripts use it;
every script imports it with `sys.path.insert(0, <repo>/tests/worker/engine/reference)` (a path
relative to the script's own file).

Contract: nothing here draws random numbers except `seeded` (torch.manual_seed then a fresh generator,
the order every script used), so a script's RNG stream, tensor names and metadata are its own and the
fixtures it writes do not change when a helper moves here. Needs torch (GPU host only).
"""
import argparse
import json
import os
import sys
import types

import torch

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", ".."))
LTX_CORE_SRC = os.path.join(REPO, ".refs", "ltx-core", "src")
LTX_PIPELINES_SRC = os.path.join(REPO, ".refs", "ltx-pipelines", "src")


def bf16_exact(t: torch.Tensor) -> torch.Tensor:
    """Round to bfloat16 and back, so fp32 and bf16 runs share exactly the same values."""
    return t.to(torch.bfloat16).to(torch.float32)


def randn(gen: torch.Generator, shape, std: float, mean: float = 0.0) -> torch.Tensor:
    return bf16_exact(torch.randn(*shape, generator=gen) * std + mean)


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    a = a.double()
    b = b.double()
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def summary_line(name: str, value) -> str:
    return json.dumps({"check": name, "value": value})


def summary(name: str, value) -> None:
    """Prints one summary line ({"check": name, "value": value}) and flushes (logs are read live)."""
    print(summary_line(name, value), flush=True)


def reference_args(ltx_core=False, ltx_pipelines=False, out="--out", make_out=False, extra=None):
    """Parses the usual arguments: `out` (required; "--out" DIR for fixture scripts, "--json" FILE for
    the bench ones), --ltx-core / --ltx-pipelines (defaults: the fetched copies under .refs/).
    `extra(ap)` adds a script's own arguments before parsing. make_out creates args.out."""
    ap = argparse.ArgumentParser()
    ap.add_argument(out, required=True)
    if extra is not None:
        extra(ap)
    if ltx_core:
        ap.add_argument("--ltx-core", default=LTX_CORE_SRC)
    if ltx_pipelines:
        ap.add_argument("--ltx-pipelines", default=LTX_PIPELINES_SRC)
    args = ap.parse_args()
    if make_out:
        os.makedirs(args.out, exist_ok=True)
    return args


def seeded(seed: int) -> torch.Generator:
    """Seeds torch's global generator and returns a fresh CPU generator seeded the same."""
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def stub_module(name: str, path=None, **attrs) -> types.ModuleType:
    """Registers an empty module `name` in sys.modules (a package when `path`, a list of folders, is
    given) with the given attributes, replacing any module of that name; returns it."""
    m = types.ModuleType(name)
    if path is not None:
        m.__path__ = list(path)
    for k, v in attrs.items():
        setattr(m, k, v)
    sys.modules[name] = m
    return m


def bare_packages(src: str, names, keep_existing=False) -> None:
    """Registers each dotted package in `names` as an empty package over its folder under `src`, so
    importing a submodule does not run the package __init__ files (they pull in the whole pipeline).
    keep_existing leaves a package already in sys.modules as it is."""
    for pkg in names:
        if keep_existing and pkg in sys.modules:
            continue
        stub_module(pkg, [os.path.join(src, *pkg.split("."))])


def ltx_core_on_path(src: str, packages=()) -> None:
    """Puts ltx-core's source folder `src` first on sys.path and registers `packages` as bare packages
    (see bare_packages); raises ImportError when `src` holds no ltx_core (a wrong --ltx-core)."""
    if not os.path.isdir(os.path.join(src, "ltx_core")):
        raise ImportError(f"no ltx_core under {src}")
    sys.path.insert(0, src)
    bare_packages(src, packages)


def import_modules(**dotted) -> types.SimpleNamespace:
    """Imports each dotted module name, in the order given, as the attribute of its keyword
    (import_modules(rope="ltx_core.model.transformer.rope").rope)."""
    import importlib

    return types.SimpleNamespace(**{attr: importlib.import_module(name) for attr, name in dotted.items()})


def stub_missing(name: str, attrs=None) -> None:
    """Imports the optional dependency `name`; where that fails, registers an empty module with
    `attrs` in its place and prints the summary line "stubbed_module"."""
    try:
        __import__(name)
    except Exception:  # noqa: BLE001
        stub_module(name, **(attrs or {}))
        print(summary_line("stubbed_module", name))


def pipelines_imports(core_src: str, pipelines_src: str) -> None:
    """Puts ltx-core and ltx-pipelines on sys.path with ltx_pipelines and ltx_pipelines.utils as bare
    packages (their __init__ files import every pipeline and model family: media, text encoders; the
    submodules the scripts use do not) and scipy (with scipy.stats) stubbed where it is missing."""
    sys.path.insert(0, core_src)
    sys.path.insert(0, pipelines_src)
    bare_packages(pipelines_src, ("ltx_pipelines", "ltx_pipelines.utils"), keep_existing=True)
    stub_missing("scipy")
    if not hasattr(sys.modules["scipy"], "stats"):
        sys.modules["scipy"].stats = types.ModuleType("scipy.stats")


def write_fixture(tensors: dict, path: str, metadata: dict, /, label="wrote", **extra) -> int:
    """Writes `tensors` (name -> tensor) with string `metadata` as safetensors at `path` and prints
    the summary line `label` = {"path", "bytes", **extra}; returns the size in bytes. The first three
    are positional-only, so `extra` may carry any key (pipelines reports tensors=<count>)."""
    from safetensors.torch import save_file

    save_file(tensors, path, metadata=metadata)
    size = os.path.getsize(path)
    print(summary_line(label, {"path": path, "bytes": size, **extra}))
    return size
