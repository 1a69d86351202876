"""Learnable fractional orders.

Every fractional layer in fraczoo takes its order from a :class:`FractionalOrder` module (or from a
probabilistic order such as ``NormalAlphaLayer``), so callbacks find orders by type, never by name.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from fraczoo._checks import check_int, check_open_interval, check_real


class FractionalOrder(nn.Module):
    """A point order alpha in the open interval (low, high): alpha = low + (high - low) * sigmoid(raw).

    ``shape`` () gives one order; e.g. (C, 1, 1) gives one order per channel of a (B, C, H, W) input.
    ``learnable=False`` keeps alpha fixed (a buffer). ``forward()`` returns the alpha tensor.
    """

    def __init__(self, init: float = 0.5, *, low: float = 0.0, high: float = 1.0,
                 shape: tuple[int, ...] = (), learnable: bool = True):
        super().__init__()
        low, high = check_real(low, "low"), check_real(high, "high")
        if not low < high:
            raise ValueError(f"low must be < high, got low={low:g}, high={high:g}")
        init = check_open_interval(init, "init", low, high)
        if isinstance(shape, int) or not isinstance(shape, (tuple, list, torch.Size)):
            raise TypeError(f"shape must be a tuple of positive ints, got {shape!r}")
        shape = tuple(check_int(s, "shape entries") for s in shape)
        self.low, self.high = low, high
        p = (init - low) / (high - low)
        raw = torch.full(shape, math.log(p / (1 - p)))
        if learnable:
            self.raw = nn.Parameter(raw)
        else:
            self.register_buffer("raw", raw)

    def forward(self) -> Tensor:
        return self.low + (self.high - self.low) * torch.sigmoid(self.raw)

    @property
    def mean(self) -> Tensor:
        return self.forward()

    @property
    def std(self) -> Tensor:
        return torch.zeros_like(self.raw)

    def extra_repr(self) -> str:
        return f"range=({self.low:g}, {self.high:g}), shape={tuple(self.raw.shape)}"
