"""fodeint forward solvers: closed-form solutions, observed convergence orders, alpha = 1, shapes, errors."""
import math

import numpy as np
import pytest
import torch
from scipy.special import erfcx

from fraczoo.fode import fodeint
from fraczoo.fode._history import OnlineHistory
from fraczoo.ops._toeplitz import causal_conv_direct

F64 = torch.float64
G = math.gamma
METHODS = ("pece", "trapezoid", "l1")


def observed_order(ns, errors):
    """Least-squares slope of log(error) against log(h), h = 1/ns."""
    return float(np.polyfit(np.log(1.0 / np.asarray(ns, float)), np.log(errors), 1)[0])


def grid(n, t_end=1.0, dtype=F64):
    return torch.linspace(0.0, t_end, n + 1, dtype=dtype)


def diethelm(a):
    """Diethelm's benchmark (DFF 2002, Example): exact y = t^8 - 3 t^(4 + a/2) + 9/4 t^a, y(0) = 0."""
    def f(t, y):
        return (40320 / G(9 - a) * t ** (8 - a) - 3 * G(5 + a / 2) / G(5 - a / 2) * t ** (4 - a / 2)
                + 9 / 4 * G(a + 1) + (1.5 * t ** (a / 2) - t ** 4) ** 3 - y.clamp(min=0) ** 1.5)
    return f, lambda t: t ** 8 - 3 * t ** (4 + a / 2) + 9 / 4 * t ** a


def smooth(a):
    """Smooth solution y = t^2 + t^3 (D^a t^b = G(b+1)/G(b+1-a) t^(b-a)) with a y-dependent right side."""
    def f(t, y):
        exact = t ** 2 + t ** 3
        return 2 * t ** (2 - a) / G(3 - a) + 6 * t ** (3 - a) / G(4 - a) + (exact - y)
    return f, lambda t: t ** 2 + t ** 3


def max_errors(problem, a, method, ns, parallel=False):
    f, exact = problem(a)
    errs = []
    for n in ns:
        t = grid(n)
        y = fodeint(f, torch.zeros(1, dtype=F64), t, a, method=method, parallel=parallel)
        errs.append(float((y[:, 0] - exact(t)).abs().max()))
    return errs


# Theory: PECE O(h^min(2, 1+a)) when D^a y is C^2 (Diethelm, Ford & Freed, Numer. Algorithms 36 (2004),
# Thm 3.2); product trapezoid O(h^2) (same conditions); L1 O(h^(2-a)) for y in C^2 (Lin & Xu 2007) and
# O(h^a) when y ~ t^a (Diethelm's benchmark). Observed (max error over [0, 1], N = 160..2560):
# pece 1.37/1.52/1.82 at a = .3/.5/.8, trapezoid 1.96-2.00, L1 smooth 1.68/1.50/1.20, L1 Diethelm .27/.49/.80.
@pytest.mark.parametrize("a", [0.3, 0.5, 0.8])
def test_pece_order_diethelm(a):
    errs = max_errors(diethelm, a, "pece", [320, 640, 1280])
    assert errs[-1] < 2e-4
    # approaches 1 + a from above (1.41 at a = 0.3 on this range, 1.37 at N = 2560)
    assert 1 + a - 0.05 < observed_order([320, 640, 1280], errs) < 1 + a + 0.15


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("a", [0.3, 0.5, 0.8])
def test_trapezoid_order_diethelm(a, parallel):
    errs = max_errors(diethelm, a, "trapezoid", [80, 160, 320], parallel)
    assert errs[-1] < 5e-5
    assert observed_order([80, 160, 320], errs) == pytest.approx(2.0, abs=0.1)


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("a", [0.3, 0.5, 0.8])
def test_l1_order_smooth(a, parallel):
    errs = max_errors(smooth, a, "l1", [160, 320, 640], parallel)
    assert observed_order([160, 320, 640], errs) == pytest.approx(2 - a, abs=0.05)


@pytest.mark.parametrize("parallel", [False, True])
def test_l1_order_nonsmooth_diethelm(parallel):
    a = 0.5
    errs = max_errors(diethelm, a, "l1", [160, 320, 640], parallel)
    assert observed_order([160, 320, 640], errs) == pytest.approx(a, abs=0.05)


@pytest.mark.parametrize("method, parallel", [("pece", False), ("trapezoid", False), ("l1", False),
                                              ("trapezoid", True), ("l1", True)])
def test_relaxation_half_order_matches_erfcx(method, parallel):
    # D^(1/2) y = -c y, y = y0 E_(1/2)(-c sqrt(t)) = y0 erfcx(c sqrt(t))
    c, n = 1.5, 400
    t = grid(n, 2.0)
    y0 = torch.tensor([1.0, -2.0], dtype=F64)
    y = fodeint(lambda s, y: -c * y, y0, t, 0.5, method=method, parallel=parallel)
    exact = torch.from_numpy(erfcx(c * np.sqrt(t.numpy())))[:, None] * y0
    assert y.shape == (n + 1, 2)
    # y ~ 1 - c t^a / Gamma(1 + a) is not smooth at 0: the largest error sits at the first steps
    # (observed max 8.6e-4 / 1.6e-3 / 2.3e-2 and final 1.1e-5 / 6.5e-6 / 1.3e-4 for pece/trapezoid/l1)
    max_tol, end_tol = {"pece": (2e-3, 3e-5), "trapezoid": (3e-3, 2e-5), "l1": (5e-2, 3e-4)}[method]
    err = (y - exact).abs()
    assert float(err.max()) < max_tol * 2 and float(err[-1].max()) < end_tol * 2


# -- alpha = 1: the classical schemes -----------------------------------------------------------------
def test_alpha_one_trapezoid_is_trapezoid_rule():
    c, n = 2.0, 50
    t = grid(n)
    h = 1.0 / n
    y = fodeint(lambda s, y: -c * y, torch.ones(1, dtype=F64), t, 1.0, method="trapezoid")
    ratio = (1 - c * h / 2) / (1 + c * h / 2)
    expected = ratio ** torch.arange(n + 1, dtype=F64)
    assert torch.allclose(y[:, 0], expected, rtol=1e-11, atol=1e-13)


def test_alpha_one_l1_is_backward_euler():
    c, n = 2.0, 50
    t = grid(n)
    y = fodeint(lambda s, y: -c * y, torch.ones(1, dtype=F64), t, 1.0, method="l1")
    expected = (1 + c / n) ** -torch.arange(n + 1, dtype=F64)
    assert torch.allclose(y[:, 0], expected, rtol=1e-11, atol=1e-13)


def test_alpha_one_pece_second_order_vs_exp():
    ns = [40, 80, 160]
    errs = []
    for n in ns:
        t = grid(n)
        y = fodeint(lambda s, y: -y + torch.sin(s), torch.ones(1, dtype=F64), t, 1.0, method="pece")
        exact = 1.5 * torch.exp(-t) + 0.5 * (torch.sin(t) - torch.cos(t))
        errs.append(float((y[:, 0] - exact).abs().max()))
    assert observed_order(ns, errs) == pytest.approx(2.0, abs=0.1)


def test_alpha_tensor_one_no_nan_gradient():
    # 0^0 and log(0) in the weights must not poison d/dalpha at alpha = 1
    alpha = torch.tensor(1.0, dtype=F64, requires_grad=True)
    y = fodeint(lambda s, y: -y, torch.ones(1, dtype=F64), grid(20), alpha, method="trapezoid")
    (g,) = torch.autograd.grad(y[-1].sum(), alpha)
    assert torch.isfinite(g)


# -- shapes, orders per component, dtypes ------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
def test_batch_dims_pass_through(method):
    y0 = torch.tensor([[1.0, 0.5], [-1.0, 2.0], [0.3, 0.0]], dtype=F64)
    t = grid(30)
    f = lambda s, y: -y + 0.1 * y.roll(1, dims=-1)  # noqa: E731
    y = fodeint(f, y0, t, 0.7, method=method)
    assert y.shape == (31, 3, 2)
    for b in range(3):
        yb = fodeint(f, y0[b], t, 0.7, method=method)
        assert torch.allclose(y[:, b], yb, atol=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_per_component_alpha_equals_separate_solves(method):
    alphas = [0.4, 0.9]
    t = grid(40)
    y0 = torch.tensor([1.0, 2.0], dtype=F64)
    y = fodeint(lambda s, y: -y, y0, t, torch.tensor(alphas, dtype=F64), method=method)
    for i, a in enumerate(alphas):
        yi = fodeint(lambda s, y: -y, y0[i:i + 1], t, a, method=method)
        assert torch.allclose(y[:, i], yi[:, 0], atol=1e-12)


def test_scalar_y0_and_float32():
    t = grid(20, dtype=torch.float32)
    y = fodeint(lambda s, y: -y, torch.tensor(1.0), t, 0.5, method="trapezoid")
    assert y.shape == (21,) and y.dtype == torch.float32
    y64 = fodeint(lambda s, y: -y, torch.tensor(1.0, dtype=F64), t.double(), 0.5, method="trapezoid")
    assert torch.allclose(y.double(), y64, atol=1e-5)


def test_newton_corrector_matches_fixed_point_and_handles_stiff():
    t = grid(40)
    y0 = torch.tensor([1.0, 0.0], dtype=F64)
    A = torch.tensor([[-1.0, 2.0], [-2.0, -1.0]], dtype=F64)
    f = lambda s, y: y @ A.T  # noqa: E731
    y_fp = fodeint(f, y0, t, 0.6, method="trapezoid")
    y_nt = fodeint(f, y0, t, 0.6, method="trapezoid", implicit="newton")
    assert torch.allclose(y_fp, y_nt, atol=1e-10)
    # stiff: fixed point diverges (w0 * 1e4 >> 1), Newton solves it and decays
    stiff = lambda s, y: -1e4 * y  # noqa: E731
    with pytest.raises(RuntimeError, match="did not converge"):
        fodeint(stiff, y0, t, 0.6, method="trapezoid")
    y = fodeint(stiff, y0, t, 0.6, method="trapezoid", implicit="newton")
    assert torch.isfinite(y).all() and float(y[-1].abs().max()) < 0.05


@pytest.mark.parametrize("orders", [[0.6], [0.45, 0.85]])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("n", [30, 100])
def test_history_under_autograd_equals_no_grad_solve(method, n, orders):
    # short grids under autograd sum their history directly (DenseHistory), longer ones and no-grad solves
    # with the blocked FFT tiling (OnlineHistory): the same numbers up to rounding
    y0 = torch.tensor([[1.0, -0.5], [0.2, 0.7]], dtype=F64, requires_grad=True)
    alpha = torch.tensor(orders, dtype=F64)
    f = lambda s, y: -y + 0.5 * torch.sin(y.flip(-1)) + torch.cos(s)  # noqa: E731
    t = grid(n, 2.0)
    with_grad = fodeint(f, y0, t, alpha, method=method, parallel=False)
    with torch.no_grad():
        without = fodeint(f, y0, t, alpha, method=method, parallel=False)
    assert with_grad.requires_grad and torch.allclose(with_grad, without, rtol=0, atol=1e-14)


def test_stats_filled():
    stats = {}
    fodeint(lambda s, y: -y, torch.ones(1, dtype=F64), grid(10), 0.5, method="trapezoid", stats=stats)
    assert stats["steps"] == 10 and stats["iterations"] >= 10 and stats["parallel"] is False


def test_direct_gradcheck_y0_and_alpha():
    t = grid(12)

    def run(y0, alpha):
        return fodeint(lambda s, y: -y + torch.sin(s), y0, t, alpha, method="pece")

    y0 = torch.tensor([0.7, -0.2], dtype=F64, requires_grad=True)
    alpha = torch.tensor([0.6, 0.8], dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(run, (y0, alpha))


# -- the fast history sum ------------------------------------------------------------------------------
@pytest.mark.parametrize("per_kernel_signal", [False, True])
@pytest.mark.parametrize("orders", [1, 3])
@pytest.mark.parametrize("track_grad", [False, True])
@pytest.mark.parametrize("n", [7, 100, 300])
def test_online_history_equals_direct_sum(track_grad, n, orders, per_kernel_signal):
    # every path: dense squares (s <= 32) and FFT squares, one signal for both kernels or one each,
    # one weight for all components or one per component, with and without autograd
    gen = torch.Generator().manual_seed(0)
    kernel = torch.randn(n, 2, 1, orders, generator=gen, dtype=F64)  # K = 2 kernels
    x = torch.randn(n, 2, 4, 3, generator=gen, dtype=F64)  # (time, K, batch 4, D 3)
    if not per_kernel_signal:
        x = x[:, :1].expand(-1, 2, -1, -1)
    hist = OnlineHistory(kernel, n, track_grad=track_grad)
    pushes = [hist.push(x[m - 1] if per_kernel_signal else x[m - 1, 0]) for m in range(1, n)]
    got = torch.stack(pushes, dim=1)  # (K, n-1, 4, 3)
    w = torch.cat([torch.zeros_like(kernel[:1]), kernel[1:]]).expand(-1, -1, -1, 3)  # history excludes w_0
    for k in range(2):
        ref = causal_conv_direct(w[:, k, 0].T[:, None, :], x[:, k].permute(2, 1, 0))  # (3, 4, n)
        assert torch.allclose(got[k], ref.permute(2, 1, 0)[1:], atol=1e-10)


# -- bad input ------------------------------------------------------------------------------------------
def _f(s, y):
    return -y


@pytest.mark.parametrize("alpha", [0.0, -0.5, 1.5, float("nan")])
def test_alpha_out_of_range(alpha):
    with pytest.raises(ValueError, match="alpha must lie in"):
        fodeint(_f, torch.ones(1, dtype=F64), grid(5), alpha)


def test_alpha_wrong_shape():
    with pytest.raises(ValueError, match="alpha must be a scalar or have shape"):
        fodeint(_f, torch.ones(2, dtype=F64), grid(5), torch.full((3,), 0.5, dtype=F64))


def test_nan_y0():
    with pytest.raises(ValueError, match="y0 contains NaN"):
        fodeint(_f, torch.tensor([float("nan")], dtype=F64), grid(5), 0.5)


def test_complex_and_integer_y0():
    with pytest.raises(TypeError, match="y0 must be a real"):
        fodeint(_f, torch.ones(1, dtype=torch.complex128), grid(5), 0.5)
    with pytest.raises(TypeError, match="y0 must be a floating"):
        fodeint(_f, torch.ones(1, dtype=torch.int64), grid(5), 0.5)


@pytest.mark.parametrize("t, match", [
    (torch.tensor([0.0], dtype=F64), "at least 2 time points"),
    (torch.tensor([0.0, 0.1, 0.3], dtype=F64), "uniform grid"),
    (torch.tensor([0.0, -0.1, -0.2], dtype=F64), "strictly increasing"),
    (torch.tensor([0.0, 0.1, 0.1], dtype=F64), "strictly increasing"),
    (torch.tensor([[0.0, 0.1]], dtype=F64), "must be 1-D"),
    (torch.tensor([0.0, float("inf")], dtype=F64), "t contains NaN or inf"),
])
def test_bad_time_grid(t, match):
    with pytest.raises(ValueError, match=match):
        fodeint(_f, torch.ones(1, dtype=F64), t, 0.5)


def test_time_grid_dtype_mismatch():
    with pytest.raises(TypeError, match="same dtype as y0"):
        fodeint(_f, torch.ones(1, dtype=F64), grid(5, dtype=torch.float32), 0.5)


def test_unknown_method_gradient_option():
    y0, t = torch.ones(1, dtype=F64), grid(5)
    with pytest.raises(ValueError, match="method must be one of"):
        fodeint(_f, y0, t, 0.5, method="rk4")
    with pytest.raises(ValueError, match="gradient must be one of"):
        fodeint(_f, y0, t, 0.5, gradient="magic")
    with pytest.raises(TypeError, match="unexpected option"):
        fodeint(_f, y0, t, 0.5, method="pece", tolerance=1e-3)
    with pytest.raises(ValueError, match="deq.*needs an implicit scheme"):
        fodeint(_f, y0, t, 0.5, method="pece", gradient="deq")


def test_func_wrong_output():
    y0, t = torch.ones(2, dtype=F64), grid(5)
    with pytest.raises(ValueError, match="func must return a tensor of the same shape"):
        fodeint(lambda s, y: y[:1], y0, t, 0.5)
    with pytest.raises(TypeError, match="func must return a torch.Tensor"):
        fodeint(lambda s, y: 1.0, y0, t, 0.5)
    with pytest.raises(TypeError, match="func must be callable"):
        fodeint(3, y0, t, 0.5)
