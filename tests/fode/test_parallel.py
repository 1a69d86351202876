"""fodeint(..., parallel=True): the parallel-in-time solve of the implicit schemes, its gradients in every
mode, the automatic choice (parallel=None) and its option checks.

The parallel solve meets the same discrete equations as the sequential one to the solver tolerance
(1e-12 in float64), so the two agree to ~1e-11 here; closed forms and convergence orders are checked
for both in test_solvers.py.
"""
import math

import pytest
import torch

from fraczoo.fode import fodeint
from fraczoo.fode._history import OnlineHistory
from fraczoo.ops import mittag_leffler
from tests.fode.test_gradients import ALPHAS, Y0, Field, all_grads

F64 = torch.float64


def forced(t, y):
    """The forced 2-D linear system of scripts/bench_fode.py (works on any leading batch dims)."""
    A = torch.tensor([[-0.5, -1.0], [1.0, -0.5]], dtype=y.dtype)
    return y @ A + torch.sin(t) * torch.tensor([1.0, 0.0], dtype=y.dtype)


def solve_both(f, y0, t, alpha, method, **options):
    seq = fodeint(f, y0, t, alpha, method=method, parallel=False)
    stats = {}
    par = fodeint(f, y0, t, alpha, method=method, parallel=True, stats=stats, **options)
    return seq, par, stats


@pytest.mark.parametrize("method", ["trapezoid", "l1"])
def test_long_forced_system_matches_sequential(method):
    t = torch.linspace(0.0, 20.0, 2049, dtype=F64)
    seq, par, stats = solve_both(forced, torch.tensor([1.0, 0.0], dtype=F64), t, 0.7, method)
    assert float((seq - par).abs().max()) < 1e-10
    # the window size grew from its first value and the run needed no failed window
    assert stats["forward_windows"] > 1 and stats["forward_largest_window"] > 64
    assert stats["forward_window_splits"] == 0 and stats["parallel"] is True


def test_mittag_leffler_relaxation_closed_form():
    # D^a y = -lam y, y = E_a(-lam t^a) y0: per-component orders and a batch of states
    alpha = torch.tensor([0.45, 0.8], dtype=F64)
    lam = 1.3
    t = torch.linspace(0.0, 3.0, 1025, dtype=F64)
    y0 = torch.tensor([[1.0, -2.0], [0.5, 0.25]], dtype=F64)
    seq, par, _ = solve_both(lambda s, y: -lam * y, y0, t, alpha, "trapezoid")
    exact = mittag_leffler(-lam * t[:, None] ** alpha, alpha)[:, None, :] * y0
    assert float((par - seq).abs().max()) < 1e-11
    # the scheme's own error: largest near t = 0 where y ~ 1 - lam t^a / Gamma(1 + a) is not smooth
    assert float((par - exact).abs().max()) < 2e-3 and float((par[-1] - exact[-1]).abs().max()) < 2e-5


def test_stiff_problem_windows_shrink_and_match():
    f = lambda s, y: -50.0 * y + torch.cos(3 * s)  # noqa: E731
    t = torch.linspace(0.0, 5.0, 2001, dtype=F64)
    seq, par, stats = solve_both(f, torch.ones(1, dtype=F64), t, 0.9, "trapezoid", window=1024)
    assert stats["forward_window_splits"] >= 1  # the first window of 1024 steps diverges and is halved
    assert float((seq - par).abs().max()) < 1e-10


@pytest.mark.parametrize("anderson_m", [0, 3])
def test_float32_within_its_tolerance(anderson_m):
    t = torch.linspace(0.0, 10.0, 513)
    seq, par, _ = solve_both(forced, torch.tensor([1.0, 0.0]), t, 0.6, "l1", anderson_m=anderson_m)
    assert par.dtype == torch.float32 and float((seq - par).abs().max()) < 1e-4


def test_push_block_history_equals_direct_sum():
    torch.manual_seed(0)
    n = 100
    kernel = torch.randn(n, 1, 1, dtype=F64)
    x = torch.randn(n, 3, dtype=F64)
    blocks = OnlineHistory(kernel, n, base=torch.zeros(1, n, 3, dtype=F64), track_grad=False)
    start = 0
    for size in [4, 4, 8, 16, 32, 16, 8, 4, 2, 1, 1, 4]:  # dyadic: each size divides its start
        assert start % size == 0
        blocks.push_block(x[start:start + size])
        start = min(start + size, n)
        # the rows a next dyadic block can cover, [start, start + lowbit(start)), hold the history of
        # everything pushed so far: sum_{j < start} w_{m-j} x_j
        rows = range(start, min(start + (start & -start), n))
        direct = [sum(kernel[m - j, 0] * x[j] for j in range(start)) for m in rows]
        if direct:
            assert torch.allclose(blocks.rows(start, rows[-1] + 1)[:, 0], torch.stack(direct), atol=1e-12)
    assert start == n


# -- gradients ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("gradient", ["direct", "adjoint"])
@pytest.mark.parametrize("method", ["trapezoid", "l1"])
def test_parallel_gradients_equal_sequential(method, gradient):
    field = Field()
    y_s, g_s = all_grads(field, method, "direct", Y0, ALPHAS["per_component"], parallel=False)
    y_p, g_p = all_grads(field, method, gradient, Y0, ALPHAS["per_component"], parallel=True)
    assert torch.allclose(y_s, y_p, atol=1e-10)
    assert float((g_s - g_p).abs().max()) < 1e-10 * float(g_s.abs().max())


@pytest.mark.parametrize("gradient", ["direct", "adjoint"])
def test_gradcheck_parallel(gradient):
    t = torch.linspace(0.0, 1.5, 12, dtype=F64)
    c = torch.tensor(0.8, dtype=F64, requires_grad=True)

    def run(y0, alpha, c):
        options = {"adjoint_params": [c]} if gradient == "adjoint" else {}
        return fodeint(lambda s, y: -c * y + 0.3 * torch.sin(y) + torch.cos(s), y0, t, alpha, method="trapezoid",
                       gradient=gradient, parallel=True, window=4, **options)

    y0 = torch.tensor([0.4, -0.7], dtype=F64, requires_grad=True)
    alpha = torch.tensor([0.5, 0.9], dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(run, (y0, alpha, c))


def test_parallel_direct_reaches_closure_tensors_without_adjoint_params():
    t = torch.linspace(0.0, 2.0, 200, dtype=F64)
    grads = []
    for parallel in (False, True):
        c = torch.tensor(1.3, dtype=F64, requires_grad=True)
        y = fodeint(lambda s, y: -c * y + torch.sin(s), torch.ones(1, dtype=F64), t, 0.6, method="l1",
                    parallel=parallel)
        grads.append(torch.autograd.grad(y.square().sum(), c)[0])
    assert float(grads[1]) == pytest.approx(float(grads[0]), rel=1e-10)


def test_parallel_direct_under_no_grad_keeps_no_graph():
    t = torch.linspace(0.0, 1.0, 100, dtype=F64)
    y0 = torch.ones(2, dtype=F64, requires_grad=True)
    with torch.no_grad():
        y = fodeint(lambda s, y: -y, y0, t, 0.5, method="trapezoid", parallel=True)
    assert not y.requires_grad


# -- the automatic choice ------------------------------------------------------------------------------
def test_automatic_choice():
    t_long, t_short = torch.linspace(0.0, 5.0, 200, dtype=F64), torch.linspace(0.0, 5.0, 40, dtype=F64)
    small, large = torch.ones(4, 2, dtype=F64), torch.ones(64, 2, dtype=F64)

    def chosen(f, y0, t, **kw):
        stats = {}
        fodeint(f, y0, t, 0.7, stats=stats, **kw)
        return stats["parallel"]

    assert chosen(forced, small, t_long, method="trapezoid") is True
    assert chosen(forced, small, t_long, method="l1", gradient="adjoint") is True
    assert chosen(forced, small, t_short, method="trapezoid") is False  # short grids stay sequential
    assert chosen(forced, large, t_long, method="trapezoid") is False  # so do large states
    assert chosen(forced, small, t_long, method="pece") is False  # explicit
    assert chosen(forced, small, t_long, method="trapezoid", implicit="newton") is False
    assert chosen(forced, small, t_long, method="trapezoid", gradient="deq") is True

    class WideMLP(torch.nn.Module):  # 2 x 256 + 256 x 2 = 1024 weights
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Linear(2, 256), torch.nn.Tanh(), torch.nn.Linear(256, 2))
            self.net.to(F64)

        def forward(self, s, y):
            return 0.1 * self.net(y)

    wide = WideMLP()
    assert chosen(wide, torch.ones(4, 2, dtype=F64), t_long, method="trapezoid") is True  # work 4 x 1024
    assert chosen(wide, torch.ones(16, 2, dtype=F64), t_long, method="trapezoid") is False  # 16 x 1024: costly func

    # a func written for one state: it mixes time points when called on a batch of them
    def unbatched(s, y):
        return torch.stack([y[1], -y[0]]) * math.cos(float(s))

    assert chosen(unbatched, torch.ones(2, dtype=F64), t_long, method="trapezoid") is False


def test_unbatchable_func_falls_back_and_matches():
    def unbatched(s, y):
        return torch.stack([y[1], -y[0]])

    t = torch.linspace(0.0, 3.0, 200, dtype=F64)
    y0 = torch.tensor([1.0, 0.0], dtype=F64)
    assert torch.allclose(fodeint(unbatched, y0, t, 0.8, method="trapezoid"),
                          fodeint(unbatched, y0, t, 0.8, method="trapezoid", parallel=False), atol=0)


# -- options -------------------------------------------------------------------------------------------
def test_option_checks():
    y0, t = torch.ones(1, dtype=F64), torch.linspace(0.0, 1.0, 5, dtype=F64)
    with pytest.raises(ValueError, match="parallel=True needs an implicit method.*'pece'"):
        fodeint(lambda s, y: -y, y0, t, 0.5, method="pece", parallel=True)
    with pytest.raises(ValueError, match="gradient='deq' is parallel in time"):
        fodeint(lambda s, y: -y, y0, t, 0.5, method="l1", gradient="deq", parallel=False)
    with pytest.raises(ValueError, match="implicit='newton' is the sequential corrector"):
        fodeint(lambda s, y: -y, y0, t, 0.5, method="l1", parallel=True, implicit="newton")
    with pytest.raises(TypeError, match=r"parallel must be True, False or None \(automatic\), got str"):
        fodeint(lambda s, y: -y, y0, t, 0.5, method="l1", parallel="yes")
    with pytest.raises(TypeError, match="unexpected option.*'window'"):  # parallel options need parallel=True
        fodeint(lambda s, y: -y, y0, t, 0.5, method="l1", window=4)
    fodeint(lambda s, y: -y, y0, t, 0.5, method="l1", parallel=True, window=4, anderson_m=2, time_batching="vmap")
    # Newton on the backward sweep of the adjoint is allowed with a parallel forward
    fodeint(lambda s, y: -y, y0, t, 0.5, method="l1", gradient="adjoint", parallel=True, implicit="newton")
