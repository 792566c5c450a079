"""Shared helpers for the parity reference scripts (torch only)."""
import json
import math

import torch


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
