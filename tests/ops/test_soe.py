"""fraczoo.ops.soe: sum-of-exponentials GL kernel against the exact weights, closed forms and the FFT history."""
from __future__ import annotations

import math

import pytest
import torch

from fraczoo.ops._toeplitz import causal_conv
from fraczoo.ops.history import gl_weights
from fraczoo.ops.soe import gl_soe, soe_update

F64 = torch.float64
HORIZON = 10**6
# every lag up to 3000, then 500 log-spaced lags up to the horizon
LAGS = torch.cat([torch.arange(1, 3000), torch.logspace(math.log10(3000), 6, 500).round()]).unique().long()


def soe_kernel(rates, weights, lags):
    return (weights[..., None, :] * torch.exp(-rates * (lags[:, None] - 1).to(F64))).sum(-1)


@pytest.mark.parametrize("tol", [1e-7, 1e-9, 1e-11])
@pytest.mark.parametrize("d", [0.01, 0.2, 0.45, 0.7, 0.95])
def test_kernel_relative_error_within_tol_for_every_lag(d, tol):
    rates, weights = gl_soe(d, HORIZON, tol=tol)
    exact = gl_weights(d, HORIZON + 1, dtype=F64)[LAGS]
    rel = ((soe_kernel(rates, weights, LAGS) - exact) / exact).abs().max()
    assert float(rel) <= tol      # observed: 3e-8, 3e-10, 3e-12 at worst over these orders


def test_closed_forms():
    """g_1 = -d, g_k = Gamma(k-d) / (Gamma(-d) Gamma(k+1)), and the partial sums sum_{k<=K} g_k = g_K(d-1) - 1."""
    d = torch.tensor([0.1, 0.3, 0.49], dtype=F64)
    rates, weights = gl_soe(d, HORIZON, tol=1e-10)
    lags = torch.tensor([1, 10, 1000, 30000])   # (lgamma itself loses ~1e-9 relative by lag 10^6)
    approx = soe_kernel(rates, weights, lags)
    k = lags.to(F64)
    gamma_form = torch.exp(torch.lgamma(k - d[:, None]) - torch.lgamma(k + 1)) / torch.exp(torch.lgamma(-d))[:, None]
    gamma_form = -gamma_form      # lgamma drops the sign: Gamma(-d) < 0 for 0 < d < 1
    torch.testing.assert_close(approx[:, 0], -d, rtol=1e-10, atol=0)
    torch.testing.assert_close(approx, gamma_form, rtol=1e-9, atol=0)
    partial = soe_kernel(rates, weights, torch.arange(1, 4001)).sum(-1)
    # sum_{k=0}^{K} (-1)^k binom(d, k) = (-1)^K binom(d - 1, K)
    closed = torch.exp(torch.lgamma(4000 + 1 - d) - torch.lgamma(1 - d) - math.lgamma(4001)) - 1
    torch.testing.assert_close(partial, closed, rtol=1e-10, atol=0)


def test_state_size_grows_like_log_horizon():
    sizes = [len(gl_soe(0.45, 10**e)[0]) for e in range(3, 8)]
    steps = [b - a for a, b in zip(sizes, sizes[1:])]
    assert sizes[3] <= 120 and max(steps) - min(steps) <= 1 and 5 <= min(steps) <= 8   # ~6.6 nodes per decade


def test_rates_are_shared_by_orders_below_the_largest():
    rates, weights = gl_soe(torch.tensor([0.05, 0.25, 0.45]), 1000)
    assert weights.shape == (3, len(rates))
    torch.testing.assert_close(rates, gl_soe(0.45, 1000)[0])
    torch.testing.assert_close(weights[0], gl_soe(torch.tensor([0.05, 0.45]), 1000)[1][0])


def test_stream_matches_the_fft_history():
    """The O(K) per-step recursion reproduces the exact FFT history sum -sum_k g_k x_{n+1-k} (float64)."""
    n, d = 20000, torch.tensor([0.15, 0.45], dtype=F64)
    x = torch.randn(2, n, dtype=F64, generator=torch.Generator().manual_seed(0))
    rates, weights = gl_soe(d, n, tol=1e-9)
    state = torch.zeros(2, len(rates), dtype=F64)
    # a block recursion (each block from the previous state) equals stepping soe_update n times
    out = torch.empty(2, n, dtype=F64)
    for i in range(n):
        state = soe_update(state, x[:, i], rates)
        out[:, i] = -(weights * state).sum(-1)
    exact = -causal_conv(gl_weights(d, n + 1, dtype=F64)[..., 1:], x)
    rel = (out - exact).norm(dim=-1) / exact.norm(dim=-1)
    assert float(rel.max()) < 1e-9


def test_gradient_in_the_order():
    d = torch.tensor(0.3, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a: gl_soe(a, 100)[1], (d,))
    # and it is the derivative of the kernel: d g_2 / dd = d (d(d-1)/2) / dd = d - 1/2
    rates, weights = gl_soe(d, 100, tol=1e-10)
    (grad,) = torch.autograd.grad((weights * torch.exp(-rates)).sum(), d)
    assert abs(float(grad) - (0.3 - 0.5)) < 1e-8


@pytest.mark.parametrize("kwargs, err, match", [
    (dict(order=0.0), ValueError, "order must lie in"),
    (dict(order=1.0), ValueError, "order must lie in"),
    (dict(order="0.3"), TypeError, "order must be a real number"),
    (dict(horizon=0), ValueError, "horizon must be an int >= 1"),
    (dict(tol=0.1), ValueError, r"tol must be a finite number in \(0, 0.01\]"),
    (dict(tol=0.0), ValueError, "tol must be a finite number"),
])
def test_bad_arguments(kwargs, err, match):
    args = dict(order=0.3, horizon=100) | kwargs
    with pytest.raises(err, match=match):
        gl_soe(args.pop("order"), args.pop("horizon"), **args)
