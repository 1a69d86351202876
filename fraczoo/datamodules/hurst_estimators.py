"""Statistical estimators of the Hurst exponent of the periodic fractional Gaussian fields of
:func:`~fraczoo.datamodules.fractional_fields.fractional_gaussian_field`: the yardsticks for learned ones.

The field's Fourier coefficients F_k (full fft2 grid, k != 0) are Gaussian with E|F_k|^2 = S_k =
sigma^2 |k|^(-2 beta), beta = H + 1, independent up to the symmetry F_{-k} = conj(F_k). So the Whittle
log-likelihood is the *exact* Gaussian log-likelihood of a periodic field, not an approximation
(Whittle 1953; Dahlhaus 1989 for the approximation it is on non-periodic data):

    l(H, sigma^2) = -1/2 sum_{k != 0} [ log S_k + I_k / S_k ],      I_k = |F_k|^2 / n^2 ... (any fixed scale)

summed over the full grid (each conjugate pair counted twice with weight 1/2, the self-conjugate modes
once with weight 1/2, which is their real-Gaussian density). Profiling sigma^2 out (sigma^2 = mean_k
I_k |k|^(2 beta)) gives, with M = n^2 - 1 modes,

    l_p(H) = -M/2 log( mean_k I_k |k|^(2 beta) ) + beta sum_k log|k|.

l_p is also, up to a constant, the exact log-likelihood of the field scaled to unit std (the scale is
its only nuisance parameter), so with the uniform prior of the data module exp(l_p) is proportional to
the exact posterior density of H: its median is the Bayes estimator under absolute error.
"""
from __future__ import annotations

import torch

from fraczoo._checks import check_int
from fraczoo.datamodules.fractional_fields import wavenumber_magnitude

__all__ = ["hurst_log_likelihood", "hurst_mle", "hurst_posterior_median", "variogram_hurst"]


def _check_fields(x: torch.Tensor) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a real floating tensor of fields (..., n, n), got {type(x).__name__}")
    if x.ndim < 2 or x.shape[-1] != x.shape[-2] or x.shape[-1] < 4:
        raise ValueError(f"x must have shape (..., n, n) with n >= 4, got {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("x contains NaN or inf; all values must be finite")
    return x.double()


def _hurst_grid(hurst_range, step: float) -> torch.Tensor:
    lo, hi = (float(v) for v in hurst_range)
    if not 0 < lo < hi < 1:
        raise ValueError(f"hurst_range must satisfy 0 < low < high < 1, got {tuple(hurst_range)}")
    if not 0 < step <= (hi - lo) / 2:
        raise ValueError(f"step must be in (0, (high - low) / 2], got {step!r}")
    return torch.linspace(lo, hi, round((hi - lo) / step) + 1, dtype=torch.float64)


def hurst_log_likelihood(x: torch.Tensor, hurst: torch.Tensor, chunk: int = 256) -> torch.Tensor:
    """Profile log-likelihood l_p(H) (module docstring) of fields ``x`` (..., n, n) at every entry of the
    1-D tensor ``hurst``: shape (..., len(hurst)), float64, exact up to an additive constant per field."""
    x = _check_fields(x)
    hurst = torch.as_tensor(hurst, dtype=torch.float64)
    if hurst.ndim != 1 or not bool(((hurst > 0) & (hurst < 1)).all()):
        raise ValueError("hurst must be a 1-D tensor with values in (0, 1)")
    n = x.shape[-1]
    logk = torch.log(wavenumber_magnitude(n).flatten()[1:])                   # (M,), zero mode dropped
    power = torch.fft.fft2(x).abs().square().flatten(-2)[..., 1:] / n ** 2    # (..., M)
    beta = hurst + 1.0
    out = []
    for part in beta.split(chunk):  # (M, chunk) weights |k|^(2 beta): bounded memory for fine grids
        weights = torch.exp(2.0 * logk[:, None] * part[None, :])
        out.append(-0.5 * logk.numel() * torch.log(power @ weights / logk.numel()) + part * logk.sum())
    return torch.cat(out, dim=-1)


def hurst_mle(x: torch.Tensor, hurst_range=(0.1, 0.9), step: float = 1e-3) -> torch.Tensor:
    """Exact maximum-likelihood H of each field (..., n, n) -> (...,), restricted to ``hurst_range``.

    l_p is maximised on a grid of spacing ``step``, then refined by the vertex of the parabola through
    the best grid point and its neighbours (the maximum of a smooth l_p to O(step^3))."""
    grid = _hurst_grid(hurst_range, step)
    loglik = hurst_log_likelihood(x, grid)
    best = loglik.argmax(-1).clamp(1, grid.numel() - 2)
    left, mid, right = (loglik.gather(-1, (best + d)[..., None])[..., 0] for d in (-1, 0, 1))
    curvature = left - 2 * mid + right
    shift = torch.where(curvature < 0, 0.5 * (left - right) / curvature.clamp(max=-1e-300), 0.0)
    return (grid[best] + step * shift.clamp(-1, 1)).clamp(grid[0], grid[-1])


def hurst_posterior_median(x: torch.Tensor, hurst_range=(0.1, 0.9), step: float = 1e-3) -> torch.Tensor:
    """Median of the exact posterior of H under the uniform prior on ``hurst_range`` -> (...,): the
    estimator with the least expected absolute error (trapezoid rule on a grid of spacing ``step``)."""
    grid = _hurst_grid(hurst_range, step)
    loglik = hurst_log_likelihood(x, grid)
    density = torch.exp(loglik - loglik.amax(-1, keepdim=True))
    cdf = torch.cumulative_trapezoid(density, grid, dim=-1)
    cdf = torch.cat([torch.zeros_like(cdf[..., :1]), cdf / cdf[..., -1:]], dim=-1)
    upper = torch.searchsorted(cdf, torch.full_like(cdf[..., :1], 0.5)).clamp(1, grid.numel() - 1)
    c0, c1 = cdf.gather(-1, upper - 1)[..., 0], cdf.gather(-1, upper)[..., 0]
    frac = ((0.5 - c0) / (c1 - c0).clamp(min=1e-300)).clamp(0, 1)
    return grid[upper[..., 0] - 1] + step * frac


def variogram_hurst(x: torch.Tensor, lags=(1, 2, 3, 4)) -> torch.Tensor:
    """Classical variogram estimator -> (...,): E|X(p + h) - X(p)|^2 ~ h^(2H) for a fractional Brownian
    surface, so H is half the least-squares slope of the log variogram against log lag (periodic
    differences along both axes), clipped to [0, 1]."""
    x = _check_fields(x)
    if len(lags) < 2 or any(check_int(h, "lags entries") >= x.shape[-1] for h in lags):
        raise ValueError(f"lags must hold at least 2 ints in [1, n), got {tuple(lags)}")
    logs = []
    for h in lags:
        d_x = x - torch.roll(x, h, dims=-1)
        d_y = x - torch.roll(x, h, dims=-2)
        logs.append(torch.log(0.5 * (d_x.square().mean(dim=(-2, -1)) + d_y.square().mean(dim=(-2, -1)))))
    logh = torch.log(torch.tensor(lags, dtype=torch.float64))
    logh = logh - logh.mean()
    logv = torch.stack(logs, -1)
    slope = (logh * (logv - logv.mean(-1, keepdim=True))).sum(-1) / logh.square().sum()
    return (slope / 2).clamp(0.0, 1.0)
