"""Mittag-Leffler function against closed forms and 50-digit mpmath references.

References used:
* E_{1,1}(z) = e^z, E_{1,2}(z) = (e^z - 1)/z, E_{a,b}(0) = 1/Gamma(b).
* E_{1/2,1}(-x) = e^{x^2} erfc(x) = erfcx(x) (Gorenflo et al., "Mittag-Leffler Functions", 2014, (4.1.6)).
* General (a, b, z): the defining series summed in mpmath with y/ln(10) + 40 digits (y = |z|^(1/a),
  the size of the largest term), or for y > 150 the asymptotic series truncated near its smallest
  term (error ~ e^-y relative).
"""
from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
import scipy.special
import torch
from torch.autograd import gradcheck

from fraczoo.ops.special import mittag_leffler, rgamma

F64 = torch.float64


def ml_ref(z, a, b, digits: int = 30):
    """E_{a,b}(z) for real z to ~``digits`` significant digits."""
    z, a, b = mp.mpf(z), mp.mpf(a), mp.mpf(b)
    if z == 0:
        return mp.rgamma(b)
    y = abs(z) ** (1 / a)
    if y <= 150:
        dps = int(digits + 10 + float(y) / 2.3)
        with mp.workdps(dps):
            total, k, tol = mp.mpf(0), 0, mp.mpf(10) ** (-dps)
            while True:
                term = z ** k * mp.rgamma(a * k + b)
                total += term
                if a * k + b > 2 * y + 5 and abs(term) < tol * abs(total):
                    return +total
                k += 1
    with mp.workdps(digits + 10):
        total = y ** (1 - b) * mp.exp(y) / a if z > 0 else mp.mpf(0)
        k, small, tol = 1, 0, mp.mpf(10) ** (-digits - 5)
        while a * k + 1 - b < y:
            term = z ** (-k) * mp.rgamma(b - a * k)
            total -= term
            small = small + 1 if abs(term) < tol * abs(total) else 0
            if small >= 3:
                break
            k += 1
        return total


def rel_err(got, want) -> float:
    return abs(float(got) - float(want)) / abs(float(want))


# ---------------------------------------------------------------------------------------------------
# closed forms

def test_exp_and_e12():
    z = torch.linspace(-700, 700, 2001, dtype=F64)
    assert torch.allclose(mittag_leffler(z, 1.0), torch.exp(z), rtol=1e-14, atol=0)
    z = torch.cat([torch.linspace(-60, 60, 1201, dtype=F64), torch.tensor([1e-8, -1e-8], dtype=F64)])
    want = torch.expm1(z) / z
    got = mittag_leffler(z, 1.0, 2.0)
    assert ((got - want).abs() / want.abs()).max() < 1e-12


def test_erfcx_half():
    x = torch.cat([torch.linspace(0, 30, 601, dtype=F64), torch.logspace(1.5, 6, 60, dtype=F64)])
    want = torch.from_numpy(scipy.special.erfcx(x.numpy()))
    got = mittag_leffler(-x, 0.5)
    assert ((got - want).abs() / want).max() < 1e-12
    # positive side: E_{1/2}(x) = e^{x^2} erfc(-x)
    xp = torch.linspace(0.01, 20, 300, dtype=F64)
    want_p = torch.exp(xp * xp) * torch.from_numpy(scipy.special.erfc(-xp.numpy()))
    assert ((mittag_leffler(xp, 0.5) - want_p).abs() / want_p).max() < 1e-12


@pytest.mark.parametrize("alpha", [0.05, 0.3, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("beta", [0.2, 1.0, 2.0, 3.0])
def test_value_at_zero(alpha, beta):
    got = mittag_leffler(torch.zeros(3, dtype=F64), alpha, beta)
    assert torch.allclose(got, torch.full((3,), 1 / math.gamma(beta), dtype=F64), rtol=1e-14, atol=0)


def test_large_negative_leading_asymptotics():
    # E_a(-x) ~ x^-1/Gamma(1-a) - x^-2/Gamma(1-2a): the two-term form is exact to O(x^-3)
    x = torch.logspace(4, 8, 9, dtype=F64)
    for a in (0.3, 0.6, 0.9):
        two_terms = 1 / (x * math.gamma(1 - a)) - float(rgamma(torch.tensor(1 - 2 * a, dtype=F64))) / x**2
        got = mittag_leffler(-x, a)
        assert ((got - two_terms).abs() / two_terms).max() < 5 / float(x[0])


# ---------------------------------------------------------------------------------------------------
# general parameters against mpmath

ALPHAS = [0.05, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99, 1.0]
BETAS = [0.2, 0.5, 1.0, 1.5, 2.0, 3.0]
ZS = [-1e4, -500.0, -60.0, -25.0, -8.0, -2.5, -1.0, -0.3, -1e-3, 1e-3, 0.4, 0.99, 1.01, 2.0, 6.0, 15.0, 40.0]


def _cases(alphas, betas, zs):
    for a in alphas:
        for b in sorted(set(betas) | {a}):
            for z in zs:
                y = abs(z) ** (1 / a)
                if z > 0 and y > 700:  # overflow (checked separately)
                    continue
                if z < 0 and a < 1 and y > 150 and abs(z) < 20:
                    pass  # region boundaries are covered by the grid
                yield a, b, z


def _sweep(alphas, betas, zs):
    worst, where = 0.0, None
    for a, b in {(a, b) for a, b, _ in _cases(alphas, betas, zs)}:
        pts = [z for aa, bb, z in _cases([a], [b], zs) if bb == b]
        got = mittag_leffler(torch.tensor(pts, dtype=F64), a, b)
        for z, g in zip(pts, got.tolist()):
            want = ml_ref(z, a, b)
            # Relative error where E is not near a real zero (beta < alpha) and not at alpha = 1 with
            # beta = 1 far out (exp, tested exactly above); absolute 1e-15/|z| otherwise.
            err = abs(g - float(want)) / max(abs(float(want)), 1e-4 / max(1.0, abs(z)) ** 2)
            if err > worst:
                worst, where = err, (a, b, z, g, float(want))
    return worst, where


def test_against_mpmath_grid():
    alphas, betas = [0.1, 0.5, 0.9, 1.0], [0.5, 1.0, 2.0]
    zs = [-500.0, -30.0, -4.0, -0.7, 0.3, 1.5, 10.0]
    worst, where = _sweep(alphas, betas, zs)
    assert worst < 1e-11, where


@pytest.mark.slow
def test_against_mpmath_full_grid():
    worst, where = _sweep(ALPHAS, BETAS, ZS)  # observed 9.4e-12 at (0.99, 0.99, -25)
    assert worst < 5e-11, where


def test_alpha_near_one_beta_alpha():
    # E_{a,a}(-x) ~ -x^-2 / Gamma(-a): the leading 1/Gamma(0) term vanishes, the hardest case
    for a, z in ((0.99, -40.0), (0.95, -18.0), (0.9, -60.0)):
        got = float(mittag_leffler(torch.tensor([z], dtype=F64), a, a))
        assert rel_err(got, ml_ref(z, a, a)) < 1e-10


def test_overflow_is_inf():
    got = mittag_leffler(torch.tensor([800.0, 1e300], dtype=F64), 1.0, 1.5)
    assert torch.isinf(got).all() and (got > 0).all()
    got = mittag_leffler(torch.tensor([30.0], dtype=F64), 0.5)  # e^900 overflows
    assert torch.isinf(got).all()
    near = float(mittag_leffler(torch.tensor([26.0], dtype=F64), 0.5))  # e^676, representable
    assert rel_err(near, ml_ref(26.0, 0.5, 1.0)) < 1e-12


# ---------------------------------------------------------------------------------------------------
# dtypes, shapes, broadcasting

def test_float32_batch_shapes_and_broadcast():
    z = torch.linspace(-20, 5, 24, dtype=F64).reshape(2, 3, 4)
    ref = mittag_leffler(z, 0.6, 1.2)
    got32 = mittag_leffler(z.float(), 0.6, 1.2)
    assert got32.dtype == torch.float32 and got32.shape == (2, 3, 4)
    assert torch.allclose(got32.double(), ref, rtol=1e-6, atol=0)
    alpha = torch.tensor([[0.3], [0.6], [0.9]], dtype=F64)  # (3, 1) against (2, 3, 4)
    beta = torch.tensor([1.0, 1.5, 2.0, 0.6], dtype=F64)
    got = mittag_leffler(z, alpha, beta)
    assert got.shape == (2, 3, 4)
    for i in range(2):
        for j in range(3):
            for k in range(4):
                one = mittag_leffler(z[i, j, k:k + 1], float(alpha[j, 0]), float(beta[k]))
                assert torch.allclose(got[i, j, k], one[0], rtol=1e-14, atol=0)


def test_python_number_and_empty():
    assert torch.allclose(mittag_leffler(-1.0, 1.0), torch.tensor(math.exp(-1), dtype=F64))
    assert mittag_leffler(torch.zeros(0, 3), 0.5).shape == (0, 3)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    z = torch.linspace(-100, 10, 1000, dtype=F64)
    cpu = mittag_leffler(z, 0.7, 1.3)
    gpu = mittag_leffler(z.cuda(), 0.7, 1.3)
    assert gpu.device.type == "cuda"
    assert torch.allclose(gpu.cpu(), cpu, rtol=1e-12, atol=0)


# ---------------------------------------------------------------------------------------------------
# derivatives

def test_gradcheck_z_alpha_beta():
    z = torch.tensor([-40.0, -3.0, -0.4, 0.0, 0.3, 1.5, 4.0], dtype=F64, requires_grad=True)
    alpha = torch.tensor(0.7, dtype=F64, requires_grad=True)
    beta = torch.tensor(1.3, dtype=F64, requires_grad=True)
    assert gradcheck(mittag_leffler, (z, alpha, beta), eps=1e-6, atol=1e-7, rtol=1e-6)
    # per-element orders, and the asymptotic region
    z2 = torch.tensor([-100.0, -30.0, 2.0], dtype=F64, requires_grad=True)
    a2 = torch.tensor([0.4, 0.8, 0.6], dtype=F64, requires_grad=True)
    assert gradcheck(lambda zz, aa: mittag_leffler(zz, aa, 0.9), (z2, a2), eps=1e-6, atol=1e-7, rtol=1e-6)


def test_dz_formula_and_at_zero():
    # dE_{a,b}/dz = (E_{a,b-1} - (b-1) E_{a,b}) / (a z), = 1/Gamma(a+b) at z = 0
    a, b = 0.6, 1.4
    z = torch.tensor([-200.0, -12.0, -1.0, 1e-9, 0.0, 0.5, 3.0], dtype=F64, requires_grad=True)
    (grad,) = torch.autograd.grad(mittag_leffler(z, a, b).sum(), z)
    for zi, gi in zip(z.tolist(), grad.tolist()):
        if zi == 0:
            want = 1 / math.gamma(a + b)
        else:
            with mp.workdps(40):  # the difference cancels ~|log10 z| digits
                want = (ml_ref(zi, a, b - 1, 40) - (b - 1) * ml_ref(zi, a, b, 40)) / (a * zi)
        assert rel_err(gi, want) < 1e-9, (zi, gi, float(want))


@pytest.mark.parametrize("a0,b0", [(0.3, 1.0), (0.8, 0.8), (1.0, 1.0), (0.5, 2.0)])
def test_alpha_beta_gradient_vs_mpmath(a0, b0):
    zs = [-300.0, -25.0, -2.0, 0.5, 3.0]
    z = torch.tensor(zs, dtype=F64)
    alpha = torch.tensor(a0, dtype=F64, requires_grad=True)
    beta = torch.tensor(b0, dtype=F64, requires_grad=True)
    values = mittag_leffler(z, alpha, beta)
    jac = [torch.autograd.grad(values[i], (alpha, beta), retain_graph=True) for i in range(len(zs))]
    h = mp.mpf("1e-15")
    with mp.workdps(40):
        for zi, (ga, gb) in zip(zs, jac):
            A, B = mp.mpf(a0), mp.mpf(b0)
            want_a = (ml_ref(zi, A + h, B, 40) - ml_ref(zi, A - h, B, 40)) / (2 * h)
            want_b = (ml_ref(zi, A, B + h, 40) - ml_ref(zi, A, B - h, 40)) / (2 * h)
            assert rel_err(ga, want_a) < 1e-7, ("alpha", zi, float(ga), float(want_a))
            assert rel_err(gb, want_b) < 1e-7, ("beta", zi, float(gb), float(want_b))


def test_no_nan_gradients_at_edges():
    z = torch.tensor([0.0, -1e6, 1e3, 1e-300], dtype=F64, requires_grad=True)
    alpha = torch.tensor(1.0, dtype=F64, requires_grad=True)
    out = mittag_leffler(z[:2], alpha, 1.0).sum() + mittag_leffler(z[3:], alpha, 2.0).sum()
    out.backward()
    assert torch.isfinite(z.grad).all() and torch.isfinite(alpha.grad)


# ---------------------------------------------------------------------------------------------------
# bad input

def test_bad_input():
    z = torch.linspace(-1, 1, 5, dtype=F64)
    with pytest.raises(ValueError, match=r"alpha must lie in \(0, 1\]"):
        mittag_leffler(z, 1.5)
    with pytest.raises(ValueError, match="alpha"):
        mittag_leffler(z, 0.0)
    with pytest.raises(ValueError, match="alpha"):
        mittag_leffler(z, float("nan"))
    with pytest.raises(ValueError, match=r"beta must lie in \(0, 3\]"):
        mittag_leffler(z, 0.5, -1.0)
    with pytest.raises(ValueError, match="beta"):
        mittag_leffler(z, 0.5, torch.tensor([0.5, 4.0]).double())
    with pytest.raises(TypeError, match="z must be a real"):
        mittag_leffler(z.to(torch.complex128), 0.5)
    with pytest.raises(TypeError, match="z must be"):
        mittag_leffler(np.linspace(0, 1, 3), 0.5)
    with pytest.raises(TypeError, match="z must be"):
        mittag_leffler(torch.arange(3), 0.5)
    with pytest.raises(ValueError, match="z contains NaN"):
        mittag_leffler(torch.tensor([0.0, float("nan")]), 0.5)
    with pytest.raises(ValueError, match="broadcast"):
        mittag_leffler(z, torch.tensor([0.5, 0.6], dtype=F64))
