"""The L1 scheme for D^alpha y = f(t, y), rewritten as a Volterra (convolution) scheme.

L1 discretisation of the Caputo derivative (Oldham & Spanier 1974; Lin & Xu, J. Comput. Phys. 225
(2007) 1533), implicit in f:

    h^-a / Gamma(2-a) sum_{i=1}^{n} b_{n-i} (y_i - y_{i-1}) = f(t_n, y_n),   b_j = (j+1)^{1-a} - j^{1-a}.

With generating functions this is b(z) Delta(z) = kappa F(z), kappa = Gamma(2-a) h^a, and
y_n - y_0 = sum_{i<=n} Delta_i, so the L1 solution is exactly

    y_n = y_0 + sum_{j=1}^{n} w_{n-j} f_j,   w(z) = kappa / ((1 - z) b(z)),

the same Volterra form as the product-integration schemes (no weight on f_0). The reciprocal power
series is computed by Newton's iteration r <- r (2 - c r) with FFT products, O(N log N), and stays
differentiable in alpha. At alpha = 1, b = (1, 0, 0, ...) and w = h (1, 1, ...): backward Euler.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from fraczoo.fode._weights import Scheme, _first_difference, _grid
from fraczoo.ops._toeplitz import causal_conv


def series_reciprocal(c: Tensor, n: int) -> Tensor:
    """First ``n`` coefficients of 1 / c(z) along dim 0 (c[0] != 0), by Newton doubling."""
    cols = c.movedim(0, -1)  # time last for causal_conv
    recip = 1.0 / cols[..., :1]
    m = 1
    while m < n:
        m2 = min(2 * m, n)
        padded = torch.nn.functional.pad(recip, (0, m2 - m))
        err = causal_conv(cols[..., :m2], padded)  # c r mod z^m2 = 1 + O(z^m)
        correction = torch.cat([2 - err[..., :1], -err[..., 1:]], dim=-1)
        recip = causal_conv(padded, correction)
        m = m2
    return recip.movedim(-1, 0)


def l1_scheme(alpha: Tensor, h: float, n: int) -> Scheme:
    """Volterra weights of the L1 scheme on n points; ``alpha``: (DA,) float64 tensor."""
    j = _grid(n, alpha)
    q = 1 - alpha
    # b_j for j >= 1 is (j+1)^q - j^q; b_0 = 1 (also at alpha = 1, where 0^0 would give 0)
    b = torch.where(j < 1, torch.ones_like(j * q), _first_difference(j + 1, q))
    c = torch.cat([b[:1], b[1:] - b[:-1]], dim=0)  # (1 - z) b(z)
    kappa = torch.exp(torch.lgamma(2 - alpha) + alpha * math.log(h))
    kernel = series_reciprocal(c, n) * kappa
    start = torch.cat([torch.zeros_like(kernel[:1]), -kernel[1:]], dim=0)
    return Scheme(kernel, start)
