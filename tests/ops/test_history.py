"""Time-domain operators: closed forms, independent O(N^2) references, convergence orders, autograd."""
import math
from decimal import Decimal, localcontext

import numpy as np
import pytest
import torch
from scipy.special import binom, digamma
from torch.autograd import gradcheck

import fraczoo.ops._toeplitz as toeplitz
from fraczoo.ops.history import caputo, grunwald_letnikov, l1_weights, rl_integral, trapezoid_weights

F64 = torch.float64


def grid(n, t_end=1.0, dtype=F64):
    """n points on [0, t_end] and their spacing."""
    return torch.linspace(0.0, t_end, n, dtype=dtype), t_end / (n - 1)


def observed_order(ns, errors):
    """Least-squares slope of log(error) against log(h), h = 1/(n-1)."""
    h = 1.0 / (np.asarray(ns, dtype=float) - 1)
    return float(np.polyfit(np.log(h), np.log(errors), 1)[0])


def power_derivative(t, a, b):
    """D^a t^b = Gamma(b+1)/Gamma(b+1-a) t^(b-a) (Caputo = Riemann-Liouville for b > 0)."""
    return math.gamma(b + 1) / math.gamma(b + 1 - a) * t ** (b - a)


def power_integral(t, a, b):
    """I^a t^b = Gamma(b+1)/Gamma(b+1+a) t^(b+a)."""
    return math.gamma(b + 1) / math.gamma(b + 1 + a) * t ** (b + a)


# ---------------------------------------------------------------------------------------------
# independent references: the published formulas, written out literally with Python loops


def ref_l1(y, a, dt):
    n_pts = len(y)
    b = [(j + 1) ** (1 - a) - (j ** (1 - a) if j else 0.0) for j in range(n_pts)]
    out = np.zeros(n_pts)
    for n in range(1, n_pts):
        out[n] = sum(b[n - 1 - j] * (y[j + 1] - y[j]) for j in range(n))
    return out * dt ** -a / math.gamma(2 - a)


def ref_l12(y, a, dt):
    """Gao, Sun & Zhang (2014), eqs. (2.4)-(2.6): c_0 u^n - sum (c_{n-k-1} - c_{n-k}) u^k - c_{n-1} u^0."""
    def pw(x, p):
        return x ** p if x > 0 else 0.0

    def a_(l):
        return pw(l + 1, 1 - a) - pw(l, 1 - a)

    def b_(l):
        return (pw(l + 1, 2 - a) - pw(l, 2 - a)) / (2 - a) - (pw(l + 1, 1 - a) + pw(l, 1 - a)) / 2

    n_pts = len(y)
    out = np.zeros(n_pts)
    for n in range(1, n_pts):
        if n == 1:
            c = [a_(0)]
        else:
            c = [a_(0) + b_(0)] + [a_(k) + b_(k) - b_(k - 1) for k in range(1, n - 1)]
            c.append(a_(n - 1) - b_(n - 2))
        s = c[0] * y[n] - c[n - 1] * y[0]
        s -= sum((c[n - k - 1] - c[n - k]) * y[k] for k in range(1, n))
        out[n] = s
    return out * dt ** -a / math.gamma(2 - a)


def ref_trapezoid(y, a, dt):
    """Diethelm, Ford & Freed (2002), eq. (2.3)."""
    n_pts = len(y)
    out = np.zeros(n_pts)
    for n in range(1, n_pts):
        s = ((n - 1) ** (a + 1) - (n - 1 - a) * n ** a) * y[0] + y[n]
        s += sum(((n - j + 1) ** (a + 1) - 2 * (n - j) ** (a + 1) + (n - j - 1) ** (a + 1)) * y[j]
                 for j in range(1, n))
        out[n] = s
    return out * dt ** a / math.gamma(a + 2)


def ref_gl(y, a, dt):
    n_pts = len(y)
    g = [(-1) ** k * binom(a, k) for k in range(n_pts)]
    return np.array([sum(g[k] * y[n - k] for k in range(n + 1)) for n in range(n_pts)]) * dt ** -a


# ---------------------------------------------------------------------------------------------
# l1_weights


def test_l1_weights_definition_and_shapes():
    a = 0.37
    w = l1_weights(a, 6)
    j = np.arange(6.0)
    expected = (j + 1) ** (1 - a) - j ** (1 - a)
    assert w.shape == (6,) and w.dtype == torch.get_default_dtype()
    np.testing.assert_allclose(w.double().numpy(), expected, rtol=1e-6)
    assert float(w[0]) == 1.0

    alphas = torch.tensor([[0.2, 0.5, 1.0], [0.9, 0.1, 0.4]], dtype=F64)
    wb = l1_weights(alphas, 5)
    assert wb.shape == (2, 3, 5) and wb.dtype == F64
    torch.testing.assert_close(wb[1, 2], l1_weights(0.4, 5, dtype=F64), rtol=0, atol=0)
    torch.testing.assert_close(wb[0, 2], torch.tensor([1.0, 0, 0, 0, 0], dtype=F64))  # alpha = 1
    assert l1_weights(alphas, 4, dtype=torch.float32).dtype == torch.float32


def test_l1_weights_large_index_keeps_relative_precision():
    # (j+1)^p - j^p computed naively loses ~log10(j) digits; the expm1 form must not.
    a = 0.3
    w = l1_weights(a, 10**6, dtype=F64)
    for j in (10**3, 10**5, 10**6 - 1):
        exact = j ** (1 - a) * math.expm1((1 - a) * math.log1p(1 / j))
        assert abs(float(w[j]) / exact - 1) < 1e-14


@pytest.mark.parametrize("a, rtol", [(0.01, 1e-11), (0.3, 3e-13), (1.0, 3e-13), (2.5, 3e-13), (7.0, 3e-13)])
def test_trapezoid_weights_keep_relative_precision(a, rtol):
    # w_k = (k+1)^q - 2 k^q + (k-1)^q and e_k = k^q + q k^(q-1) - (k+1)^q (q = a+1) are ~k^2 / (q (q-1))
    # times smaller than their terms; the direct form is exact only for small k (more so as a -> 0),
    # the series in 1/k must keep full relative precision up to k ~ 1e5. Reference: 40-digit decimals.
    n = 10**5
    w, e = trapezoid_weights(torch.tensor([a], dtype=F64), n, torch.zeros(1, dtype=F64))
    with localcontext() as ctx:
        ctx.prec = 40
        q = Decimal(a) + 1
        power = {}  # k -> k^q
        for k in [*range(1, 21), 24, 28, 31, 32, 33, 40, 99, 1000, 12345, n - 1]:
            for m in (k - 1, k, k + 1):
                power.setdefault(m, Decimal(m) ** q)
            exact_w = power[k + 1] - 2 * power[k] + power[k - 1]
            exact_e = power[k] + q * power[k] / k - power[k + 1]
            assert abs(float((Decimal(float(w[k])) - exact_w) / exact_w)) < rtol, (k, "w")
            assert abs(float((Decimal(float(e[k])) - exact_e) / exact_e)) < rtol, (k, "e")


def test_l1_weights_alpha_gradient_is_finite_at_one():
    a = torch.tensor(1.0, dtype=F64, requires_grad=True)
    l1_weights(a, 5).sum().backward()
    # sum_j b_j telescopes to n^(1-alpha): d/dalpha = -log(n) at alpha = 1
    assert math.isclose(float(a.grad), -math.log(5), rel_tol=1e-12)


def test_caputo_l1_is_defined_by_l1_weights():
    t, dt = grid(12, 2.0)
    y = torch.exp(t) * torch.cos(3 * t)
    a = 0.55
    b = l1_weights(a, 12, dtype=F64)
    delta = y.diff()
    expected = [0.0] + [float(sum(b[n - 1 - j] * delta[j] for j in range(n))) for n in range(1, 12)]
    expected = torch.tensor(expected, dtype=F64) * dt ** -a / math.gamma(2 - a)
    torch.testing.assert_close(caputo(y, a, dt), expected, rtol=1e-13, atol=1e-13)


# ---------------------------------------------------------------------------------------------
# the Toeplitz/FFT forms reproduce the published formulas


@pytest.mark.parametrize("a", [0.25, 0.8, 1.0])
def test_caputo_matches_published_formulas(a):
    y = np.random.default_rng(0).standard_normal(15)
    yt = torch.tensor(y)
    np.testing.assert_allclose(caputo(yt, a, 0.3).numpy(), ref_l1(y, a, 0.3), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(caputo(yt, a, 0.3, method="l1-2").numpy(), ref_l12(y, a, 0.3),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("a", [0.2, 1.0, 2.7])
def test_rl_integral_matches_diethelm_weights(a):
    y = np.random.default_rng(1).standard_normal(15)
    np.testing.assert_allclose(rl_integral(torch.tensor(y), a, 0.2).numpy(), ref_trapezoid(y, a, 0.2),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("a", [0.3, 1.0, 1.6])
def test_grunwald_letnikov_matches_binomial_weights(a):
    y = np.random.default_rng(2).standard_normal(15)
    np.testing.assert_allclose(grunwald_letnikov(torch.tensor(y), a, 0.2).numpy(), ref_gl(y, a, 0.2),
                               rtol=1e-12, atol=1e-12)


def test_alpha_one_gives_backward_difference_and_bdf2():
    t, dt = grid(20)
    y = torch.sin(4 * t)
    backward = torch.cat([torch.zeros(1, dtype=F64), y.diff() / dt])
    torch.testing.assert_close(caputo(y, 1.0, dt), backward, rtol=1e-13, atol=1e-12)
    bdf2 = (3 * y[2:] - 4 * y[1:-1] + y[:-2]) / (2 * dt)
    torch.testing.assert_close(caputo(y, 1.0, dt, method="l1-2")[2:], bdf2, rtol=1e-13, atol=1e-12)
    torch.testing.assert_close(grunwald_letnikov(y, 1.0, dt)[1:], backward[1:], rtol=1e-13, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# closed forms


@pytest.mark.parametrize("method", ["l1", "l1-2"])
@pytest.mark.parametrize("a", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("b", [1.5, 2.0, 3.0])
def test_caputo_power_rule(method, a, b):
    # Local error near t = 0 is O(h^(b-a)) for non-smooth t^b; L1-2 gains a power once y''(0) = 0.
    t, dt = grid(801)
    order = 3 - a if method == "l1-2" and b >= 3 else min(2 - a, b - a)
    err = (caputo(t ** b, a, dt, method=method) - power_derivative(t, a, b)).abs().max()
    assert err < 20 * dt ** order


@pytest.mark.parametrize("method", ["l1", "l1-2"])
def test_caputo_of_constant_is_zero(method):
    y = torch.full((3, 50), 2.5, dtype=F64)
    assert caputo(y, 0.4, 0.01, method=method).abs().max() == 0


@pytest.mark.parametrize("a", [0.3, 1.0, 2.5])
@pytest.mark.parametrize("b", [0.5, 2.0, 3.5])
def test_rl_integral_power_rule(a, b):
    t, dt = grid(801)
    err = (rl_integral(t ** b, a, dt) - power_integral(t, a, b)).abs().max()
    assert err < 20 * dt ** min(2.0, b + 1)


@pytest.mark.parametrize("a", [0.3, 0.9, 1.5])
def test_grunwald_letnikov_power_rule(a):
    t, dt = grid(801)
    err = (grunwald_letnikov(t ** 3, a, dt) - power_derivative(t, a, 3.0)).abs().max()
    assert err < 1e-2


def piecewise_linear(n, rng):
    """Random grid values and the exact I^a / Caputo D^a of their linear interpolant.

    y = y_0 + s_0 t + sum_k (s_k - s_{k-1}) (t - t_k)_+ with I^a (t - tau)_+ = (t - tau)_+^(1+a)/Gamma(2+a)
    and D^a (t - tau)_+ = (t - tau)_+^(1-a)/Gamma(2-a): independent of the product-rule weights.
    """
    t, dt = grid(n, 3.0)
    y = torch.tensor(rng.standard_normal(n))
    slopes = y.diff() / dt
    kinks = torch.cat([slopes[:1], slopes.diff()])  # slope change at t_0 .. t_{n-2}

    def exact(a, integral):
        ramp = (t[:, None] - t[None, :-1]).clamp(min=0)  # (t_n - t_k)_+
        if integral:
            return y[0] * t ** a / math.gamma(1 + a) + (ramp ** (1 + a) @ kinks) / math.gamma(2 + a)
        return (ramp ** (1 - a) @ kinks) / math.gamma(2 - a)

    return y, dt, exact


@pytest.mark.parametrize("a", [0.15, 0.5, 1.0, 2.5])
def test_rl_integral_exact_on_piecewise_linear(a):
    y, dt, exact = piecewise_linear(40, np.random.default_rng(3))
    out = rl_integral(y, a, dt)
    ref = exact(a, integral=True)
    assert (out - ref).abs().max() < 1e-12 * ref.abs().max()


@pytest.mark.parametrize("a", [0.15, 0.5, 0.95])
def test_caputo_l1_exact_on_piecewise_linear(a):
    y, dt, exact = piecewise_linear(40, np.random.default_rng(4))
    out = caputo(y, a, dt)
    ref = exact(a, integral=False)
    assert (out - ref).abs().max() < 1e-12 * ref.abs().max()


def test_exactness_survives_long_grids():
    # Long FFT grids: the power-difference weights must not cancel catastrophically.
    t, dt = grid(20001)
    for a in (0.3, 0.9, 2.5):
        ref = t ** a / math.gamma(1 + a) + t ** (1 + a) / math.gamma(2 + a)
        assert ((rl_integral(1 + t, a, dt) - ref).abs().max() / ref.max()) < 1e-13
    for a in (0.3, 0.9):
        ref = t ** (1 - a) / math.gamma(2 - a)
        for method in ("l1", "l1-2"):
            assert ((caputo(2 + t, a, dt, method=method) - ref).abs().max() / ref.max()) < 1e-10


# ---------------------------------------------------------------------------------------------
# convergence orders

NS = [41, 81, 161, 321]


def max_errors(op, exact, ns=NS):
    errors = []
    for n in ns:
        t, dt = grid(n)
        errors.append(float((op(t, dt) - exact(t)).abs().max()))
    return errors


@pytest.mark.parametrize("a", [0.3, 0.7])
def test_caputo_l1_order_is_two_minus_alpha(a):
    errors = max_errors(lambda t, dt: caputo(t ** 3 + t ** 2, a, dt),
                        lambda t: power_derivative(t, a, 3.0) + power_derivative(t, a, 2.0))
    assert abs(observed_order(NS, errors) - (2 - a)) < 0.08


@pytest.mark.parametrize("a", [0.3, 0.7, 0.95])
def test_caputo_l12_order_is_three_minus_alpha(a):
    # t^3 (y''(0) = 0): with y''(0) != 0 the L1 first step caps the max-norm order at 2 - alpha.
    errors = max_errors(lambda t, dt: caputo(t ** 3, a, dt, method="l1-2"),
                        lambda t: power_derivative(t, a, 3.0))
    assert abs(observed_order(NS, errors) - (3 - a)) < 0.08


@pytest.mark.parametrize("a", [0.3, 1.0, 1.7])
def test_rl_integral_order_two(a):
    errors = max_errors(lambda t, dt: rl_integral(torch.cos(2 * t) + t ** 2.5, a, dt),
                        lambda t: power_integral(t, a, 2.5) + rl_cos2(t, a))
    assert abs(observed_order(NS, errors) - 2) < 0.08


def rl_cos2(t, a, terms=40):
    """I^a cos(2t) = sum_k (-4)^k t^(2k+a) / Gamma(2k+1+a) (termwise power rule)."""
    return sum((-4.0) ** k * t ** (2 * k + a) / math.gamma(2 * k + 1 + a) for k in range(terms))


@pytest.mark.parametrize("a", [0.3, 0.8, 1.5])
def test_grunwald_letnikov_order_one(a):
    errors = max_errors(lambda t, dt: grunwald_letnikov(t ** 3, a, dt),
                        lambda t: power_derivative(t, a, 3.0))
    assert abs(observed_order(NS, errors) - 1) < 0.08


@pytest.mark.parametrize("a", [0.3, 0.8])
def test_derivative_inverts_integral(a):
    # D^a I^a y = y for continuous y and I^a D^a (y + c) = y for Caputo D^a when y(0) = 0.
    def y_of(t):
        return torch.sin(3 * t) + t

    for op in (lambda v, dt: caputo(v, a, dt), lambda v, dt: caputo(v, a, dt, method="l1-2"),
               lambda v, dt: grunwald_letnikov(v, a, dt)):
        errors = max_errors(lambda t, dt: op(rl_integral(y_of(t), a, dt), dt), y_of, ns=[201, 401, 801])
        assert errors[-1] < 5e-3 and observed_order([201, 401, 801], errors) > 0.9
    errors = max_errors(lambda t, dt: rl_integral(caputo(y_of(t) + 2, a, dt), a, dt), y_of,
                        ns=[201, 401, 801])
    assert errors[-1] < 5e-3 and observed_order([201, 401, 801], errors) > 0.9


# ---------------------------------------------------------------------------------------------
# FFT path == dense path, shapes, dims, dtypes

OPERATORS = [
    pytest.param(lambda y, a, dt, **kw: caputo(y, a, dt, method="l1", **kw), 0.6, id="caputo-l1"),
    pytest.param(lambda y, a, dt, **kw: caputo(y, a, dt, method="l1-2", **kw), 0.6, id="caputo-l1-2"),
    pytest.param(rl_integral, 1.3, id="rl_integral"),
    pytest.param(grunwald_letnikov, 0.6, id="grunwald_letnikov"),
]


@pytest.mark.parametrize("op,a", OPERATORS)
@pytest.mark.parametrize("side", ["below", "above"])
def test_fft_path_equals_direct_path(op, a, side, monkeypatch):
    # one length on each side of the automatic switch, each forced through both paths
    n = toeplitz.FFT_THRESHOLD // 2 + 1 if side == "below" else 2 * toeplitz.FFT_THRESHOLD + 37
    y = torch.randn(3, n, dtype=F64, generator=torch.Generator().manual_seed(5))
    monkeypatch.setattr(toeplitz, "FFT_THRESHOLD", 1)
    fft = op(y, a, 0.01)
    monkeypatch.setattr(toeplitz, "FFT_THRESHOLD", 10**9)
    direct = op(y, a, 0.01)
    assert (fft - direct).abs().max() <= 1e-12 * direct.abs().max()


@pytest.mark.parametrize("op,a", OPERATORS)
def test_batch_shape_and_dim(op, a):
    y = torch.randn(2, 3, 20, dtype=F64, generator=torch.Generator().manual_seed(6))
    out = op(y, a, 0.05)
    assert out.shape == y.shape
    torch.testing.assert_close(out[1, 2], op(y[1, 2], a, 0.05), rtol=1e-13, atol=1e-13)
    moved = op(y.movedim(-1, 1).contiguous(), a, 0.05, dim=1)
    torch.testing.assert_close(moved, out.movedim(-1, 1), rtol=1e-13, atol=1e-13)
    first = op(y.movedim(-1, 0), a, 0.05, dim=-3)
    torch.testing.assert_close(first, out.movedim(-1, 0), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("op,a", OPERATORS)
def test_per_channel_alpha(op, a):
    y = torch.randn(2, 3, 20, dtype=F64, generator=torch.Generator().manual_seed(7))
    alphas = torch.tensor([a, a * 0.5, a * 0.9], dtype=F64)
    out = op(y, alphas[:, None], 0.05)
    for c in range(3):
        torch.testing.assert_close(out[:, c], op(y[:, c], float(alphas[c]), 0.05), rtol=1e-13, atol=1e-13)
    # the same orders along dim=1 with alpha of shape (3, 1) aligned to (..., C, N) -> (N, C) layout
    out_t = op(y.transpose(1, 2), alphas[None, :], 0.05, dim=1)
    torch.testing.assert_close(out_t, out.transpose(1, 2), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("op,a", OPERATORS)
def test_float32(op, a):
    t, dt = grid(300)
    y = torch.sin(5 * t) + 1
    ref = op(y, a, dt)
    alpha32 = torch.tensor(a, dtype=torch.float32, requires_grad=True)
    out = op(y.float(), alpha32, dt)
    assert out.dtype == torch.float32
    assert (out.double() - ref).abs().max() < 1e-5 * ref.abs().max()
    out.sum().backward()
    assert alpha32.grad.dtype == torch.float32 and torch.isfinite(alpha32.grad)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("op,a", OPERATORS)
def test_cuda_matches_cpu(op, a):
    y = torch.randn(2, 400, dtype=F64, generator=torch.Generator().manual_seed(8))
    alpha = torch.tensor([[a], [a * 0.7]], dtype=torch.float32, device="cuda", requires_grad=True)
    out = op(y.cuda(), alpha, 0.01)
    assert out.device.type == "cuda"
    torch.testing.assert_close(out.cpu(), op(y, alpha.detach().cpu().double(), 0.01), rtol=1e-10, atol=1e-10)
    out.sum().backward()
    assert alpha.grad.device.type == "cuda" and torch.isfinite(alpha.grad).all()


# ---------------------------------------------------------------------------------------------
# gradients


@pytest.mark.parametrize("op,a", OPERATORS)
def test_gradcheck_in_y_and_alpha(op, a):
    y = torch.randn(2, 8, dtype=F64, requires_grad=True, generator=torch.Generator().manual_seed(9))
    alpha = torch.tensor([[a], [a * 0.8]], dtype=F64, requires_grad=True)
    assert gradcheck(lambda y, alpha: op(y, alpha, 0.1), (y, alpha))
    alpha0 = torch.tensor(a, dtype=F64, requires_grad=True)
    assert gradcheck(lambda y, alpha: op(y, alpha, 0.1), (y, alpha0))


@pytest.mark.parametrize("op,a", OPERATORS)
def test_gradcheck_alpha_on_fft_path(op, a):
    y = torch.randn(150, dtype=F64, generator=torch.Generator().manual_seed(10))
    assert 150 >= toeplitz.FFT_THRESHOLD
    alpha = torch.tensor(a, dtype=F64, requires_grad=True)
    assert gradcheck(lambda alpha: op(y, alpha, 0.01), (alpha,))


@pytest.mark.parametrize("op", [lambda y, a: caputo(y, a, 0.1), lambda y, a: caputo(y, a, 0.1, method="l1-2"),
                                lambda y, a: grunwald_letnikov(y, a, 0.1)])
def test_alpha_gradient_finite_at_alpha_one(op):
    y = torch.randn(30, dtype=F64, generator=torch.Generator().manual_seed(11))
    alpha = torch.tensor(1.0, dtype=F64, requires_grad=True)
    op(y, alpha).sum().backward()
    assert torch.isfinite(alpha.grad)
    # one-sided difference from below (alpha may not exceed 1)
    h = 1e-6
    fd = (op(y, 1.0).sum() - op(y, 1.0 - h).sum()) / h
    assert abs(float(alpha.grad) - float(fd)) < 1e-4 * max(1.0, abs(float(fd)))


@pytest.mark.parametrize("a", [0.3, 0.7])
def test_alpha_gradient_converges_to_exact(a):
    # d/da [Gamma(b+1)/Gamma(b+1-a) t^(b-a)] at t = 1 is Gamma(b+1)/Gamma(b+1-a) * digamma(b+1-a);
    # d/da [Gamma(b+1)/Gamma(b+1+a) t^(b+a)] at t = 1 is -Gamma(b+1)/Gamma(b+1+a) * digamma(b+1+a).
    b = 3.0
    t, dt = grid(1001)
    y = t ** b
    alpha = torch.tensor(a, dtype=F64, requires_grad=True)
    exact_d = math.gamma(b + 1) / math.gamma(b + 1 - a) * digamma(b + 1 - a)
    exact_i = -math.gamma(b + 1) / math.gamma(b + 1 + a) * digamma(b + 1 + a)
    for op, exact, tol in [(lambda al: caputo(y, al, dt, method="l1-2"), exact_d, 1e-5),
                           (lambda al: caputo(y, al, dt), exact_d, 1e-3),
                           (lambda al: rl_integral(y, al, dt), exact_i, 1e-5),
                           (lambda al: grunwald_letnikov(y, al, dt), exact_d, 1e-2)]:
        (grad,) = torch.autograd.grad(op(alpha)[-1], alpha)
        assert abs(float(grad) - exact) < tol * abs(exact)


# ---------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize("op,lo_hi", [(caputo, r"\(0, 1\]"), (grunwald_letnikov, r"\(0, 2\]"),
                                      (rl_integral, r"\(0, inf\)")])
def test_alpha_out_of_range(op, lo_hi):
    y = torch.zeros(10, dtype=F64)
    bad = [0.0, -0.5, float("nan"), torch.tensor([0.5, -1.0])] + ([] if op is rl_integral else [2.5])
    for alpha in bad:
        with pytest.raises(ValueError, match=f"alpha must lie in {lo_hi}"):
            op(y, alpha, 0.1)
    with pytest.raises(TypeError, match="alpha must be"):
        op(y, torch.tensor(0.5j), 0.1)
    with pytest.raises(TypeError, match="alpha must be"):
        op(y, "0.5", 0.1)


@pytest.mark.parametrize("op", [caputo, rl_integral, grunwald_letnikov])
def test_bad_signal_grid_and_dim(op):
    good = torch.zeros(2, 10, dtype=F64)
    with pytest.raises(TypeError, match="y must be a real floating tensor"):
        op(torch.zeros(10, dtype=torch.complex128), 0.5, 0.1)
    with pytest.raises(TypeError, match="y must be a floating tensor"):
        op(torch.zeros(10, dtype=torch.int64), 0.5, 0.1)
    with pytest.raises(TypeError, match="y must be a torch.Tensor"):
        op([0.0, 1.0], 0.5, 0.1)
    with pytest.raises(ValueError, match="y contains NaN or inf"):
        op(torch.tensor([0.0, float("inf"), 1.0]), 0.5, 0.1)
    with pytest.raises(ValueError, match="at least 2 grid points along dim"):
        op(torch.zeros(3, 1), 0.5, 0.1)
    with pytest.raises(ValueError, match="dim=2 is out of range"):
        op(good, 0.5, 0.1, dim=2)
    for dt in (0.0, -1.0, float("nan"), torch.tensor([0.1, 0.2])):
        with pytest.raises(ValueError, match="dt must be"):
            op(good, 0.5, dt)
    with pytest.raises(ValueError, match="size 1 along dim"):
        op(good, torch.full((2, 10), 0.5), 0.1)
    with pytest.raises(ValueError, match="does not broadcast"):
        op(good, torch.full((3, 1), 0.5), 0.1)
    with pytest.raises(ValueError, match="alpha has 3 dimensions"):
        op(good, torch.full((1, 2, 1), 0.5), 0.1)


def test_bad_method_and_weight_count():
    with pytest.raises(ValueError, match="method must be one of 'l1', 'l1-2'"):
        caputo(torch.zeros(5), 0.5, 0.1, method="l2")
    with pytest.raises(ValueError, match="n must be an int >= 0, got -1"):
        l1_weights(0.5, -1)
    with pytest.raises(ValueError, match=r"alpha must lie in \(0, 1\]"):
        l1_weights(1.5, 4)


def test_gl_weights_are_the_binomial_coefficients_of_one_minus_b_to_the_alpha():
    from fraczoo.ops.history import gl_weights

    d = torch.tensor([0.3, 1.5], dtype=torch.float64)
    k = np.arange(6)
    expected = torch.from_numpy((-1.0) ** k * binom(d.numpy()[:, None], k))
    torch.testing.assert_close(gl_weights(d, 6), expected, rtol=1e-12, atol=1e-15)
    assert gl_weights(0.3, 1).tolist() == [1.0] and gl_weights(0.3, 0).shape == (0,)
    # and they are what grunwald_letnikov applies: (1 - B)^0.3 of an impulse
    impulse = torch.zeros(6, dtype=torch.float64)
    impulse[0] = 1.0
    torch.testing.assert_close(grunwald_letnikov(impulse, 0.3, 1.0), gl_weights(0.3, 6, dtype=torch.float64))
