import math

import pytest
import torch

from fraczoo.datamodules.fractional_fields import fractional_gaussian_field, wavenumber_magnitude
from fraczoo.datamodules.hurst_estimators import (hurst_log_likelihood, hurst_mle, hurst_posterior_median,
                                                  variogram_hurst)


def fields(hurst: float, count: int, size: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return fractional_gaussian_field(torch.full((count,), hurst), size, generator=gen, dtype=torch.float64)


def dense_profile_log_likelihood(x: torch.Tensor, hurst: float) -> float:
    """The Gaussian log-likelihood of x's zero-mean part with the covariance built pixel by pixel (the
    simulator's filter applied to every unit vector), scale profiled out."""
    n = x.shape[-1]
    k = wavenumber_magnitude(n)[:, :n // 2 + 1].clone()
    k[0, 0] = 1.0
    filt = k ** -(hurst + 1.0)
    filt[0, 0] = 0.0
    eye = torch.eye(n * n, dtype=torch.float64).reshape(n * n, n, n)
    a = torch.fft.irfft2(torch.fft.rfft2(eye) * filt, s=(n, n)).reshape(n * n, n * n).T
    # orthonormal basis of the zero-mean subspace (the field has no mean mode)
    q = torch.linalg.qr(torch.cat([torch.ones(n * n, 1, dtype=torch.float64),
                                   torch.randn(n * n, n * n - 1, generator=torch.Generator().manual_seed(1),
                                               dtype=torch.float64)], 1)).Q[:, 1:]
    cov = q.T @ a @ a.T @ q
    y = q.T @ x.reshape(-1)
    m = n * n - 1
    quad = y @ torch.linalg.solve(cov, y)
    return float(-0.5 * m * torch.log(quad / m) - 0.5 * torch.linalg.slogdet(cov).logabsdet)


@pytest.mark.parametrize("n", [4, 5, 6])
def test_whittle_likelihood_is_the_exact_gaussian_likelihood(n):
    """Differences of l_p(H) between orders equal those of the dense Gaussian likelihood (self-conjugate
    modes included: n = 4, 6 have them, n = 5 does not)."""
    x = torch.randn(n, n, generator=torch.Generator().manual_seed(n), dtype=torch.float64)
    grid = torch.tensor([0.15, 0.4, 0.75, 0.95], dtype=torch.float64)
    whittle = hurst_log_likelihood(x, grid)
    dense = torch.tensor([dense_profile_log_likelihood(x, float(h)) for h in grid], dtype=torch.float64)
    torch.testing.assert_close(whittle - whittle[0], dense - dense[0], atol=1e-9, rtol=0)


def test_mle_spread_matches_the_cramer_rao_bound():
    """sd of the MLE ~ 1 / sqrt(Fisher information), I(H) = 2 sum_{k != 0} (log|k| - mean log|k|)^2."""
    logk = torch.log(wavenumber_magnitude(32).flatten()[1:])
    crb = 1.0 / math.sqrt(2.0 * float((logk - logk.mean()).square().sum()))
    est = hurst_mle(fields(0.5, 400, 32), hurst_range=(0.01, 0.99))
    assert abs(float(est.mean()) - 0.5) < 3 * crb / math.sqrt(400) + 1e-3
    assert abs(float(est.std()) / crb - 1) < 0.15, (float(est.std()), crb)


def test_mle_is_consistent_and_stays_in_range():
    for hurst in (0.2, 0.8):
        est = hurst_mle(fields(hurst, 16, 64, seed=2))
        assert abs(float(est.mean()) - hurst) < 0.02
    est = hurst_mle(fields(0.95, 8, 32), hurst_range=(0.1, 0.9))
    assert bool((est <= 0.9).all()) and bool((est > 0.8).all())


def test_posterior_median_is_the_median_of_the_normalised_likelihood():
    x = fields(0.4, 3, 8)  # a small field: a wide posterior, far from its mode's symmetric shape
    grid = torch.linspace(0.1, 0.9, 40001, dtype=torch.float64)
    loglik = hurst_log_likelihood(x, grid)
    density = torch.exp(loglik - loglik.amax(-1, keepdim=True))
    cdf = density.cumsum(-1) / density.sum(-1, keepdim=True)
    reference = grid[(cdf < 0.5).sum(-1)]
    torch.testing.assert_close(hurst_posterior_median(x), reference, atol=4e-5, rtol=0)


def test_variogram_orders_rough_and_smooth_fields():
    means = [float(variogram_hurst(fields(h, 32, 32)).mean()) for h in (0.2, 0.5, 0.8)]
    assert means[0] < means[1] < means[2]


@pytest.mark.parametrize("call, error, match", [
    (lambda: hurst_mle(torch.zeros(2, 8, 6)), ValueError, "shape"),
    (lambda: hurst_mle(torch.zeros(2, 3, 3)), ValueError, "n >= 4"),
    (lambda: hurst_mle(torch.zeros(8, 8, dtype=torch.long)), TypeError, "floating"),
    (lambda: hurst_mle(torch.full((8, 8), math.nan)), ValueError, "NaN"),
    (lambda: hurst_mle(torch.randn(8, 8), hurst_range=(0.5, 0.2)), ValueError, "hurst_range"),
    (lambda: hurst_mle(torch.randn(8, 8), step=0.0), ValueError, "step"),
    (lambda: hurst_log_likelihood(torch.randn(8, 8), torch.tensor([1.2])), ValueError, "hurst"),
    (lambda: variogram_hurst(torch.randn(8, 8), lags=(1,)), ValueError, "lags"),
    (lambda: variogram_hurst(torch.randn(8, 8), lags=(1, 8)), ValueError, "lags"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()
