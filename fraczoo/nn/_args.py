"""Validation of layer and zoo-model hyperparameters (sizes, rates), so a bad config fails at
construction with a message that names the argument and the allowed values, not later deep inside torch
or the optimizer. Tensor arguments use :mod:`fraczoo.ops._checks`."""
from __future__ import annotations

import math
from numbers import Real

import torch

from fraczoo.ops._checks import check_choice, check_int

__all__ = ["check_choice", "check_input", "check_int", "check_open_interval", "check_real"]


def check_real(value, name: str, lo: float = -math.inf, hi: float = math.inf, *, lo_open: bool = False,
               hi_open: bool = True) -> float:
    """A finite real number in the interval [lo, hi] (ends open as asked; hi = inf means unbounded)."""
    if math.isinf(lo) and math.isinf(hi):
        allowed = "a finite real number"
    else:
        allowed = f"a finite number in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be {allowed}, got {type(value).__name__} {value!r}")
    value = float(value)
    below = value <= lo if lo_open else value < lo
    above = value >= hi if hi_open else value > hi
    if not math.isfinite(value) or below or above:
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return value


def check_open_interval(value, name: str, low: float, high: float) -> float:
    """A real number strictly inside (low, high), e.g. the initial value of a sigmoid-constrained order."""
    value = check_real(value, name)
    if not low < value < high:
        raise ValueError(f"{name} must lie in the open interval ({low:g}, {high:g}), got {value:g}")
    return value


def check_input(x, name: str, like: torch.Tensor) -> torch.Tensor:
    """A layer input: a finite real floating tensor of ``like``'s dtype (the layer's parameters).

    Under autocast the dtypes may differ by design, so only the floating check applies there.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.is_complex() or not x.is_floating_point():
        raise TypeError(f"{name} must be a real floating tensor of the layer's dtype ({like.dtype}), got {x.dtype}")
    if x.dtype != like.dtype and not torch.is_autocast_enabled(x.device.type):
        raise TypeError(f"{name} must have the dtype of the layer's parameters ({like.dtype}), got {x.dtype}; "
                        f"convert the input or the module (e.g. module.to({x.dtype}))")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or inf; all values must be finite")
    return x
