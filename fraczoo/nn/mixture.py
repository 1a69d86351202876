"""A gated mix of fractional-difference forecasters: long memory whose order is inferred from the data.

For ARFIMA(0, d, 0), (1 - B)^d x_t = eps_t, the best forecast from the infinite past is
x_hat_{n+1} = -sum_{k>=1} g_k(d) x_{n+1-k}, g_k(d) = (-1)^k binom(d, k) the Grünwald-Letnikov weights
(Hosking 1981; ``fraczoo.ops.history.gl_weights``). d differs from series to series, so the layer keeps M
such forecasters ("experts", learnable orders d_1..d_M) and weighs them by how well each has forecast the
series so far. For a (B, T, C) input (C independent series), at every step n and channel:

    q_j(n)  = -sum_{k=1}^{n+1} g_k(d_j) x_{n+1-k}                     (fractional memory, exact FFT sum)
    u_j(t)  = x_t - q_j(t-1)                                          ((1 - B)^d_j x_t: expert j's innovation)
    f_j(n)  = q_j(n) + sum_{l=1}^{p} phi_l u_j(n+1-l)                 (optional AR(p) short memory, ``ar_lags``)
    L_j(n)  = sum_{t<=n} (x_t - f_j(t-1))^2                           (running squared error, f_j(-1) = 0)
    w(n)    = softmax_j(b_j - beta L_j(n))                            (``gate="posterior"``; "static": softmax(b))
    out(n)  = sum_j w_j(n) f_j(n)                                     (forecast of x_{n+1} from x_0..x_n)

With beta = 1/2 and unit innovations w is the posterior over the experts' orders under a Gaussian
likelihood with prior softmax(b), i.e. the Bayes mixture of ARFIMA(p, d_j, 0) forecasters; orders, prior,
beta and phi are learned. The layer is causal: out(n) never depends on x_{n+1}.

Streaming: ``step(x_n)`` gives out(n) from O(K + M p) numbers per channel instead of the whole past: the
history sums run as K decaying exponential sums (``fraczoo.ops.soe``, K ~ 120 for 10^7 steps at relative
kernel error 1e-9), shared by all M orders. ``forecast(history, steps)`` runs a stream over a history and
continues it with its own forecasts.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from fraczoo._checks import check_choice, check_input, check_int, check_pair, check_real
from fraczoo.nn.order import FractionalOrder
from fraczoo.ops._toeplitz import causal_conv
from fraczoo.ops.history import gl_weights
from fraczoo.ops.soe import gl_soe, soe_update

GATES = ("posterior", "static")


class FractionalDifferenceMixture(nn.Module):
    """Gated mix of ``num_orders`` fractional-difference one-step forecasters on (B, T, C) inputs (time on dim 1).

    ``order_range``: (low, high) with 0 <= low < high <= 1, the orders' range; they start evenly spread
    over it. ``gate``: "posterior" (weights from the experts' running errors) or "static" (a learned fixed
    mix). ``temperature``: initial beta (1/2 is the Gaussian posterior for unit innovations). ``ar_lags``: p.
    ``stream_horizon``, ``stream_tol``: longest stream and relative kernel error the streaming state holds.
    ``.alpha`` is the (M,) tensor of orders (a ``FractionalOrder``, so order callbacks find it).
    """

    def __init__(self, num_orders: int = 8, *, order_range: tuple[float, float] = (0.0, 0.5),
                 gate: str = "posterior", temperature: float = 0.5, ar_lags: int = 0,
                 stream_horizon: int = 10**7, stream_tol: float = 1e-9):
        super().__init__()
        check_int(num_orders, "num_orders")
        check_int(ar_lags, "ar_lags", 0)
        check_int(stream_horizon, "stream_horizon")
        check_choice(gate, "gate", GATES)
        check_real(temperature, "temperature", 0.0, lo_open=True)
        check_real(stream_tol, "stream_tol", 0.0, 1e-2, lo_open=True, hi_open=False)
        low, high = check_pair(order_range, "order_range")
        if not 0 <= low < high <= 1:
            raise ValueError(f"order_range must be (low, high) with 0 <= low < high <= 1, got {order_range!r}")
        self.num_orders, self.gate, self.ar_lags = num_orders, gate, ar_lags
        self.stream_horizon, self.stream_tol = stream_horizon, stream_tol
        self.order = FractionalOrder(0.5 * (low + high), low=low, high=high, shape=(num_orders,))
        with torch.no_grad():
            p = (torch.arange(num_orders) + 0.5) / num_orders          # evenly spread start
            self.order.raw.copy_(torch.log(p / (1 - p)))
        self.prior = nn.Parameter(torch.zeros(num_orders))
        self.raw_temperature = nn.Parameter(torch.tensor(math.log(math.expm1(temperature))))  # softplus^-1
        self.ar = nn.Parameter(torch.zeros(ar_lags))
        self._stream: dict | None = None

    @property
    def alpha(self) -> Tensor:
        return self.order()

    def _check_input(self, x: Tensor) -> None:
        check_input(x, "input", self.prior)
        if x.ndim != 3:
            raise ValueError(f"input must have shape (batch, time, channels), got {tuple(x.shape)}")
        if x.shape[1] < 2:
            raise ValueError(f"input needs at least 2 time steps, got {x.shape[1]}")

    @property
    def temperature(self) -> Tensor:
        """beta of the posterior gate softmax(prior - beta * running squared error), kept > 0 by softplus."""
        return F.softplus(self.raw_temperature)

    def _mix(self, forecasts: Tensor, sq_errors: Tensor) -> Tensor:
        """forecasts, sq_errors (..., M) -> gated mix (...); sq_errors are the running sums L."""
        logits = self.prior if self.gate == "static" else self.prior - self.temperature * sq_errors
        return (torch.softmax(logits.expand_as(forecasts), -1) * forecasts).sum(-1)

    def forward(self, x: Tensor) -> Tensor:
        """x (B, T, C) -> out (B, T, C): out[:, n] forecasts x[:, n + 1] from x[:, :n + 1]."""
        self._check_input(x)
        xt = x.movedim(1, -1).unsqueeze(-2)                            # (B, C, 1, T)
        kernel = -gl_weights(self.alpha, x.shape[1] + 1, dtype=x.dtype)[..., 1:]   # (M, T): -g_1 .. -g_T
        q = causal_conv(kernel, xt)                                    # (B, C, M, T)
        f = q
        if self.ar_lags:
            u = xt - F.pad(q, (1, -1))                                 # u_j(t) = x_t - q_j(t-1)
            f = q + sum(self.ar[lag - 1] * F.pad(u, (lag - 1, 1 - lag)) for lag in range(1, self.ar_lags + 1))
        errors = torch.cumsum((xt - F.pad(f, (1, -1))).square(), -1)  # L_j(n)
        out = self._mix(f.movedim(-1, -2), errors.movedim(-1, -2))     # (B, C, T)
        return out.movedim(-1, 1)

    # ------------------------------------------------------------------------------------------
    # streaming

    def reset_stream(self) -> None:
        """Forget the stream: the next ``step`` is the first value of a new series."""
        self._stream = None

    def step(self, x: Tensor, *, update_gate: bool = True) -> Tensor:
        """Feed x_n, shape (B, C); returns out(n), the forecast of x_{n+1} (B, C), equal to ``forward`` on the
        whole stream up to the SOE kernel error. ``update_gate=False`` leaves the experts' running errors
        as they are (used for values that are forecasts, not observations). State: O(K + M p) per channel."""
        check_input(x, "x", self.prior)
        if x.ndim != 2:
            raise ValueError(f"x must have shape (batch, channels), got {tuple(x.shape)}")
        s = self._stream
        if s is None or s["shape"] != x.shape:
            s = self._stream = self._new_stream(x)
        x64 = x.to(torch.float64)
        if update_gate:
            s["errors"] = s["errors"] + (x64[..., None] - s["f"]).square()
        if self.ar_lags:
            s["u"] = torch.cat([(x64[..., None] - s["q"])[..., None], s["u"][..., :-1]], -1)
        s["history"] = soe_update(s["history"], x64, s["rates"])
        s["q"] = -(s["history"][..., None, :] * s["weights"]).sum(-1)      # (B, C, M)
        s["f"] = s["q"] + (s["u"] * self.ar.to(torch.float64)).sum(-1) if self.ar_lags else s["q"]
        out = self._mix(s["f"].to(x.dtype), s["errors"].to(x.dtype))
        return out

    def _new_stream(self, x: Tensor) -> dict:
        rates, weights = gl_soe(self.alpha.detach().to(torch.float64), self.stream_horizon, tol=self.stream_tol)
        zeros = x.new_zeros(*x.shape, self.num_orders, dtype=torch.float64)
        return {"shape": x.shape, "rates": rates, "weights": weights,
                "history": x.new_zeros(*x.shape, len(rates), dtype=torch.float64),
                "q": zeros, "f": zeros, "errors": zeros,
                "u": x.new_zeros(*x.shape, self.num_orders, self.ar_lags, dtype=torch.float64)}

    def forecast(self, history: Tensor, steps: int, *, readout=None) -> Tensor:
        """Streams ``history`` (B, T, C) from a fresh state, then feeds back its own forecasts: returns the
        forecasts of x_T .. x_{T+steps-1}, (B, steps, C). ``readout`` (e.g. a model's head) maps each output
        before it is returned and fed back. The gate keeps its weights after the history (forecasts are not
        evidence); the stream is left after the last forecast."""
        check_input(history, "history", self.prior)
        if history.ndim != 3 or history.shape[1] < 1:
            raise ValueError(f"history must have shape (batch, time >= 1, channels), got {tuple(history.shape)}")
        check_int(steps, "steps")
        readout = readout or (lambda out: out)
        self.reset_stream()
        for n in range(history.shape[1]):
            out = readout(self.step(history[:, n]))
        outs = [out]
        for _ in range(steps - 1):
            outs.append(readout(self.step(outs[-1], update_gate=False)))
        return torch.stack(outs, 1)

    def extra_repr(self) -> str:
        return f"num_orders={self.num_orders}, gate={self.gate!r}, ar_lags={self.ar_lags}"
