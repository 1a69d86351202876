"""Time-domain fractional operators on a uniform grid t_n = t_0 + n dt, n = 0..N-1.

Every operator here is a causal history sum  out[n] = sum_{j<=n} w[n-j] v[j]  with weights that
depend only on n - j, so it is evaluated by ``causal_conv`` (dense Toeplitz product for short
grids, zero-padded FFT in O(N log N) above ``_toeplitz.FFT_THRESHOLD`` points) and never by a
Python loop over time. Autograd flows through the weights to ``alpha``.

    caputo(y, alpha, dt, method="l1")     Caputo D^alpha, 0 < alpha <= 1, order 2 - alpha
    caputo(y, alpha, dt, method="l1-2")   Caputo D^alpha, 0 < alpha <= 1, order 3 - alpha
    rl_integral(y, alpha, dt)             Riemann-Liouville I^alpha, alpha > 0, order 2
    grunwald_letnikov(y, alpha, dt)       Riemann-Liouville D^alpha, 0 < alpha <= 2, order 1

The weights are differences of powers, (k+1)^p - k^p and the like, that cancel catastrophically
for large k (relative error ~ eps * k^2 for a second difference). They are therefore computed in
float64 and, for large k, from their series in 1/k; only the finished weights are cast to the
dtype of ``y``. ``dt`` enters as a constant (no gradient flows to it).

This module is the one home of these weight formulas; the fractional ODE schemes (``fraczoo.fode``)
assemble theirs from the same helpers, in the layout alpha (..., 1) -> weights (..., n):

    work_dtype(device)                       dtype the weights are built in (float64; float32 on MPS)
    power_difference(p, n)                   (j+1)^p - j^p: L1 weights (p = 1 - alpha), product rectangle (p = alpha)
    trapezoid_weights(alpha, n, log_scale)   product-trapezoid kernel and start correction
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from fraczoo._checks import (as_alpha_tensor, check_alpha, check_choice, check_dim, check_int, check_positive,
                             check_tensor, order_along)
from fraczoo.ops._toeplitz import causal_conv

__all__ = ["caputo", "rl_integral", "grunwald_letnikov", "gl_weights", "l1_weights", "power_difference",
           "trapezoid_weights", "work_dtype"]

CAPUTO_METHODS = ("l1", "l1-2")
GL_MAX_ALPHA = 2.0

# The one cut-off rule for every weight below: a difference of powers k^p is summed as its binomial
# series in x = 1/k from k >= _SERIES_START * max(1, p / 2) on (``_series_from``). Successive terms
# binom(p, i) x^i have ratio |p - i| / (i + 1) * x <= max(1, (p - 1) / 2) x <= 1/8 (i >= 1), so
# _SERIES_TERMS even terms (or 2 * _SERIES_TERMS terms of a full series) reach 8^-20 ~ 1e-18; below
# the cut-off the direct formula loses < 10 bits to cancellation.
_SERIES_START = 8
_SERIES_TERMS = 10


# ----------------------------------------------------------------------------------------------
# weights


def work_dtype(device: torch.device) -> torch.dtype:
    """The dtype weights are built in: float64, except on MPS (no float64 there), float32."""
    return torch.float32 if device.type == "mps" else torch.float64


def _series_from(p: Tensor) -> Tensor:
    """First index at which a difference of powers k^p is summed as its series in 1/k."""
    return _SERIES_START * (p / 2).clamp(min=1)


def _grid_index(n: int, like: Tensor) -> Tensor:
    return torch.arange(n, dtype=like.dtype, device=like.device)


def _binomials(q: Tensor, kmax: int) -> list[Tensor]:
    """[binom(q, 0), ..., binom(q, kmax)] for real q, by binom(q, k) = binom(q, k-1) (q-k+1)/k."""
    coeffs = [torch.ones_like(q)]
    for k in range(1, kmax + 1):
        coeffs.append(coeffs[-1] * (q - k + 1) / k)
    return coeffs


def power_difference(p: Tensor, n: int) -> Tensor:
    """b_j = (j+1)^p - j^p, j = 0..n-1, for p >= 0 of shape (..., 1) -> (..., n); b_0 = 1.

    Written as j^p * expm1(p log1p(1/j)) so it keeps full relative precision for large j (no series
    needed), and b_0 = 1 is set directly so no 0^p (infinite p-gradient at p = 0) is ever formed
    (for p = 0 this is the limit p -> 0+). Differentiable in p.
    Uses: the L1 weights (p = 1 - alpha, ``l1_weights``) and the product-rectangle weights
    d^alpha - (d-1)^alpha = b_{d-1} (p = alpha) of the fractional Adams predictor.
    """
    j = _grid_index(n, p)
    jj = j.clamp(min=1)
    b = jj.pow(p) * torch.expm1(p * torch.log1p(1 / jj))
    return torch.where(j == 0, torch.ones_like(b), b)


def _l12_weights(alpha: Tensor, n: int) -> Tensor:
    """Quadratic-correction weights of the L1-2 formula (Gao, Sun & Zhang 2014, eq. (2.5)):

        b_0 = alpha / (2 (2-alpha)),
        b_m = ((m+1)^(2-alpha) - m^(2-alpha)) / (2-alpha) - ((m+1)^(1-alpha) + m^(1-alpha)) / 2.

    From m >= _series_from(p) = 8 on (p < 1), with c = m + 1/2, x = 1/(2c), p = 1 - alpha, the same number is
        b_m = -2 c^(2-alpha) sum_{i>=1} binom(p, 2i) (2i / (2i+1)) x^(2i+1),
    whose leading term alpha (1-alpha) c^(-1-alpha) / 12 shows the O(m^-1-alpha) size the direct
    formula would have to recover from O(m^(2-alpha)) terms.
    """
    p = 1 - alpha
    m = _grid_index(n, alpha)
    use_series = m >= _series_from(p)  # the series' binomials are those of p = 1 - alpha

    md = m.clamp(min=1)
    direct = ((md + 1).pow(1 + p) - md.pow(1 + p)) / (1 + p) - ((md + 1).pow(p) + md.pow(p)) / 2

    c = md + 0.5
    x = 1 / (2 * c)
    binom = _binomials(p, 2 * _SERIES_TERMS)
    series, x_pow = torch.zeros_like(direct), x
    for i in range(1, _SERIES_TERMS + 1):
        x_pow = x_pow * x * x
        series = series + binom[2 * i] * (2 * i / (2 * i + 1)) * x_pow
    series = -2 * c.pow(1 + p) * series

    b0 = (alpha / (2 * (2 - alpha))).expand_as(direct)
    return torch.where(m == 0, b0, torch.where(use_series, series, direct))


def trapezoid_weights(alpha: Tensor, n: int, log_scale: Tensor) -> tuple[Tensor, Tensor]:
    """Product-trapezoid weights (Diethelm, Ford & Freed 2002, eq. (2.3)), times exp(log_scale).

    I^alpha y(t_n) ~ dt^alpha / Gamma(alpha+2) sum_{j=0}^{n} a_{j,n} y_j with q = alpha + 1,
        a_{n,n} = 1,  a_{j,n} = w_{n-j} = (k+1)^q - 2 k^q + (k-1)^q  (k = n-j = 1..n-1),
        a_{0,n} = (n-1)^q - (n-1-alpha) n^alpha = w_n + e_n,  e_n = n^q + q n^(q-1) - (n+1)^q.
    ``alpha`` > 0 and ``log_scale`` of shape (..., 1); returns (w, e), each (..., n), so the sum is
    causal_conv(w, y) + e * y_0; e_0 = -1 makes the n = 0 output exactly 0. Differentiable in alpha
    (no 0^q is formed). For large k both come from their series in x = 1/k:
        w_k = 2 k^q sum_{i>=1} binom(q, 2i) x^(2i),   e_k = -k^q sum_{i>=2} binom(q, i) x^i.
    The scale enters through exp(q log k + log_scale) so large alpha cannot overflow k^q.
    """
    q = alpha + 1
    k = _grid_index(n, alpha)
    use_series = k >= _series_from(q)  # the series need k >> q: where they take over grows with alpha

    def scaled_pow(base: Tensor) -> Tensor:
        return torch.exp(q * torch.log(base) + log_scale)

    kk = k.clamp(min=1)  # k = 0 is set separately below; avoid log(0) in both branches
    pow_k, pow_next = scaled_pow(kk), scaled_pow(kk + 1)
    pow_prev = torch.where(kk > 1, scaled_pow((kk - 1).clamp(min=1)), torch.zeros_like(pow_k))
    w_direct = pow_next - 2 * pow_k + pow_prev
    e_direct = pow_k + q * pow_k / kk - pow_next

    # all series terms binom(q, i) x^i, i = 2..2T, at once: a few tensor operations (and autograd
    # nodes) instead of a Python loop of ~100, which short solves feel
    x = 1 / kk
    terms = 2 * _SERIES_TERMS
    ratios = (q - _grid_index(terms, q)) / (_grid_index(terms, q) + 1)  # binom(q, i) / binom(q, i-1), i = 1..2T
    binom = torch.cumprod(ratios, dim=-1)[..., 1:].unsqueeze(-2)  # i = 2..2T, (..., 1, 2T - 1)
    powers = torch.cumprod(x.unsqueeze(-1).expand(x.shape + (terms,)), dim=-1)[..., 1:]  # x^2 .. x^2T
    series = binom * powers
    e_sum, w_sum = series.sum(-1), series[..., ::2].sum(-1)  # all i; even i
    w_series = 2 * pow_k * w_sum
    e_series = -pow_k * e_sum

    scale = torch.exp(log_scale).expand_as(w_direct)
    w = torch.where(k == 0, scale, torch.where(use_series, w_series, w_direct))
    e = torch.where(k == 0, -scale, torch.where(use_series, e_series, e_direct))
    return w, e


def _gl_weights(alpha: Tensor, n: int) -> Tensor:
    """g_k = (-1)^k binom(alpha, k) = prod_{i=1}^{k} (1 - (alpha+1)/i), as a cumulative product."""
    i = _grid_index(n, alpha)[1:]
    factors = 1 - (alpha + 1) / i
    return torch.cat([torch.ones_like(factors[..., :1]), torch.cumprod(factors, dim=-1)], dim=-1)


def l1_weights(alpha, n: int, *, dtype: torch.dtype | None = None,
               device: torch.device | str | None = None) -> Tensor:
    """L1 weights b_j = (j+1)^(1-alpha) - j^(1-alpha), j = 0..n-1 (b_0 = 1 for every alpha).

    ``alpha``: float in (0, 1] -> shape (n,); tensor of shape S -> shape (*S, n) (i.e. indexed
    by alpha[..., None]). Differentiable in alpha, with a finite gradient at j = 0 and alpha = 1.
    ``dtype``/``device`` default to alpha's (or torch's default dtype for a float alpha).
    These are the weights of ``caputo(..., method="l1")``:
        D^alpha y(t_n) ~ dt^-alpha / Gamma(2-alpha) sum_{j=0}^{n-1} b_{n-1-j} (y_{j+1} - y_j).
    """
    check_alpha(alpha, 0.0, 1.0, lo_open=True)
    check_int(n, "n", 0)
    dtype, device = _weights_dtype_device(alpha, dtype, device)
    a = as_alpha_tensor(alpha, torch.empty((), dtype=work_dtype(device), device=device))
    return power_difference(1 - a.unsqueeze(-1), n).to(dtype)


def gl_weights(alpha, n: int, *, dtype: torch.dtype | None = None,
               device: torch.device | str | None = None) -> Tensor:
    """Grünwald-Letnikov weights g_k = (-1)^k binom(alpha, k), k = 0..n-1: the coefficients of (1 - B)^alpha.

    ``alpha``: float in (0, 2] -> shape (n,); tensor of shape S -> (*S, n). Differentiable in alpha; computed
    in float64 and cast to ``dtype`` (default alpha's, or torch's default for a float alpha). These are the
    weights of ``grunwald_letnikov`` and, for 0 < alpha < 1/2, the AR(infinity) coefficients of ARFIMA(0, alpha, 0).
    """
    check_alpha(alpha, 0.0, GL_MAX_ALPHA, lo_open=True)
    check_int(n, "n", 0)
    dtype, device = _weights_dtype_device(alpha, dtype, device)
    a = as_alpha_tensor(alpha, torch.empty((), dtype=work_dtype(device), device=device))
    return _gl_weights(a.unsqueeze(-1), max(n, 2))[..., :n].to(dtype)


def _weights_dtype_device(alpha, dtype, device):
    if isinstance(alpha, Tensor):
        return dtype or alpha.dtype, torch.device(device) if device is not None else alpha.device
    return dtype or torch.get_default_dtype(), torch.device(device) if device is not None else torch.device("cpu")


# ----------------------------------------------------------------------------------------------
# argument handling


def _prepare(y, alpha, dt, dim, *, alpha_max: float, min_points: int = 2):
    """Validate and move the time axis last. Returns (signal (..., N), alpha (..., 1), dt, dim).

    alpha must lie in (0, alpha_max] (in (0, inf) for alpha_max = inf); it is returned in the work
    dtype (float64), shaped to broadcast against the moved signal.
    """
    check_tensor(y, "y")
    check_alpha(alpha, 0.0, alpha_max, lo_open=True, hi_open=math.isinf(alpha_max))
    dt = check_positive(dt, "dt")
    dim = check_dim(y, dim, x_name="y")
    n = y.shape[dim]
    if n < min_points:
        raise ValueError(f"y must have at least {min_points} grid points along dim={dim}, got {n}")

    like = torch.empty((), dtype=work_dtype(y.device), device=y.device)
    a = as_alpha_tensor(alpha, like)
    a = order_along(a, y, dim)
    return y.movedim(dim, -1), a.movedim(dim, -1), dt, dim


def _pad_front(x: Tensor, count: int) -> Tensor:
    """Prepend ``count`` zeros along the last dim (the outputs the formula defines as 0)."""
    return torch.nn.functional.pad(x, (count, 0))


# ----------------------------------------------------------------------------------------------
# operators


def caputo(y: Tensor, alpha, dt, *, dim: int = -1, method: str = "l1") -> Tensor:
    """Caputo derivative D^alpha y at every grid point, 0 < alpha <= 1, y[..., 0] at t_0.

    ``method="l1"`` (Oldham & Spanier 1974; Lin & Xu 2007), order 2 - alpha for y in C^2:
        D^alpha y(t_n) ~ dt^-alpha / Gamma(2-alpha) sum_{k=1}^{n} b_{n-k} (y_k - y_{k-1}),
        b_j = (j+1)^(1-alpha) - j^(1-alpha)   (see ``l1_weights``),
    i.e. the exact Caputo derivative of the piecewise-linear interpolant of y.
    ``method="l1-2"`` (Gao, Sun & Zhang, J. Comput. Phys. 259 (2014) 33-50), order 3 - alpha for
    y in C^3: y is interpolated quadratically through (t_{k-2}, t_{k-1}, t_k) on each interval
    [t_{k-1}, t_k], k >= 2 (linearly on the first), which adds to L1
        dt^-alpha / Gamma(2-alpha) sum_{k=2}^{n} c_{n-k} (y_k - 2 y_{k-1} + y_{k-2}),
        c_0 = alpha / (2(2-alpha)),
        c_m = ((m+1)^(2-alpha) - m^(2-alpha)) / (2-alpha) - ((m+1)^(1-alpha) + m^(1-alpha)) / 2
    (the paper's c_k^(n), rearranged into differences so the sum is a Toeplitz product).
    At alpha = 1 these reduce to the backward difference (l1) and BDF2 (l1-2). Output at n = 0 is 0.

    ``alpha``: float or tensor (may require grad), 0-d or broadcastable against y with size 1
    along ``dim``. ``dt``: positive float or 0-d tensor. History sums use ``causal_conv``
    (FFT, O(N log N), for long grids).
    """
    check_choice(method, "method", CAPUTO_METHODS)
    x, a, dt, dim = _prepare(y, alpha, dt, dim, alpha_max=1.0)
    n = x.shape[-1]
    scale = torch.exp(-a * math.log(dt) - torch.lgamma(2 - a))

    delta = x.diff(dim=-1)
    w = (scale * power_difference(1 - a, n - 1)).to(x.dtype)
    history = causal_conv(w, delta)
    if method == "l1-2" and n > 2:
        w2 = (scale * _l12_weights(a, n - 2)).to(x.dtype)
        history = history + _pad_front(causal_conv(w2, delta.diff(dim=-1)), 1)
    return _pad_front(history, 1).movedim(-1, dim)


def rl_integral(y: Tensor, alpha, dt, *, dim: int = -1) -> Tensor:
    """Riemann-Liouville integral I^alpha y(t) = 1/Gamma(alpha) int_{t_0}^t (t-s)^(alpha-1) y(s) ds.

    Product trapezoidal rule (Diethelm, Ford & Freed, Nonlinear Dyn. 29 (2002) 3-22, eq. (2.3);
    Diethelm, "The Analysis of Fractional Differential Equations", 2010, sec. 8.2): y is replaced
    by its piecewise-linear interpolant, which is integrated exactly against the kernel:
        I^alpha y(t_n) ~ dt^alpha / Gamma(alpha+2) sum_{j=0}^{n} a_{j,n} y_j,
        a_{0,n} = (n-1)^(alpha+1) - (n-1-alpha) n^alpha,
        a_{j,n} = (n-j+1)^(alpha+1) - 2 (n-j)^(alpha+1) + (n-j-1)^(alpha+1),  1 <= j <= n-1,
        a_{n,n} = 1.
    Exact (to round-off) for piecewise-linear y; order 2 for y in C^2. Output at n = 0 is 0.

    ``alpha`` > 0: float or tensor, 0-d or broadcastable against y with size 1 along ``dim``.
    The Toeplitz part goes through ``causal_conv`` (FFT, O(N log N), for long grids).
    """
    x, a, dt, dim = _prepare(y, alpha, dt, dim, alpha_max=math.inf)
    log_scale = a * math.log(dt) - torch.lgamma(a + 2)
    w, e = trapezoid_weights(a, x.shape[-1], log_scale)
    out = causal_conv(w.to(x.dtype), x) + e.to(x.dtype) * x[..., :1]
    return out.movedim(-1, dim)


def grunwald_letnikov(y: Tensor, alpha, dt, *, dim: int = -1) -> Tensor:
    """Grünwald-Letnikov approximation of the Riemann-Liouville derivative, 0 < alpha <= 2.

        D^alpha y(t_n) ~ dt^-alpha sum_{k=0}^{n} g_k y_{n-k},
        g_k = (-1)^k binom(alpha, k),  g_0 = 1,  g_k = g_{k-1} (1 - (alpha+1)/k),
    (Podlubny, "Fractional Differential Equations", 1999, sec. 7.2; Oldham & Spanier 1974).
    Order 1 for smooth y; note the RL derivative of y with y(t_0) != 0 is singular at t_0, and
    so is this sum (the n = 0 output is dt^-alpha y_0). The weights are a cumulative product,
    differentiable in alpha; the sum goes through ``causal_conv`` (FFT for long grids).

    ``alpha``: float or tensor, 0-d or broadcastable against y with size 1 along ``dim``.
    """
    x, a, dt, dim = _prepare(y, alpha, dt, dim, alpha_max=GL_MAX_ALPHA)
    scale = torch.exp(-a * math.log(dt))
    w = (scale * _gl_weights(a, x.shape[-1])).to(x.dtype)
    return causal_conv(w, x).movedim(-1, dim)
