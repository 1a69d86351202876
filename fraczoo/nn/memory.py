"""Fractional-memory sequence layer: a gated update driven by the Caputo derivative along time.

For a (B, T, C) input x the layer computes, per channel c with a learnable order alpha_c in (0, 1),

    h = LayerNorm(x) (or x),  u = W_in h,  m = D^alpha u  (L1 Caputo along time, dt = ``dt``),
    out = x + W_out (sigmoid(W_gate h) * m),

so every output step sees the whole past through the power-law kernel of D^alpha. With dt = 1,
D^alpha u_n = (u_n - sum_{m>=1} c_m u_{n-m} - b_{n-1} u_0) / Gamma(2 - alpha) with c_m ~ m^(-1-alpha), the
AR(infinity) shape of an ARFIMA(0, d, 0) process with d = alpha (Hosking 1981), which is why the layer
suits long-memory series. Training uses the unbiased O(k)-per-step estimate ``stochastic_caputo``
(k = ``num_samples``); eval mode, or k >= T - 1, uses the exact FFT sum ``caputo``.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from fraczoo._checks import check_choice, check_input, check_int, check_open_interval, check_real
from fraczoo.nn.order import FractionalOrder
from fraczoo.ops.history import caputo
from fraczoo.ops.memory import SAMPLERS, stochastic_caputo


class StochasticFractionalLayer(nn.Module):
    """Residual fractional-memory layer on (B, T, C) inputs (time on dim 1).

    ``channels``: C. ``num_samples``: k sampled lags per step in training. ``sampler``: one of
    ``fraczoo.ops.memory.SAMPLERS``. ``alpha_init``: initial order in (0, 1); ``per_channel``: one order
    per channel (else one shared). ``dt``: time step of the sequence. ``norm``: LayerNorm the input of
    the update (h = x without it). ``.alpha`` is the constrained order
    tensor, shape (1, C) or (); ``memory(u)`` is the bare Caputo term D^alpha u (exact or sampled).
    """

    def __init__(self, channels: int, *, num_samples: int = 32, sampler: str = "by_parts",
                 alpha_init: float = 0.5, per_channel: bool = True, dt: float = 1.0, norm: bool = True,
                 generator: torch.Generator | None = None):
        super().__init__()
        check_int(channels, "channels")
        check_int(num_samples, "num_samples")
        check_choice(sampler, "sampler", SAMPLERS)
        dt = check_real(dt, "dt")
        if not dt > 0:
            raise ValueError(f"dt must be > 0 (a finite time step), got {dt:g}")
        check_open_interval(alpha_init, "alpha_init", 0.0, 1.0)
        self.channels, self.num_samples, self.sampler, self.dt = channels, num_samples, sampler, dt
        self.generator = generator
        self.order = FractionalOrder(alpha_init, low=0.0, high=1.0, shape=(1, channels) if per_channel else ())
        # LayerNorm makes deep stacks stable but discards the input's scale, which a linear forecaster
        # of a few channels needs: ``norm=False`` skips it.
        self.norm = nn.LayerNorm(channels) if norm else nn.Identity()
        self.inp = nn.Linear(channels, channels)
        self.gate = nn.Linear(channels, channels)
        self.out = nn.Linear(channels, channels)

    @property
    def alpha(self) -> Tensor:
        return self.order()

    def memory(self, u: Tensor) -> Tensor:
        """D^alpha u along dim 1 of a (B, T, C) tensor: sampled in training (when k < T - 1), else exact."""
        self._check_input(u)
        alpha = self.alpha.to(u.dtype)
        if self.training and self.num_samples < u.shape[1] - 1:
            # one draw set per channel, shared by the batch: unbiased per series, and the sampling
            # work no longer scales with the batch size
            return stochastic_caputo(u, alpha, self.dt, self.num_samples, dim=1, sampler=self.sampler,
                                     generator=self.generator, share_draws=True)
        return caputo(u, alpha, self.dt, dim=1)

    def _check_input(self, x: Tensor) -> None:
        check_input(x, "input", self.inp.weight)
        if x.ndim != 3 or x.shape[-1] != self.channels:
            raise ValueError(f"input must have shape (batch, time, {self.channels}), got {tuple(x.shape)}")
        if x.shape[1] < 2:
            raise ValueError(f"input needs at least 2 time steps, got {x.shape[1]}")

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x)
        h = self.norm(x)
        return x + self.out(torch.sigmoid(self.gate(h)) * self.memory(self.inp(h)))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, num_samples={self.num_samples}, sampler={self.sampler!r}, dt={self.dt:g}"
