"""Property-based tests (hypothesis) for the operator core: shapes and dtypes, linearity, the semigroup
property I^a I^b = I^(a+b), and D^a I^a = identity where it holds (issue 9).

Tolerances come from the discretisation error of each scheme (stated at each test), never from fitting:
spectral operators are exact on band-limited periodic signals (round-off only); the product-trapezoid
RL integral is order 2 and the L1 Caputo derivative order 2 - alpha on C^2 functions.
"""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraczoo.ops import (caputo, fractional_laplacian, grunwald_letnikov, mellin_derivative, rl_integral,
                         spectral_derivative, stochastic_caputo)

F64 = torch.float64
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])

orders01 = st.floats(0.05, 1.0)
batch_shapes = st.lists(st.integers(1, 3), min_size=0, max_size=2).map(tuple)
seeds = st.integers(0, 2**31 - 1)


def signal(shape, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=F64).to(dtype)


def band_limited(n: int, modes: int, batch: tuple, seed: int) -> torch.Tensor:
    """Zero-mean real trigonometric polynomial with wavenumbers 1..modes < n/2 (no zero, no Nyquist content)."""
    g = torch.Generator().manual_seed(seed)
    x = 2 * math.pi * torch.arange(n, dtype=F64) / n
    k = torch.arange(1, modes + 1, dtype=F64)
    a = torch.randn(batch + (modes, 1), generator=g, dtype=F64)
    b = torch.randn(batch + (modes, 1), generator=g, dtype=F64)
    return (a * torch.cos(k[:, None] * x) + b * torch.sin(k[:, None] * x)).sum(-2)


T_LOG = torch.logspace(-1, 1, 24, dtype=F64)

# op(x, alpha) for every linear operator; time-domain ones on dt = 0.1 along the last dim
OPS = {
    "caputo-l1": lambda x, a: caputo(x, a, 0.1),
    "caputo-l1-2": lambda x, a: caputo(x, a, 0.1, method="l1-2"),
    "rl_integral": lambda x, a: rl_integral(x, 1.5 * a, 0.1),
    "grunwald_letnikov": lambda x, a: grunwald_letnikov(x, 2 * a, 0.1),
    "stochastic_caputo": lambda x, a: stochastic_caputo(x, min(a, 0.95), 0.1, 3,
                                                        generator=torch.Generator().manual_seed(1)),
    "spectral-weyl": lambda x, a: spectral_derivative(x, 2 * a - 1, dx=0.3),
    "spectral-riesz": lambda x, a: spectral_derivative(x, 2 * a, kind="riesz"),
    "laplacian-1d": lambda x, a: fractional_laplacian(x, 2 * a, dims=(-1,)),
    "mellin": lambda x, a: mellin_derivative(x, 2 * a - 1, T_LOG[: x.shape[-1]], c=0.5),
}


@pytest.mark.parametrize("name", OPS)
@SETTINGS
@given(alpha=orders01, batch=batch_shapes, n=st.integers(4, 24), double=st.booleans(), seed=seeds)
def test_shape_and_dtype_pass_through(name, alpha, batch, n, double, seed):
    if name == "mellin":
        n = T_LOG.shape[0]  # the log grid fixes the length
    dtype = F64 if double else torch.float32
    x = signal(batch + (n,), dtype, seed)
    out = OPS[name](x, alpha)
    assert out.shape == x.shape and out.dtype == dtype
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", OPS)
@SETTINGS
@given(alpha=orders01, n=st.integers(4, 24), coeffs=st.tuples(st.floats(-3, 3), st.floats(-3, 3)), seed=seeds)
def test_linear_in_the_input(name, alpha, n, coeffs, seed):
    # Every op is a fixed linear map of x (stochastic_caputo: for a fixed generator, whose draws do not
    # depend on x; mellin_derivative: for a given c), so op(a x + b y) = a op(x) + b op(y) up to round-off:
    # ~ N eps * |weights| * |x|, bounded here by 1e-10 relative to the size of the terms.
    if name == "mellin":
        n = T_LOG.shape[0]
    a, b = coeffs
    x, y = signal((2, n), F64, seed), signal((2, n), F64, seed + 1)
    op = OPS[name]
    lhs = op(a * x + b * y, alpha)
    rhs = a * op(x, alpha) + b * op(y, alpha)
    scale = abs(a) * op(x, alpha).abs().max() + abs(b) * op(y, alpha).abs().max() + 1e-300
    assert float((lhs - rhs).abs().max() / scale) < 1e-10


@SETTINGS
@given(a=st.floats(0.1, 1.5), b=st.floats(0.1, 1.5), p=st.sampled_from([2, 3]), n=st.sampled_from([101, 201]))
def test_rl_integral_semigroup(a, b, p, n):
    # I^b I^a t^p = I^(a+b) t^p = Gamma(p+1)/Gamma(p+1+a+b) t^(p+a+b). For p >= 2 both t^p and the inner
    # result t^(p+a) are C^2 on [0, 1], where the product trapezoid rule has error <= C h^2 with C below
    # max|f''| / 8-type constants (Diethelm, Ford & Freed 2004); observed max error / h^2 is 0.56 over
    # p in {2, 3}, a, b in [0.1, 1.5], so we assert the order-2 bound error <= h^2.
    t = torch.linspace(0, 1, n, dtype=F64)
    h = 1.0 / (n - 1)
    f = t ** p
    twice = rl_integral(rl_integral(f, a, h), b, h)
    once = rl_integral(f, a + b, h)
    exact = math.gamma(p + 1) / math.gamma(p + 1 + a + b) * t ** (p + a + b)
    assert float((twice - exact).abs().max()) <= h ** 2
    assert float((once - exact).abs().max()) <= h ** 2
    assert float((twice - once).abs().max()) <= h ** 2


@SETTINGS
@given(a=st.floats(-1.0, 1.0), b=st.floats(-1.0, 1.0), n=st.sampled_from([16, 33, 64]), seed=seeds,
       dx=st.floats(0.05, 2.0), batch=batch_shapes)
def test_weyl_semigroup(a, b, n, seed, dx, batch):
    # On zero-mean band-limited periodic signals (modes below Nyquist) the Weyl symbols multiply exactly,
    # (ik)^a (ik)^b = (ik)^(a+b): only FFT round-off (~1e-15 relative) remains.
    x = band_limited(n, n // 2 - 1, batch, seed)
    two = spectral_derivative(spectral_derivative(x, a, dx=dx), b, dx=dx)
    one = spectral_derivative(x, a + b, dx=dx)
    assert float((two - one).abs().max()) <= 1e-10 * float(one.abs().max() + x.abs().max())


@SETTINGS
@given(a=st.floats(0.0, 2.0), n=st.sampled_from([16, 33, 64]), seed=seeds, batch=batch_shapes)
def test_spectral_derivative_inverts_spectral_integral(a, n, seed, batch):
    # D^a D^-a = identity on zero-mean band-limited periodic signals (exact up to round-off).
    x = band_limited(n, n // 2 - 1, batch, seed)
    back = spectral_derivative(spectral_derivative(x, -a), a)
    assert float((back - x).abs().max()) <= 1e-10 * float(x.abs().max())


@SETTINGS
@given(a=st.floats(0.05, 1.0), p=st.sampled_from([2, 3]), n=st.sampled_from([101, 201]))
def test_caputo_inverts_rl_integral(a, p, n):
    # D^a I^a f = f for f(0) = 0 (Caputo and RL derivative agree on I^a f, which vanishes at 0).
    # f = t^p, p >= 2: g = I^a f = Gamma(p+1)/Gamma(p+1+a) t^(p+a) is C^2, so the L1 scheme has error
    # O(h^(2-a)) (Lin & Xu 2007) on top of the O(h^2) of the integral; observed max error / h^(2-a) is 1.5
    # (p = 3, a -> 1), so we assert error <= 2 h^(2-a).
    # Limitation (documented, not a bug): for p = 1, g = t^(1+a) is not C^2 at 0 and the L1 error is only O(h).
    t = torch.linspace(0, 1, n, dtype=F64)
    h = 1.0 / (n - 1)
    f = t ** p
    back = caputo(rl_integral(f, a, h), a, h)
    assert float((back - f).abs().max()) <= 2 * h ** (2 - a)

