"""Mellin engine: Riemann-Liouville D^alpha on (0, inf) on log-uniform grids.

Closed forms (Samko, Kilbas & Marichev 1993, (2.44) and Table 9.1; alpha < 0 is the integral I^|alpha|):
* D^a t^b = Gamma(b+1)/Gamma(b+1-a) t^(b-a), b > -1.
* D^a [t^b e^-t] = Gamma(b+1)/Gamma(b+1-a) t^(b-a) 1F1(b+1; b+1-a; -t)   (term-wise power rule).
* D^a [t^b (1+t)^-p] = Gamma(b+1)/Gamma(b+1-a) t^(b-a) 2F1(p, b+1; b+1-a; -t)   (a crossover between
  the power laws t^b and t^(b-p)).
"""
from __future__ import annotations

import math

import mpmath as mp
import pytest
import torch
from torch.autograd import gradcheck

from fraczoo.ops.mellin import mellin_derivative

F64 = torch.float64


def power_rule(b: float, a: float) -> float:
    return math.gamma(b + 1) * float(mp.rgamma(b + 1 - a))


@pytest.mark.parametrize("b", [-0.5, 0.0, 0.5, 2.3])
@pytest.mark.parametrize("alpha", [-1.5, -0.5, 0.0, 0.3, 1.0, 1.7])
def test_power_law_exact(alpha, b):
    t = torch.logspace(-3, 3, 64, dtype=F64)
    want = power_rule(b, alpha) * t ** (b - alpha)
    for c in (None, b):  # estimated from the end points, and given
        got = mellin_derivative(t ** b, alpha, t, c=c)
        assert torch.allclose(got, want, rtol=1e-12, atol=1e-300), (got / want - 1).abs().max()


def test_power_law_batch_float32_and_dim():
    t = torch.logspace(-2, 2, 40, dtype=F64)
    b = torch.tensor([[0.2], [1.5]], dtype=F64)
    y = (t ** b).T.contiguous()  # (40, 2): time along dim 0
    alpha = torch.tensor([[0.4, -0.6]], dtype=F64)
    got = mellin_derivative(y, alpha, t, dim=0)
    for j, (bj, aj) in enumerate(((0.2, 0.4), (1.5, -0.6))):
        want = power_rule(bj, aj) * t ** (bj - aj)
        assert torch.allclose(got[:, j], want, rtol=1e-12, atol=0)
    got32 = mellin_derivative(y.float(), alpha.float(), t.float(), dim=0)
    assert got32.dtype == torch.float32
    assert torch.allclose(got32.double(), got, rtol=2e-4, atol=0)


def _exp_reference(t: torch.Tensor, b: float, a: float) -> torch.Tensor:
    return torch.tensor([float(mp.gamma(b + 1) * mp.rgamma(b + 1 - a) * mp.mpf(x) ** (b - a)
                               * mp.hyp1f1(b + 1, b + 1 - a, -x)) for x in t.tolist()], dtype=F64)


@pytest.mark.parametrize("alpha", [-0.7, 0.5, 1.3])
def test_power_times_exponential_converges_with_density(alpha):
    # y = t^1.5 e^-t with c = 0.5: t^-c y ~ t at the bottom and ~0 at the top, so the periodic wrap is
    # nearly continuous (jump ~1e-10 on [1e-10, 10^2.5]). Error relative to the power-law envelope
    # Gamma(b+1)/Gamma(b+1-a) t^(b-a), on t in (1e-3, 10). Observed: 4 points/decade ~1e-3,
    # 8 ~1e-4..1e-6, 16 and more ~1e-11..2e-9 (the floor set by the span).
    b, c = 1.5, 0.5
    errors = []
    for per_decade in (4, 8, 16):
        n = int(per_decade * 12.5)
        t = torch.logspace(-10, 2.5, n, dtype=F64)
        got = mellin_derivative(t ** b * torch.exp(-t), alpha, t, c=c)
        window = (t > 1e-3) & (t < 10)
        envelope = abs(power_rule(b, alpha)) * t[window] ** (b - alpha)
        errors.append(float(((got[window] - _exp_reference(t[window], b, alpha)).abs() / envelope).max()))
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 1e-8, errors


@pytest.mark.parametrize("alpha", [-0.5, 0.5, 1.2])
def test_crossover_error_decays_with_decades(alpha):
    # y = t^0.5 (1+t)^-2: power laws t^0.5 and t^-1.5 at the two ends. The default c (end-point fit)
    # is -0.5 on a symmetric grid, so t^-c y ~ 10^-D at both ends of [1e-D, 1e D]: the error decays
    # algebraically in the span (~10^-D: at alpha = 0.5 observed 0.14, 1.6e-3, 1.6e-5, 1.6e-7 for D = 2, 4,
    # 6, 8; at alpha = 1.2 1.2, 1.3e-2, 1.3e-4 for D = 2, 4, 6), not with
    # the density -- the regime where the time-domain operators are the better tool.
    b, p = 0.5, 2.0
    errors = []
    for decades in (2, 4, 6):
        t = torch.logspace(-decades, decades, 16 * 2 * decades, dtype=F64)
        got = mellin_derivative(t ** b / (1 + t) ** p, alpha, t)
        window = (t > 0.1) & (t < 10)
        want = torch.tensor([float(mp.gamma(b + 1) * mp.rgamma(b + 1 - alpha) * mp.mpf(x) ** (b - alpha)
                                   * mp.hyp2f1(p, b + 1, b + 1 - alpha, -x))
                             for x in t[window].tolist()], dtype=F64)
        errors.append(float((got[window] - want).abs().max() / want.abs().max()))
    assert errors[0] / errors[1] > 30 and errors[1] / errors[2] > 30, errors
    assert errors[2] < 1e-3, errors


def test_alpha_zero_is_identity_and_semigroup_on_power_laws():
    t = torch.logspace(-2, 3, 50, dtype=F64)
    y = t ** 0.8
    assert torch.allclose(mellin_derivative(y, 0.0, t), y, rtol=1e-13, atol=0)
    # D^0.5 D^0.5 t^b = D^1 t^b for power laws (exact in this engine)
    half = mellin_derivative(mellin_derivative(y, 0.5, t), 0.5, t)
    assert torch.allclose(half, mellin_derivative(y, 1.0, t), rtol=1e-12, atol=0)


def test_gradcheck_y_and_alpha():
    t = torch.logspace(-1, 1, 12, dtype=F64)
    y = (t ** 0.7 * (1.2 + 0.1 * torch.sin(3 * torch.log(t)))).requires_grad_()
    alpha = torch.tensor(0.6, dtype=F64, requires_grad=True)
    assert gradcheck(lambda yy, aa: mellin_derivative(yy, aa, t, c=0.3), (y, alpha), eps=1e-6, atol=1e-6)
    assert gradcheck(lambda yy, aa: mellin_derivative(yy, aa, t), (y, alpha), eps=1e-6, atol=1e-6)
    neg = torch.tensor(-0.8, dtype=F64, requires_grad=True)
    assert gradcheck(lambda yy, aa: mellin_derivative(yy, aa, t, c=0.3), (y, neg), eps=1e-6, atol=1e-6)


def test_alpha_gradient_on_power_law_is_digamma_rule():
    # d/da [Gamma(b+1)/Gamma(b+1-a) t^(b-a)] = D^a t^b * (psi(b+1-a) - log t)
    b = 0.9
    t = torch.logspace(-2, 2, 33, dtype=F64)
    alpha = torch.tensor(0.4, dtype=F64, requires_grad=True)
    out = mellin_derivative(t ** b, alpha, t, c=b)
    (grad,) = torch.autograd.grad(out, alpha, torch.ones_like(out))
    value = power_rule(b, 0.4) * t ** (b - 0.4)
    want = (value * (float(mp.digamma(b + 1 - 0.4)) - torch.log(t))).sum()
    assert abs(float(grad) - float(want)) < 1e-10 * float(value.abs().sum())


def test_bad_input():
    t = torch.logspace(-2, 2, 16, dtype=F64)
    y = t ** 0.5
    with pytest.raises(ValueError, match=r"alpha must lie in \[-2, 2\]"):
        mellin_derivative(y, 2.5, t)
    with pytest.raises(ValueError, match="alpha"):
        mellin_derivative(y, float("nan"), t)
    with pytest.raises(ValueError, match="log-uniform"):
        mellin_derivative(y, 0.5, torch.linspace(0.01, 100, 16, dtype=F64))
    with pytest.raises(ValueError, match="strictly positive"):
        mellin_derivative(y, 0.5, torch.linspace(0, 1, 16, dtype=F64))
    with pytest.raises(ValueError, match="strictly positive"):
        mellin_derivative(y, 0.5, -t)
    with pytest.raises(ValueError, match="strictly increasing"):
        mellin_derivative(y, 0.5, t.flip(0))
    with pytest.raises(ValueError, match="at least 4 samples"):
        mellin_derivative(y[:3], 0.5, t[:3])
    with pytest.raises(ValueError, match="1-D tensor with one time per sample"):
        mellin_derivative(y, 0.5, t[:10])
    with pytest.raises(TypeError, match="t must be a torch.Tensor"):
        mellin_derivative(y, 0.5, t.tolist())
    with pytest.raises(ValueError, match=r"c must lie in \(-1, inf\)"):
        mellin_derivative(y, 0.5, t, c=-1.0)
    with pytest.raises(ValueError, match="pass c"):
        mellin_derivative(torch.sin(torch.log(t)), 0.5, t)  # end points of opposite sign
    with pytest.raises(ValueError, match="y contains NaN"):
        mellin_derivative(y.clone().index_fill_(0, torch.tensor([3]), float("nan")), 0.5, t)
    with pytest.raises(TypeError, match="y must be a real"):
        mellin_derivative(y.to(torch.complex128), 0.5, t)
    with pytest.raises(ValueError, match="dim"):
        mellin_derivative(y, 0.5, t, dim=1)
