"""Exact long-memory simulators (fraczoo.datamodules.long_memory) and LongMemoryDataModule."""
from __future__ import annotations

import math

import pytest
import torch

from fraczoo.datamodules.long_memory import (LongMemoryDataModule, arfima, arfima_autocovariance,
                                             circulant_sample, fgn_autocovariance, fractional_gaussian_noise,
                                             one_step_mse)

F64 = torch.float64


def test_autocovariances_closed_form():
    # fGn with H = 1/2 is white noise; ARFIMA(0, d, 0): gamma(1) / gamma(0) = d / (1 - d) and the
    # hyperbolic decay gamma(k) ~ Gamma(1-2d) / (Gamma(d) Gamma(1-d)) k^(2d-1)
    torch.testing.assert_close(fgn_autocovariance(torch.tensor(0.5), 5), torch.tensor([1.0, 0, 0, 0, 0], dtype=F64))
    g = fgn_autocovariance(torch.tensor(0.8), 3)
    torch.testing.assert_close(g[1], torch.tensor(0.5 * (2 ** 1.6 - 2), dtype=F64))
    d = 0.3
    gamma = arfima_autocovariance(torch.tensor(d), 20001)
    torch.testing.assert_close(gamma[0], torch.tensor(math.gamma(1 - 2 * d) / math.gamma(1 - d) ** 2, dtype=F64))
    torch.testing.assert_close(gamma[1] / gamma[0], torch.tensor(d / (1 - d), dtype=F64))
    tail = math.gamma(1 - 2 * d) / (math.gamma(d) * math.gamma(1 - d)) * 20000 ** (2 * d - 1)
    assert abs(float(gamma[-1]) / tail - 1) < 1e-4
    torch.testing.assert_close(arfima_autocovariance(torch.tensor(0.0), 4), torch.tensor([1.0, 0, 0, 0], dtype=F64))


@pytest.mark.parametrize("make,param", [(fractional_gaussian_noise, 0.8), (fractional_gaussian_noise, 0.3),
                                        (arfima, 0.4), (arfima, -0.3)])
def test_sample_autocovariance_is_exact(make, param):
    """Empirical covariance over 4000 independent series vs gamma at lags 0, 1, 2, 10, 63, anywhere in
    the series (stationarity), z-test with the sampling std of a product of Gaussians."""
    n, reps = 64, 4000
    x = make(torch.full((reps,), param, dtype=F64), n, generator=torch.Generator().manual_seed(0))
    acvf = (fgn_autocovariance if make is fractional_gaussian_noise else arfima_autocovariance)(
        torch.tensor(param), n)
    assert x.shape == (reps, n) and x.dtype == F64
    for start in (0, 20):
        for lag in (0, 1, 2, 10, 63 - start):
            prod = x[:, start] * x[:, start + lag]
            z = (prod.mean() - acvf[lag]) / (prod.std() / math.sqrt(reps))
            assert abs(float(z)) < 4.5, (start, lag, float(z))
    assert abs(float(x.mean())) < 0.1


def test_circulant_rejects_invalid_covariance_and_shapes():
    with pytest.raises(ValueError, match="negative eigenvalues"):
        circulant_sample(torch.tensor([[1.0, 0.9, -0.9, 0.9]]))
    with pytest.raises(ValueError, match="acvf must have shape"):
        circulant_sample(torch.tensor([1.0, 0.5]))
    with pytest.raises(ValueError, match=r"d must lie in \(-0.5, 0.5\)"):
        arfima(torch.tensor([0.5]), 10)
    with pytest.raises(ValueError, match=r"hurst must lie in \(0, 1\)"):
        fractional_gaussian_noise(torch.tensor([1.0]), 10)
    with pytest.raises(ValueError, match="must be a 1-D tensor"):
        arfima(torch.tensor(0.2), 10)


def test_one_step_mse():
    # white noise: nothing to predict; AR-type long memory: the floor decreases towards the innovation
    # variance 1 (ARFIMA) from gamma(0)
    torch.testing.assert_close(one_step_mse(fgn_autocovariance(torch.tensor(0.5), 6)), torch.ones(6, dtype=F64))
    v = one_step_mse(arfima_autocovariance(torch.tensor([0.2, 0.4]), 400))
    assert bool((v[:, 1:] <= v[:, :-1] + 1e-12).all()) and bool((v[:, -1] > 1).all())
    assert float((v[:, -1] - 1).max()) < 2e-3
    # one step: v_1 = gamma0 (1 - rho1^2)
    g = arfima_autocovariance(torch.tensor(0.3), 2)
    torch.testing.assert_close(one_step_mse(g)[1], g[0] * (1 - (g[1] / g[0]) ** 2))


def test_datamodule_splits_deterministic():
    kw = dict(length=33, train_size=16, val_size=8, test_size=8, batch_size=4)
    a, b = LongMemoryDataModule(**kw), LongMemoryDataModule(**kw)
    a.setup()
    b.setup()
    x, nxt, d = a.splits["train"].tensors
    assert x.shape == (16, 32) and nxt.shape == (16, 32) and d.shape == (16,)
    assert torch.equal(x[:, 1:], nxt[:, :-1])
    assert torch.equal(x, b.splits["train"].tensors[0])
    assert not torch.equal(x[:8], a.splits["val"].tensors[0])
    assert bool(((d >= 0.05) & (d <= 0.45)).all())
    fgn = LongMemoryDataModule(process="fgn", **kw)
    fgn.setup()
    h = fgn.splits["val"].tensors[2]
    assert bool(((h >= 0.55) & (h <= 0.95)).all())
    assert next(iter(a.train_dataloader()))[0].shape == (4, 32)


@pytest.mark.parametrize("kwargs", [dict(process="fbm"), dict(length=2), dict(d_range=(0.2, 0.5)),
                                    dict(hurst_range=(0.5, 1.0)), dict(batch_size=0)])
def test_datamodule_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        LongMemoryDataModule(**kwargs)
