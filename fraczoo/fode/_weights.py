"""Convolution weights of the fractional ODE schemes, as differentiable functions of alpha.

Every scheme in this package is a discretised Volterra equation on the grid t_n = t_0 + n h,

    y_n = y_0 + sum_{j<=n} c_{n,j} f_j,   c_{n,j} = w_{n-j} + sigma_n [j = 0],   f_j = f(t_j, y_j),

with a Toeplitz kernel ``w`` and a start correction ``sigma`` on the first column (PECE adds an
explicit predictor with kernel ``p``). The scale factors h^alpha / Gamma(.) are folded into the
weights. Weights are differences of powers that cancel catastrophically for large k (relative error
~ eps k^2 for a second difference), so they are computed in float64 and, for large k, from their
binomial series in 1/k; only the finished weights are cast to the working dtype.

References: K. Diethelm, N. J. Ford, A. D. Freed, "A predictor-corrector approach for the numerical
solution of fractional differential equations", Nonlinear Dyn. 29 (2002) 3-22 (product trapezoid
corrector and product rectangle predictor, eqs. (3.2)-(3.5)); K. Diethelm, "The Analysis of
Fractional Differential Equations", Springer 2010, ch. 7.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

# From this index on the power differences are summed as series in x = 1/k; with k >= 8 each term
# is at most 1/64 (even series) or 1/8 (full series) of the previous one.
_SERIES_START = 8
_EVEN_TERMS = 10   # 64^-10 ~ 1e-18
_FULL_TERMS = 20   # 8^-20 ~ 1e-18


def weight_dtype(device: torch.device) -> torch.dtype:
    # MPS has no float64; every other backend builds the weights in double precision.
    return torch.float32 if device.type == "mps" else torch.float64


def safe_pow(base: Tensor, p: Tensor) -> Tensor:
    """base ** p for base >= 0 with 0 ** p = 0 (p > 0) and finite gradients in p at base = 0.

    ``torch.pow`` gives d/dp 0**p = 0 * log(0) = nan; routing base = 0 through a dummy base of 1
    keeps that branch out of the graph.
    """
    positive = base > 0
    ones = torch.ones_like(base)
    return torch.where(positive, torch.exp(p * torch.log(torch.where(positive, base, ones))),
                       torch.zeros_like(base * p))


def _binomials(p: Tensor, count: int) -> list[Tensor]:
    """[C(p, 0), C(p, 1), ..., C(p, count - 1)] as tensors shaped like ``p``."""
    out = [torch.ones_like(p)]
    for j in range(1, count):
        out.append(out[-1] * (p - (j - 1)) / j)
    return out


def _second_difference(k: Tensor, p: Tensor) -> Tensor:
    """(k+1)^p - 2 k^p + (k-1)^p for integers k >= 1 (k as a float column, p broadcast).

    Large k: k^p ((1+x)^p + (1-x)^p - 2) = 2 k^p sum_{m>=1} C(p, 2m) x^{2m}, x = 1/k.
    """
    direct = safe_pow(k + 1, p) - 2 * safe_pow(k, p) + safe_pow(k - 1, p)
    x2 = 1.0 / (k * k)
    binom = _binomials(p, 2 * _EVEN_TERMS + 1)
    series = torch.zeros_like(direct)
    for m in range(_EVEN_TERMS, 0, -1):  # Horner in x^2, smallest terms first
        series = (series + binom[2 * m]) * x2
    series = 2 * safe_pow(k, p) * series
    return torch.where(k < _SERIES_START, direct, series)


def _start_defect(n: Tensor, p: Tensor) -> Tensor:
    """(1+x)^p - 1 - p x scaled by n^p, i.e. (n+1)^p - n^p - p n^(p-1), for integers n >= 1."""
    direct = safe_pow(n + 1, p) - safe_pow(n, p) - p * safe_pow(n, p - 1)
    x = 1.0 / n
    binom = _binomials(p, _FULL_TERMS + 2)
    series = torch.zeros_like(direct)
    for m in range(_FULL_TERMS + 1, 1, -1):
        series = (series + binom[m]) * x
    series = series * x * safe_pow(n, p)
    # series = n^p sum_{m>=2} C(p, m) x^m, built as x * (x * (...)) above
    return torch.where(n < _SERIES_START, direct, series)


def _first_difference(d: Tensor, q: Tensor) -> Tensor:
    """d^q - (d-1)^q for integers d >= 1, as -d^q expm1(q log1p(-1/d)) (no cancellation)."""
    dm = torch.clamp(d, min=2.0)  # d = 1 handled exactly below: 1 - 0^q = 1 for q > 0
    value = -safe_pow(dm, q) * torch.expm1(q * torch.log1p(-1.0 / dm))
    return torch.where(d < 2, torch.ones_like(value), value)


@dataclass
class Scheme:
    """Weights of one discretisation on an N-point grid, each of shape (N, DA) (DA = 1 or #orders).

    ``kernel[k]``: Toeplitz weight w_k of f_{n-k} in y_n (``kernel[0]`` multiplies f_n: the implicit
    diagonal; PECE puts the predicted f there). ``start[n]``: extra weight sigma_n of f_0 in y_n
    (``start[0] = 0``). ``predictor[d]``: PECE predictor weight of f_{n-d} (``predictor[0] = 0``),
    None for the implicit schemes.
    """

    kernel: Tensor
    start: Tensor
    predictor: Tensor | None = None

    def to(self, dtype: torch.dtype) -> "Scheme":
        pred = None if self.predictor is None else self.predictor.to(dtype)
        return Scheme(self.kernel.to(dtype), self.start.to(dtype), pred)


def _grid(n: int, alpha: Tensor) -> Tensor:
    return torch.arange(n, dtype=alpha.dtype, device=alpha.device).unsqueeze(-1)  # (N, 1)


def product_trapezoid(alpha: Tensor, h: float, n: int) -> Scheme:
    """Product trapezoid (DFF 2002 corrector) weights for I^alpha on n points.

        y_n = y_0 + h^a / Gamma(a+2) [ a_{0,n} f_0 + sum_{j=1}^{n} a_{j,n} f_j ]
        a_{n,n} = 1,  a_{j,n} = (k+1)^{a+1} - 2 k^{a+1} + (k-1)^{a+1}  (k = n-j, 1 <= j < n),
        a_{0,n} = (n-1)^{a+1} - (n-1-a) n^a

    so kernel = C (1, a_1, a_2, ...), C = h^a / Gamma(a+2), and start_n = C (a_{0,n} - a_n)
    = -C [(n+1)^{a+1} - n^{a+1} - (a+1) n^a]. At a = 1 this is the trapezoid rule h/2 (1, 2, 2, ...).
    ``alpha``: (DA,) float64 tensor.
    """
    p = alpha + 1
    k = _grid(n, alpha)
    scale = torch.exp(alpha * math.log(h) - torch.lgamma(alpha + 2))
    ks = torch.clamp(k, min=1.0)
    inner = _second_difference(ks, p)
    kernel = torch.where(k < 1, torch.ones_like(inner), inner) * scale
    start = torch.where(k < 1, torch.zeros_like(inner), -_start_defect(ks, p)) * scale
    return Scheme(kernel, start)


def product_rectangle(alpha: Tensor, h: float, n: int) -> Tensor:
    """Product rectangle (DFF 2002 predictor) kernel: p_d = h^a/Gamma(a+1) (d^a - (d-1)^a), p_0 = 0."""
    d = _grid(n, alpha)
    scale = torch.exp(alpha * math.log(h) - torch.lgamma(alpha + 1))
    diff = _first_difference(torch.clamp(d, min=1.0), alpha)
    return torch.where(d < 1, torch.zeros_like(diff), diff) * scale


def pece_scheme(alpha: Tensor, h: float, n: int) -> Scheme:
    scheme = product_trapezoid(alpha, h, n)
    scheme.predictor = product_rectangle(alpha, h, n)
    return scheme
