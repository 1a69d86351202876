"""Argument checks for every layer of fraczoo: operators, solvers, layers, models, data, callbacks.

One convention everywhere: a wrong *type* raises ``TypeError``, a wrong *value* (out of range, NaN/inf,
wrong shape, not one of the choices) raises ``ValueError``, and the message names the argument and what
is allowed, so a bad call fails at once instead of returning a NaN or a silently wrong answer. This module
imports nothing of fraczoo; every other module may use it.
"""
from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Sequence

import torch
from torch import Tensor


def check_tensor(x, name: str = "x", *, allow_complex: bool = False) -> Tensor:
    """``x`` must be a finite float32/float64 tensor (complex64/complex128 only where allowed).

    Half precision is refused: torch.fft has no CPU half kernels, and the quadrature weights and
    spectral symbols lose the accuracy the operators promise in 11-bit mantissas."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.is_complex():
        if not allow_complex:
            raise TypeError(f"{name} must be a real floating tensor (float32 or float64), got {x.dtype}")
        if x.dtype not in (torch.complex64, torch.complex128):
            raise TypeError(f"{name} must be float32, float64, complex64 or complex128, got {x.dtype}")
    elif x.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{name} must be a floating tensor (float32 or float64), got {x.dtype}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf; all values must be finite")
    return x


def check_alpha(alpha, lo: float, hi: float, *, name: str = "alpha", lo_open: bool = False,
                hi_open: bool = False):
    """``alpha`` must be a real number or a real tensor with every entry in the interval [lo, hi].

    Returns ``alpha`` unchanged (a float stays a float, a tensor keeps its graph).
    """
    if isinstance(alpha, bool) or not isinstance(alpha, (Real, Tensor)):
        raise TypeError(f"{name} must be a real number or a real tensor, got {type(alpha).__name__}")
    if isinstance(alpha, Tensor):
        if alpha.is_complex() or not alpha.is_floating_point():
            raise TypeError(f"{name} must be a real floating tensor, got {alpha.dtype}")
        values = alpha.detach()
        if values.numel() == 0:
            raise ValueError(f"{name} must not be empty")
        vmin, vmax = float(values.min()), float(values.max())
        finite = bool(torch.isfinite(values).all())
    else:
        vmin = vmax = float(alpha)
        finite = math.isfinite(vmin)
    below = vmin <= lo if lo_open else vmin < lo
    above = vmax >= hi if hi_open else vmax > hi
    if not finite or below or above:
        interval = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
        if not finite:  # name the offending value (min/max of a NaN-holding tensor are NaN anyway)
            got = f"{vmin:g}" if not isinstance(alpha, Tensor) else f"{float(values[~torch.isfinite(values)][0]):g}"
        else:
            got = f"{vmin:g}" if vmin == vmax else f"values in [{vmin:g}, {vmax:g}]"
        raise ValueError(f"{name} must lie in {interval}, got {got}")
    return alpha


def check_int(value, name: str, minimum: int = 1, maximum: int | None = None) -> int:
    """An int (not a bool) in [minimum, maximum]: TypeError for other types, ValueError outside the range."""
    allowed = f"an int >= {minimum}" if maximum is None else f"an int in [{minimum}, {maximum}]"
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be {allowed}, got {type(value).__name__} {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return int(value)


def check_int_list(value, name: str, minimum: int = 1) -> list[int]:
    """A non-empty list or tuple of ints >= ``minimum`` (layer widths, dilations)."""
    allowed = f"a non-empty list of ints >= {minimum}"
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"{name} must be {allowed}, got {type(value).__name__} {value!r}")
    if not value:
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    for item in value:
        if isinstance(item, bool) or not isinstance(item, Integral):
            raise TypeError(f"{name} must be {allowed}, got {value!r} (holding {type(item).__name__} {item!r})")
        if item < minimum:
            raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return [int(v) for v in value]


def check_bool(value, name: str) -> bool:
    """True or False (numpy's bool too); 0/1 and strings are refused, they hide typos in configs."""
    if not isinstance(value, bool) and type(value).__name__ != "bool_":
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)


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


def check_pair(value, name: str) -> tuple[float, float]:
    """``value`` as a (low, high) pair of finite real numbers; the caller checks their range and order."""
    allowed = "a pair (low, high) of numbers"
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"{name} must be {allowed}, got {type(value).__name__} {value!r}")
    if any(isinstance(v, bool) or not isinstance(v, Real) for v in value):
        raise TypeError(f"{name} must be {allowed}, got {value!r}")
    if len(value) != 2 or not all(math.isfinite(v) for v in value):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return float(value[0]), float(value[1])


def check_positive(value, name: str) -> float:
    """A finite, strictly positive real number (grid spacings, time steps)."""
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f"{name} must be a positive scalar, got a tensor of shape {tuple(value.shape)}")
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a positive real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value:g}")
    return value


def check_dim(x: Tensor, dim: int, name: str = "dim", *, x_name: str = "input") -> int:
    """Normalise ``dim`` against ``x.ndim`` (negative dims allowed); ``x_name`` names ``x`` in errors."""
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise TypeError(f"{name} must be an int, got {type(dim).__name__}")
    if x.ndim == 0:
        raise ValueError(f"{x_name} must have at least one dimension to apply along {name}={dim}, got a 0-d tensor")
    if not -x.ndim <= dim < x.ndim:
        raise ValueError(f"{name}={dim} is out of range for an input with {x.ndim} dimensions "
                         f"(allowed: {-x.ndim}..{x.ndim - 1})")
    return dim % x.ndim


def check_choice(value, name: str, choices):
    """One of ``choices`` (compared by value; a bool never matches an int choice)."""
    if isinstance(value, bool) and not any(isinstance(c, bool) for c in choices) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}; got {value!r}")
    return value


def check_input(x, name: str, like: Tensor) -> Tensor:
    """A layer input: a finite real floating tensor of ``like``'s dtype (the layer's parameters).

    Under autocast the dtypes may differ by design, so only the floating check applies there.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.is_complex() or not x.is_floating_point():
        raise TypeError(f"{name} must be a real floating tensor of the layer's dtype ({like.dtype}), got {x.dtype}")
    if x.dtype != like.dtype and not torch.is_autocast_enabled(x.device.type):
        raise TypeError(f"{name} must have the dtype of the layer's parameters ({like.dtype}), got {x.dtype}; "
                        f"convert the input or the module (e.g. module.to({x.dtype}))")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or inf; all values must be finite")
    return x


def check_image_input(x, channels: int, like: Tensor) -> Tensor:
    """A layer's image input: ``check_input``, shaped (batch, channels, height, width) or (channels, height,
    width) with height, width >= 2."""
    check_input(x, "x", like)
    if x.ndim not in (3, 4) or x.shape[-3] != channels or min(x.shape[-2:]) < 2:
        raise ValueError(f"x must have shape (batch, {channels}, height, width) or ({channels}, height, width) "
                         f"with height, width >= 2 (in_channels={channels}), got {tuple(x.shape)}")
    return x


def as_alpha_tensor(alpha, like: Tensor) -> Tensor:
    """``alpha`` as a tensor of ``like``'s dtype and device, keeping its autograd graph."""
    if isinstance(alpha, Tensor):
        return alpha.to(dtype=like.dtype, device=like.device)
    return torch.tensor(float(alpha), dtype=like.dtype, device=like.device)


def order_along(a: Tensor, y: Tensor, dim: int) -> Tensor:
    """The order tensor ``a`` reshaped to ``y.ndim`` dims: a scalar, or one order per channel with size 1
    along the time axis ``dim`` (normalised) and broadcasting against ``y``; otherwise ValueError."""
    if a.ndim > y.ndim:
        raise ValueError(f"alpha has {a.ndim} dimensions but y only {y.ndim}; alpha must be a "
                         f"scalar or broadcast against y with size 1 along dim={dim}")
    a = a.reshape((1,) * (y.ndim - a.ndim) + tuple(a.shape))
    if a.shape[dim] != 1:
        raise ValueError(f"alpha must have size 1 along dim={dim} (one order per channel), "
                         f"got alpha shape {tuple(a.shape)} for y shape {tuple(y.shape)}")
    if any(sa not in (1, sy) for sa, sy in zip(a.shape, y.shape)):
        raise ValueError(f"alpha of shape {tuple(a.shape)} does not broadcast to y's shape "
                         f"{tuple(y.shape)}")
    return a
