"""Mellin engine: Riemann-Liouville derivatives and integrals on (0, inf) by FFT in log t.

Power functions are the eigenfunctions of the Riemann-Liouville operator with lower terminal 0
(Samko, Kilbas & Marichev 1993, eq. (2.44); Podlubny, "Fractional Differential Equations", 1999,
eq. (2.117)): for Re(beta) > -1,

    D^alpha t^beta = Gamma(beta + 1) / Gamma(beta + 1 - alpha) * t^(beta - alpha)

for a derivative (alpha > 0) and an integral (alpha < 0, I^|alpha| = D^alpha). On a log-uniform
grid t_k = t_0 r^k, write y(t) = t^c h(log t); expanding h in a Fourier series in u = log t,
h(u) = sum_j H_j e^{i w_j u}, turns y into a sum of powers t^(c + i w_j), hence

    D^alpha y(t) = t^(c - alpha) sum_j M(w_j) H_j e^{i w_j u},
    M(w) = Gamma(c + 1 + i w) / Gamma(c + 1 - alpha + i w),

a Fourier multiplier on h: O(N log N) by rfft/irfft. This is the discrete Mellin transform route of
the Mellin-convolution form of the RL operator (see e.g. Butzer, Kilbas & Trujillo, "Mellin transform
analysis and integration by parts for Hadamard-type fractional integrals", JMAA 270 (2002)).

When it is the right tool: scale-invariant / power-law signals on grids that span decades
(anomalous diffusion MSDs, relaxation tails, t^beta asymptotics); pure power laws t^b are handled
exactly (to round-off) with c = b, and the default ``c=None`` finds b from the end points.

When it is not: the method assumes that the weighted signal h(u) = t^(-c) y(t) is periodic in log t
over the grid (period N log r). A mismatch between the two ends of h -- anything that is not a power law
with exponent c at both ends -- is a jump of the periodic extension and gives Gibbs ringing that
decays only slowly with N; it also replaces the unseen history on (0, t_0) by periodic copies of the
grid's data. Signals that decay fast at both ends of the weighted window (choose c to make them so)
and smooth signals are fine; signals with features at one scale on a short grid should use the
time-domain operators in :mod:`fraczoo.ops.history` instead. Noise is amplified like |w|^alpha.

What to expect (tests/ops/test_mellin.py): pure power laws to ~1e-14 relative on any grid of >= 4
points; t^1.5 e^-t with c = 0.5 on [1e-10, 10^2.5] converges with the density to ~1e-9 relative (16
points per decade; 4 per decade gives ~1e-3), because t^-c y vanishes at both ends. A crossover
t^b (1+t)^-p, whose weighted form decays only algebraically (~T^-(c+1) over a span T), converges
algebraically in the number of decades (~1e-2, 1e-4, 1e-6 for 4, 8, 12 decades) and not with the
density: on short grids or for signals with a characteristic scale, use the time-domain operators.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from fraczoo._checks import as_alpha_tensor, check_alpha, check_dim, check_tensor
from fraczoo.ops.special import rgamma
from fraczoo.ops.spectral import _order_shape_check, _view_at

MELLIN_RANGE = (-2.0, 2.0)
_MIN_POINTS = 4
# Stirling series coefficients B_2j / (2j (2j - 1)), j = 1..8.
_STIRLING = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156, -3617 / 122400)
_STIRLING_MIN_RE = 10.0  # with 8 terms, |error| < 1e-17 for Re z >= 10
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _complex_lgamma(z: Tensor) -> Tensor:
    """log Gamma(z) for complex z off the poles, up to a multiple of 2 pi i (differentiable).

    Recurrence Gamma(z) = Gamma(z + m) / (z (z + 1) ... (z + m - 1)) moves z to Re >= 10, then the
    Stirling series (Abramowitz & Stegun 6.1.40) with 8 terms. Only exp() of it is used, so the
    branch of the logarithm does not matter.
    """
    shift = max(0, math.ceil(_STIRLING_MIN_RE - float(z.real.detach().min())))
    correction = None
    if shift:
        prod = z
        for k in range(1, shift):
            prod = prod * (z + k)
        correction = torch.log(prod)
        z = z + shift
    inv_sq = 1.0 / (z * z)
    series = torch.full_like(z, _STIRLING[-1])
    for coeff in reversed(_STIRLING[:-1]):
        series = series * inv_sq + coeff
    result = (z - 0.5) * torch.log(z) - z + _HALF_LOG_2PI + series / z
    return result if correction is None else result - correction


def _mellin_multiplier(alpha: Tensor, c: Tensor, omega: Tensor, dim: int, n: int) -> Tensor:
    """M(w_j) = Gamma(c + 1 + i w_j) / Gamma(c + 1 - alpha + i w_j) on the rfft bins, in complex128.

    ``alpha`` and ``c`` are float64 tensors of a common shape with size 1 at ``dim``; ``omega`` holds the
    positive bins j >= 1 laid out along ``dim``. The zero bin is computed in real arithmetic (where
    1/Gamma may vanish, e.g. D^1 of a constant); for even ``n`` the Nyquist bin keeps only its real
    part (it stands for +w_N and -w_N, whose multipliers are conjugate; on the grid only the real part
    gives a real and exact result).
    """
    m0 = torch.exp(torch.lgamma(c + 1.0)) * rgamma(c + 1.0 - alpha)
    if omega.numel() == 0:
        return torch.complex(m0, torch.zeros_like(m0))
    z1 = torch.complex(c + 1.0, torch.zeros_like(c)) + 1j * omega
    z2 = z1 - alpha
    m_pos = torch.exp(_complex_lgamma(z1) - _complex_lgamma(z2))
    if n % 2 == 0:
        keep_imag = torch.ones(omega.shape, dtype=torch.float64, device=omega.device)
        keep_imag.view(-1)[-1] = 0.0
        m_pos = torch.complex(m_pos.real, m_pos.imag * keep_imag)
    return torch.cat([torch.complex(m0, torch.zeros_like(m0)), m_pos], dim=dim)


def _check_log_grid(t, n: int, device) -> Tensor:
    """t: 1-D, positive, finite, increasing, log-uniform; returns log t in float64."""
    if not isinstance(t, Tensor):
        raise TypeError(f"t must be a torch.Tensor, got {type(t).__name__}")
    check_tensor(t, "t")
    if t.ndim != 1 or t.shape[0] != n:
        raise ValueError(f"t must be a 1-D tensor with one time per sample of y along dim ({n}), "
                         f"got shape {tuple(t.shape)}")
    if not bool((t > 0).all()):
        raise ValueError("t must be strictly positive (the Mellin engine works on (0, inf))")
    u = torch.log(t.detach().to(device=device, dtype=torch.float64))
    steps = u.diff()
    if not bool((steps > 0).all()):
        raise ValueError("t must be strictly increasing")
    step = float(u[-1] - u[0]) / (n - 1)
    uniform = u[0] + step * torch.arange(n, dtype=torch.float64, device=device)
    # The log of a rounded t carries an error of ~eps * |log t|; beyond that allow 1e-4 of a step.
    tol = 1e-4 * step + 32 * torch.finfo(t.dtype).eps * (1.0 + float(u.abs().max()))
    deviation = float((u - uniform).abs().max())
    if deviation > tol:
        raise ValueError(f"t must be log-uniform (t_k = t_0 r^k, e.g. torch.logspace): log t deviates from "
                         f"a uniform grid by {deviation:.3g} (allowed {tol:.3g})")
    return u


def _estimate_c(y: Tensor, u: Tensor, dim: int) -> Tensor:
    """Exponent of the power law through the two end points of each signal (differentiable in y)."""
    first, last = y.narrow(dim, 0, 1), y.narrow(dim, -1, 1)
    if not bool(((first * last) > 0).all()):
        raise ValueError("c=None estimates the power-law exponent from the end points of y, which needs "
                         "y[0] and y[-1] nonzero and of the same sign in every signal; pass c (> -1) "
                         "explicitly")
    c = torch.log(last / first) / float(u[-1] - u[0])
    if bool((c <= -1).any()):
        raise ValueError(f"the end-point power-law exponent of y is {float(c.min()):.3g} <= -1, where the "
                         "Riemann-Liouville operator from 0 of t^c does not exist; pass c (> -1) so that "
                         "t^(-c) y decays at both ends of the grid")
    return c


def mellin_derivative(y: Tensor, alpha, t: Tensor, *, dim: int = -1, c=None) -> Tensor:
    """Riemann-Liouville D^alpha y on (0, inf), lower terminal 0, for y on a log-uniform grid ``t``.

    alpha in [-2, 2]: alpha > 0 is the derivative, alpha < 0 the integral I^|alpha|, alpha = 0 the
    identity. Exact for y = t^b (D^alpha t^b = Gamma(b+1)/Gamma(b+1-alpha) t^(b-alpha), b > -1) when
    c = b. See the module docstring for the method and its limits.

    Args:
        y: real tensor, samples y(t_k) along ``dim``.
        alpha: float or tensor (0-d, or broadcastable against y with size 1 along ``dim``).
        t: 1-D tensor of N positive log-uniform times t_k = t_0 r^k (e.g. ``torch.logspace``).
        c: weight exponent, c > -1: float or tensor like alpha. ``None`` (default) takes, per signal,
           the exponent of the power law through the end points, c = log(y[-1]/y[0]) / log(t[-1]/t[0]),
           which makes t^(-c) y continuous across the period wrap and is exact for pure power laws.
           The estimate depends on y (the operator is then exact for power laws but slightly nonlinear,
           and autograd differentiates through c); pass c for a linear operator.
    """
    check_tensor(y, "y")
    check_alpha(alpha, *MELLIN_RANGE)
    dim = check_dim(y, dim, x_name="y") - y.ndim  # negative: the same axis of y, of alpha/c and of the result
    n = y.shape[dim]
    if n < _MIN_POINTS:
        raise ValueError(f"y must have at least {_MIN_POINTS} samples along dim={dim}, got {n}")
    u = _check_log_grid(t, n, y.device)

    if isinstance(alpha, Tensor):
        _order_shape_check(alpha, y, (dim,))
    alpha64 = as_alpha_tensor(alpha, y).to(torch.float64)
    if c is None:
        c64 = _estimate_c(y, u, dim).to(torch.float64)
    else:
        check_alpha(c, -1.0, math.inf, name="c", lo_open=True, hi_open=True)
        if isinstance(c, Tensor):
            _order_shape_check(c, y, (dim,), name="c")
        c64 = as_alpha_tensor(c, y).to(torch.float64)
    ndim = max(y.ndim, alpha64.ndim, c64.ndim)
    alpha64 = alpha64.reshape((1,) * (ndim - alpha64.ndim) + tuple(alpha64.shape))
    c64 = c64.reshape((1,) * (ndim - c64.ndim) + tuple(c64.shape))
    alpha64, c64 = torch.broadcast_tensors(alpha64, c64)

    # Weights relative to the geometric centre of the grid keep t^(+-c) within range in float32.
    u_ref = 0.5 * float(u[0] + u[-1])
    log_s = _view_at(u - u_ref, dim)
    step = float(u[-1] - u[0]) / (n - 1)
    omega = 2 * math.pi * torch.arange(1, n // 2 + 1, dtype=torch.float64, device=y.device) / (n * step)
    multiplier = _mellin_multiplier(alpha64, c64, _view_at(omega, dim), dim, n)

    complex_dtype = torch.complex64 if y.dtype == torch.float32 else torch.complex128
    h = y * torch.exp(-c64 * log_s).to(y.dtype)
    spec = torch.fft.rfft(h, dim=dim) * multiplier.to(complex_dtype)
    g = torch.fft.irfft(spec, n=n, dim=dim)
    scale = torch.exp((c64 - alpha64) * log_s - alpha64 * u_ref)
    return g * scale.to(y.dtype)
