"""The fractional ODE schemes as Volterra weights, assembled from ``fraczoo.ops.history``.

Every scheme in this package is a discretised Volterra equation on the grid t_n = t_0 + n h,

    y_n = y_0 + sum_{j<=n} c_{n,j} f_j,   c_{n,j} = w_{n-j} + sigma_n [j = 0],   f_j = f(t_j, y_j),

with a Toeplitz kernel ``w`` and a start correction ``sigma`` on the first column (PECE adds an
explicit predictor with kernel ``p``). The scale factors h^alpha / Gamma(.) are folded into the
weights. The weight formulas themselves (differences of powers, kept accurate for large k and
differentiable in alpha up to alpha = 1) live in ``fraczoo.ops.history``; this module only puts
them into the schemes' layout: alpha of shape (DA,) -> weights of shape (N, DA), time first.

References: K. Diethelm, N. J. Ford, A. D. Freed, "A predictor-corrector approach for the numerical
solution of fractional differential equations", Nonlinear Dyn. 29 (2002) 3-22 (product trapezoid
corrector and product rectangle predictor, eqs. (3.2)-(3.5)); K. Diethelm, "The Analysis of
Fractional Differential Equations", Springer 2010, ch. 7; L1: Oldham & Spanier 1974, Lin & Xu,
J. Comput. Phys. 225 (2007) 1533.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from fraczoo.ops._toeplitz import series_reciprocal
from fraczoo.ops.history import power_difference, trapezoid_weights


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


def _time_first(weights: Tensor) -> Tensor:
    """ops' layout (DA, N) -> the schemes' (N, DA)."""
    return weights.transpose(0, 1).contiguous()


def _zero_first(weights: Tensor) -> Tensor:
    """(DA, N) weights with the n = 0 entry replaced by 0."""
    return torch.cat([torch.zeros_like(weights[:, :1]), weights[:, 1:]], dim=1)


def _log_scale(a: Tensor, h: float, gamma_arg: Tensor) -> Tensor:
    """log(h^a / Gamma(gamma_arg))."""
    return a * math.log(h) - torch.lgamma(gamma_arg)


def trapezoid_scheme(alpha: Tensor, h: float, n: int) -> Scheme:
    """Product trapezoid (DFF 2002 corrector) weights for I^alpha on n points.

        y_n = y_0 + h^a / Gamma(a+2) [ a_{0,n} f_0 + sum_{j=1}^{n} a_{j,n} f_j ]
        a_{n,n} = 1,  a_{j,n} = (k+1)^{a+1} - 2 k^{a+1} + (k-1)^{a+1}  (k = n-j, 1 <= j < n),
        a_{0,n} = (n-1)^{a+1} - (n-1-a) n^a

    so kernel = C (1, a_1, a_2, ...), C = h^a / Gamma(a+2), and start_n = C (a_{0,n} - a_n) = C e_n
    for n >= 1 (start_0 = 0), with (w, e) of ``ops.history.trapezoid_weights``. At a = 1 this is the
    trapezoid rule h/2 (1, 2, 2, ...). ``alpha``: (DA,) tensor in the work dtype.
    """
    a = alpha.unsqueeze(-1)
    kernel, start = trapezoid_weights(a, n, _log_scale(a, h, a + 2))
    return Scheme(_time_first(kernel), _time_first(_zero_first(start)))


def pece_scheme(alpha: Tensor, h: float, n: int) -> Scheme:
    """Trapezoid corrector plus the product rectangle (DFF 2002) predictor
    p_d = h^a / Gamma(a+1) (d^a - (d-1)^a) = h^a / Gamma(a+1) b_{d-1}, p_0 = 0, with b the power
    difference (j+1)^a - j^a (``ops.history.power_difference`` at p = a)."""
    scheme = trapezoid_scheme(alpha, h, n)
    a = alpha.unsqueeze(-1)
    rectangle = torch.exp(_log_scale(a, h, a + 1)) * power_difference(a, n - 1)  # p_1 .. p_{n-1}
    scheme.predictor = _time_first(torch.cat([torch.zeros_like(rectangle[:, :1]), rectangle], dim=1))
    return scheme


def l1_scheme(alpha: Tensor, h: float, n: int) -> Scheme:
    """The L1 scheme for D^a y = f(t, y), rewritten as a Volterra (convolution) scheme.

    L1 discretisation of the Caputo derivative, implicit in f:

        h^-a / Gamma(2-a) sum_{i=1}^{n} b_{n-i} (y_i - y_{i-1}) = f(t_n, y_n),   b_j = (j+1)^{1-a} - j^{1-a}

    (b: ``ops.history.power_difference`` at p = 1 - a, the weights of ``ops.caputo(method="l1")``).
    With generating functions this is b(z) Delta(z) = kappa F(z), kappa = Gamma(2-a) h^a, and
    y_n - y_0 = sum_{i<=n} Delta_i, so the L1 solution is exactly

        y_n = y_0 + sum_{j=1}^{n} w_{n-j} f_j,   w(z) = kappa / ((1 - z) b(z)),

    the same Volterra form as the product-integration schemes (no weight on f_0: start = -w for
    n >= 1 cancels the kernel's f_0 column). The reciprocal power series is computed by Newton's
    iteration (``ops._toeplitz.series_reciprocal``), O(N log N), differentiable in alpha. At a = 1,
    b = (1, 0, 0, ...) and w = h (1, 1, ...): backward Euler. ``alpha``: (DA,) tensor.
    """
    a = alpha.unsqueeze(-1)
    b = power_difference(1 - a, n)
    c = torch.cat([b[:, :1], b[:, 1:] - b[:, :-1]], dim=1)  # (1 - z) b(z)
    kappa = torch.exp(torch.lgamma(2 - a) + a * math.log(h))
    kernel = series_reciprocal(c, n) * kappa
    return Scheme(_time_first(kernel), _time_first(_zero_first(-kernel)))
