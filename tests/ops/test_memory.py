"""stochastic_caputo: unbiased sampled estimates of the L1 Caputo history (fraczoo.ops.memory).

The reference is always the exact sum ``caputo(..., method="l1")``; statistical checks use a fixed
generator seed (deterministic tests) and z-scores from the empirical spread of independent draws,
taken as independent batch rows of one call.
"""
from __future__ import annotations

import math

import pytest
import torch

from fraczoo.ops.history import caputo
from fraczoo.ops.memory import SAMPLERS, stochastic_caputo

F64 = torch.float64
Z_MAX = 5.0  # per-point |z| bound; with ~10^2 points per test a false alarm has odds ~ 10^-4


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def grid(n: int, t_end: float = 1.0):
    t = torch.linspace(0, t_end, n, dtype=F64)
    return t, float(t[1] - t[0])


def rough_signal(n: int, seed: int = 1) -> tuple[torch.Tensor, float]:
    """Smooth trend plus a random walk: every sampler has work to do on it."""
    t, dt = grid(n)
    walk = torch.cumsum(torch.randn(n, dtype=F64, generator=gen(seed)), 0) * 0.1
    return torch.sin(3 * t) + t ** 2 + walk, dt


def replicate(y: torch.Tensor, reps: int) -> torch.Tensor:
    return y.expand(reps, *y.shape)


def z_scores(samples: torch.Tensor, exact: torch.Tensor):
    """Per-point z of the sample mean (dim 0) against ``exact``; also the empirical std.

    A point without spread (its estimate is exact for every draw, e.g. when the control variate
    absorbs a two-lag tail) must match to rounding; it gets z = 0 then, and z = inf otherwise."""
    mean, std = samples.mean(0), samples.std(0)
    error = mean - exact
    spread = std / math.sqrt(samples.shape[0])
    rounding = 1e-10 * (1 + exact.abs())
    z = torch.where(spread > rounding, error / spread.clamp(min=1e-300),
                    torch.where(error.abs() <= rounding, 0.0, math.inf))
    return z, std


# ------------------------------------------------------------------------------------------------
# unbiasedness and variance


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("alpha", [0.3, 0.8])
def test_unbiased_per_point(sampler, alpha):
    y, dt = rough_signal(48)
    exact = caputo(y, alpha, dt)
    k, reps = 6, 3000
    est = stochastic_caputo(replicate(y, reps), alpha, dt, k, sampler=sampler, generator=gen(2))
    z, std = z_scores(est, exact)
    # points n <= k are exact; every later point is genuinely random
    torch.testing.assert_close(est[:, :k + 1], exact[:k + 1].expand(reps, -1), rtol=1e-12, atol=1e-12)
    assert bool((std[k + 1:] > 0).all())
    assert z[k + 1:].abs().max() < Z_MAX


@pytest.mark.parametrize("alpha", [0.01, 0.995])
def test_unbiased_near_the_ends_of_the_range(alpha):
    y, dt = rough_signal(40, seed=4)
    exact = caputo(y, alpha, dt)
    for sampler in SAMPLERS:
        est = stochastic_caputo(replicate(y, 2000), alpha, dt, 4, sampler=sampler, generator=gen(7))
        z, _ = z_scores(est, exact)
        assert z[5:].abs().max() < Z_MAX, sampler


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_variance_estimate_is_unbiased(sampler):
    y, dt = rough_signal(40, seed=3)
    reps = 3000
    est, var = stochastic_caputo(replicate(y, reps), 0.6, dt, 8, sampler=sampler, generator=gen(5),
                                 return_variance=True)
    assert var.shape == est.shape and bool((var >= 0).all())
    assert bool((var[:, :9] == 0).all())  # exact points
    empirical = est.var(0)[9:]
    predicted = var.mean(0)[9:]
    ratio = predicted / empirical
    # sample variance of 3000 draws is good to ~3-6 % (heavier tails for few strata draws)
    assert 0.8 < float(ratio.min()) and float(ratio.max()) < 1.25
    assert abs(float(ratio.mean()) - 1) < 0.05


def test_importance_variance_scales_as_one_over_k():
    y, dt = rough_signal(64, seed=6)
    reps = 3000
    variances = []
    for k in (4, 16):
        est, var = stochastic_caputo(replicate(y, reps), 0.5, dt, k, generator=gen(k), return_variance=True)
        variances.append((est.var(0)[24:], var.mean(0)[24:]))
    (emp4, pred4), (emp16, pred16) = variances
    # Var = Var_p(single draw) / k: the ratio is 4 point by point (per-point spread ~ 5 %)
    assert abs(float((emp4 / emp16).mean()) - 4) < 0.25
    assert abs(float((pred4 / pred16).mean()) - 4) < 0.25
    assert float((emp4 / emp16).min()) > 3.2 and float((emp4 / emp16).max()) < 5.0


def test_smooth_history_control_variate_and_strata_beat_importance():
    """Per point, the true variance (the mean of the unbiased variance estimates over independent rows;
    a single call's estimate is itself random, ~40 % spread with 6 draws per stratum, so ratios of
    single-call estimates would say nothing point by point) is far below importance sampling's."""
    t, dt = grid(256, 4.0)
    y = torch.sin(t) + torch.exp(-t) + 0.5 * t ** 1.5
    variances = {}
    for sampler in SAMPLERS:
        est, var = stochastic_caputo(replicate(y, 400), 0.4, dt, 16, sampler=sampler, generator=gen(0),
                                     return_variance=True)
        variances[sampler] = var.mean(0)[17:]
        ratio = variances[sampler] / est.var(0)[17:]      # and the estimates are right on average
        assert abs(float(ratio.mean()) - 1) < 0.05, sampler
    importance = variances["importance"]
    assert bool((importance > 0).all())
    # the piecewise-linear control variate leaves only the curvature inside each stratum to sample
    # (observed: max ratio 0.035, median 0.009; strata alone: max 0.20, median 0.12)
    assert float((variances["control_variate"] / importance).max()) < 0.05
    assert float((variances["stratified"] / importance).max()) < 0.3


def test_rough_history_by_parts_variance_is_bounded_in_n():
    """On a random walk (white-noise increments) the increment samplers' draws carry weights ~ n^(1-alpha)
    that the exact sum cancels: their variance grows with n. Summed by parts, the weights c_m are
    summable and the variance stays bounded by (sum c)^2 max|y|^2 / draws."""
    n, k, alpha = 400, 16, 0.3
    y = torch.cumsum(torch.randn(n, dtype=F64, generator=gen(14)), 0) / math.sqrt(n)
    std = {}
    for sampler in SAMPLERS:
        est = stochastic_caputo(replicate(y, 400), alpha, 1.0, k, sampler=sampler, generator=gen(15))
        std[sampler] = est.std(0)
    late = slice(n // 2, None)
    bound = (1.0 * float(y.abs().max())) / math.sqrt(k - k // 4)     # sum c <= b_0 = 1
    assert float(std["by_parts"][late].max()) < bound
    for sampler in ("importance", "stratified", "control_variate"):
        assert float((std[sampler][late] / std["by_parts"][late]).median()) > 5, sampler
    # and the increment samplers' spread grows with n (~ n^(1-alpha) = n^0.7) while by_parts' does not
    early = slice(n // 8, n // 4)
    assert float(std["importance"][late].mean() / std["importance"][early].mean()) > 2
    assert float(std["by_parts"][late].mean() / std["by_parts"][early].mean()) < 1.5


def test_quadratic_history_is_exact_with_the_control_variate():
    """d_j is linear in j for y = t^2, so the baseline absorbs the whole tail: zero variance."""
    t, dt = grid(200)
    y = 3 * t ** 2 - t + 0.5
    est, var = stochastic_caputo(y, 0.7, dt, 8, sampler="control_variate", generator=gen(1),
                                 return_variance=True)
    torch.testing.assert_close(est, caputo(y, 0.7, dt), rtol=1e-10, atol=1e-10)
    assert float(var.max()) < 1e-20


@pytest.mark.parametrize("alpha", [0.25, 0.5, 0.75])
def test_convergence_to_closed_form_caputo_of_t_squared(alpha):
    """D^alpha t^2 = 2 t^(2-alpha) / Gamma(3-alpha); the (exact, see above) control-variate estimate
    inherits the L1 scheme's order 2 - alpha."""
    errors, steps = [], []
    for n in (65, 129, 257, 513):
        t, dt = grid(n)
        est = stochastic_caputo(t ** 2, alpha, dt, 8, sampler="control_variate", generator=gen(0))
        truth = 2 * t ** (2 - alpha) / math.gamma(3 - alpha)
        errors.append(float((est - truth).abs().max()))
        steps.append(dt)
    slope = torch.linalg.lstsq(torch.tensor([[math.log(h), 1.0] for h in steps], dtype=F64),
                               torch.tensor([math.log(e) for e in errors], dtype=F64)[:, None]).solution[0, 0]
    assert abs(float(slope) - (2 - alpha)) < 0.1


def test_window_is_exact_and_only_the_tail_is_sampled():
    """Any history in the last `window` lags plus a linear tail is summed exactly at the last point;
    the importance sampler with the same budget is not exact there."""
    n, window, k = 120, 6, 10
    _, dt = grid(n)
    d = torch.linspace(0.2, -0.4, n - 1, dtype=F64)
    d[-window:] = torch.randn(window, dtype=F64, generator=gen(9)) * 3  # arbitrary recent differences
    y = torch.cat([torch.zeros(1, dtype=F64), torch.cumsum(d, 0)])
    exact = caputo(y, 0.45, dt)[-1]
    cv = stochastic_caputo(replicate(y, 200), 0.45, dt, k, sampler="control_variate", window=window,
                           generator=gen(3))[:, -1]
    torch.testing.assert_close(cv, exact.expand(200), rtol=1e-10, atol=1e-10)
    imp = stochastic_caputo(replicate(y, 200), 0.45, dt, k, generator=gen(3))[:, -1]
    assert float(imp.std()) > 1e-3


def test_window_zero_and_default_window():
    y, dt = rough_signal(50, seed=8)
    exact = caputo(y, 0.55, dt)
    for window in (0, None, 11):
        est = stochastic_caputo(replicate(y, 2000), 0.55, dt, 12, sampler="control_variate",
                                window=window, generator=gen(11))
        z, _ = z_scores(est, exact)
        assert z[13:].abs().max() < Z_MAX, window


def test_stratified_options():
    y, dt = rough_signal(60, seed=10)
    exact = caputo(y, 0.35, dt)
    for strata in (1, 3, 7):  # 7 strata over 7 draws: one draw each, uneven remainders for 3
        est = stochastic_caputo(replicate(y, 2000), 0.35, dt, 7, sampler="stratified", num_strata=strata,
                                generator=gen(strata))
        z, _ = z_scores(est, exact)
        assert z[8:].abs().max() < Z_MAX, strata
    # one stratum is plain importance sampling, draw for draw
    torch.testing.assert_close(
        stochastic_caputo(y, 0.35, dt, 7, sampler="stratified", num_strata=1, generator=gen(0)),
        stochastic_caputo(y, 0.35, dt, 7, sampler="importance", generator=gen(0)))


# ------------------------------------------------------------------------------------------------
# exactness, seeding, shapes


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_exact_when_samples_cover_the_history(sampler):
    y, dt = rough_signal(20)
    for k in (19, 25):
        est, var = stochastic_caputo(y, 0.6, dt, k, sampler=sampler, return_variance=True)
        torch.testing.assert_close(est, caputo(y, 0.6, dt), rtol=1e-13, atol=1e-13)
        assert bool((var == 0).all())


def test_single_lag_strata_are_exact():
    """k strata of one draw at the point n = k + 1: the recent strata are single lags (exact), the last
    one holds lags {k-1, k}, i.e. the differences d_0, d_1. With d_0 == d_1 (and alpha on the proposal
    grid, so p_m is exactly proportional to b_m) nothing random is left."""
    k = 8
    d = torch.randn(k + 1, dtype=F64, generator=gen(5))
    d[1] = d[0]
    y = torch.cat([torch.zeros(1, dtype=F64), torch.cumsum(d, 0)])     # 10 points, last n = 9
    est = stochastic_caputo(replicate(y, 100), 0.5, 0.1, k, sampler="stratified", num_strata=k,
                            generator=gen(1))
    torch.testing.assert_close(est, caputo(y, 0.5, 0.1).expand(100, -1), rtol=1e-12, atol=1e-12)
    d[1] = d[0] + 1
    y = torch.cat([torch.zeros(1, dtype=F64), torch.cumsum(d, 0)])
    est = stochastic_caputo(replicate(y, 100), 0.5, 0.1, k, sampler="stratified", num_strata=k, generator=gen(1))
    assert float(est[:, -1].std()) > 1e-3 and float(est[:, :-1].std(0).max()) < 1e-12


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_seeding(sampler):
    y, dt = rough_signal(64)
    a = stochastic_caputo(y, 0.5, dt, 4, sampler=sampler, generator=gen(123))
    b = stochastic_caputo(y, 0.5, dt, 4, sampler=sampler, generator=gen(123))
    assert torch.equal(a, b)
    g = gen(123)
    first = stochastic_caputo(y, 0.5, dt, 4, sampler=sampler, generator=g)
    second = stochastic_caputo(y, 0.5, dt, 4, sampler=sampler, generator=g)
    assert torch.equal(first, a) and not torch.equal(first, second)
    torch.manual_seed(0)
    c = stochastic_caputo(y, 0.5, dt, 4, sampler=sampler)
    d = stochastic_caputo(y, 0.5, dt, 4, sampler=sampler)
    assert not torch.equal(c, d)
    assert not torch.equal(a, stochastic_caputo(y, 0.5, dt, 4, sampler=sampler, generator=gen(124)))


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_shared_draws(sampler):
    """share_draws=True: one lag set per alpha element, so rows sharing a scalar alpha get the same
    lags (identical rows, identical estimates; the estimate is linear in y), rows with their own alpha
    element their own lags, and every estimate is still unbiased (over independent calls)."""
    y, dt = rough_signal(40, seed=13)
    rows = torch.stack([y, y, 2 * y])                                  # (3, 40)
    est = stochastic_caputo(rows, 0.5, dt, 5, sampler=sampler, generator=gen(0), share_draws=True)
    assert torch.equal(est[0], est[1])
    torch.testing.assert_close(est[2], 2 * est[0], rtol=1e-12, atol=1e-12)
    alpha = torch.tensor([[0.3], [0.3], [0.7]], dtype=F64)
    est = stochastic_caputo(rows, alpha, dt, 5, sampler=sampler, generator=gen(0), share_draws=True)
    assert not torch.equal(est[0], est[1])
    # independent replicates in one call: a replicate axis on alpha gives every (replicate, row) its own
    # alpha element, hence its own lag set, through the shared-draws code path
    reps = 1500
    draws = stochastic_caputo(replicate(rows, reps), alpha.expand(reps, 3, 1), dt, 5, sampler=sampler,
                              generator=gen(4), share_draws=True)
    z, _ = z_scores(draws, caputo(rows, alpha, dt))
    assert z[:, 6:].abs().max() < Z_MAX


def test_batch_rows_draw_independently():
    y, dt = rough_signal(64)
    est = stochastic_caputo(replicate(y, 2), 0.5, dt, 4, generator=gen(0))
    assert not torch.equal(est[0], est[1])


def test_dim_dtype_and_batch_shapes():
    y, dt = rough_signal(40)
    batch = torch.stack([y, 2 * y, -y]).reshape(3, 1, 40).repeat(1, 2, 1)   # (3, 2, 40)
    ref = stochastic_caputo(batch, 0.5, dt, 5, generator=gen(4))
    assert ref.shape == (3, 2, 40)
    moved = stochastic_caputo(batch.movedim(-1, 0), 0.5, dt, 5, dim=0, generator=gen(4))
    assert torch.equal(moved.movedim(0, -1), ref)
    single = stochastic_caputo(y, 0.5, dt, 5, generator=gen(4))
    assert single.shape == (40,)
    est32, var32 = stochastic_caputo(batch.float(), 0.5, dt, 5, generator=gen(4), return_variance=True)
    assert est32.dtype == torch.float32 and var32.dtype == torch.float32
    # the same draws in float32: agreement to single precision
    torch.testing.assert_close(est32.double(), ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max()))


def test_per_channel_alpha_tensor():
    y, dt = rough_signal(40)
    channels = torch.stack([y, 0.5 * y, y + 1])                        # (3, 40)
    alpha = torch.tensor([[0.2], [0.5], [0.9]], dtype=F64)             # one order per row
    exact = caputo(channels, alpha, dt)
    est = stochastic_caputo(replicate(channels, 2000), alpha, dt, 5, sampler="stratified", generator=gen(6))
    z, _ = z_scores(est, exact)
    assert z[:, 6:].abs().max() < Z_MAX
    tensor0d = stochastic_caputo(y, torch.tensor(0.5, dtype=torch.float32), dt, 5, generator=gen(1))
    torch.testing.assert_close(tensor0d, stochastic_caputo(y, 0.5, dt, 5, generator=gen(1)))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("sampler", SAMPLERS)
def test_cuda(sampler):
    y, dt = rough_signal(300)
    yc = replicate(y, 2000).cuda()
    g = torch.Generator(device="cuda").manual_seed(0)
    alpha = torch.tensor(0.6, dtype=F64, device="cuda", requires_grad=True)
    est, var = stochastic_caputo(yc, alpha, dt, 16, sampler=sampler, generator=g, return_variance=True)
    assert est.device.type == "cuda" and var.device.type == "cuda"
    z, _ = z_scores(est.cpu(), caputo(y, 0.6, dt))
    assert z[17:].abs().max() < Z_MAX
    est.sum().backward()
    assert torch.isfinite(alpha.grad)


# ------------------------------------------------------------------------------------------------
# gradients


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_gradcheck_fixed_seed(sampler):
    y, dt = rough_signal(14)
    y = torch.stack([y, y.flip(0)]).requires_grad_()                   # (2, 14)
    alpha = torch.tensor([[0.35], [0.7]], dtype=F64, requires_grad=True)

    def fn(signal, order):
        return stochastic_caputo(signal, order, dt, 4, sampler=sampler, generator=gen(3))

    assert torch.autograd.gradcheck(fn, (y, alpha))
    scalar = torch.tensor(0.55, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda s, a: fn(s, a), (y, scalar))


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_gradient_of_estimate_is_estimate_of_gradient_in_y(sampler):
    """For fixed draws the estimator is linear in y, so its derivative along v is the estimate of v."""
    y, dt = rough_signal(50)
    v, _ = rough_signal(50, seed=2)

    def fn(signal):
        return stochastic_caputo(signal, 0.45, dt, 6, sampler=sampler, generator=gen(8))

    _, tangent = torch.autograd.functional.jvp(fn, (y,), (v,))
    torch.testing.assert_close(tangent, fn(v), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_alpha_gradient_is_unbiased(sampler):
    """E[d estimate / d alpha] = d caputo / d alpha: the proposal is detached, so the draws are
    importance weights of the alpha-derivative of the kernel (no score-function term is missing)."""
    y, dt = rough_signal(40, seed=12)
    reps = 3000
    weights = torch.rand(40, dtype=F64, generator=gen(1))              # a generic scalar loss
    alpha = torch.full((reps, 1), 0.4, dtype=F64, requires_grad=True)   # one order per replicate
    est = stochastic_caputo(replicate(y, reps), alpha, dt, 5, sampler=sampler, generator=gen(21))
    (grads,) = torch.autograd.grad((est * weights).sum(), alpha)
    a0 = torch.tensor(0.4, dtype=F64, requires_grad=True)
    (exact,) = torch.autograd.grad((caputo(y, a0, dt) * weights).sum(), a0)
    z, std = z_scores(grads[:, 0], exact)
    assert float(std) > 0 and abs(float(z)) < Z_MAX
    # and every point separately, through the sampled rows only
    alpha_pts = torch.full((reps, 1), 0.4, dtype=F64, requires_grad=True)
    est = stochastic_caputo(replicate(y, reps), alpha_pts, dt, 5, sampler=sampler, generator=gen(22))
    for point in (6, 20, 39):
        (g,) = torch.autograd.grad(est[:, point].sum(), alpha_pts, retain_graph=True)
        (ex,) = torch.autograd.grad(caputo(y, a0, dt)[point], a0)
        z, _ = z_scores(g[:, 0], ex)
        assert abs(float(z)) < Z_MAX, point


def test_alpha_gradient_float32_finite_and_close():
    y, dt = rough_signal(200)
    alpha = torch.tensor(0.999, requires_grad=True)                    # float32, near the edge
    est = stochastic_caputo(y.float(), alpha, dt, 16, sampler="control_variate", generator=gen(0))
    est.sum().backward()
    assert torch.isfinite(alpha.grad)
    alpha = torch.tensor(0.01, requires_grad=True)
    stochastic_caputo(y.float(), alpha, dt, 16, generator=gen(0)).sum().backward()
    assert torch.isfinite(alpha.grad)


# ------------------------------------------------------------------------------------------------
# bad input


def test_bad_inputs():
    y, dt = rough_signal(20)
    with pytest.raises(ValueError, match="num_samples must be an int >= 1, got 0"):
        stochastic_caputo(y, 0.5, dt, 0)
    with pytest.raises(TypeError, match="num_samples must be an int >= 1, got float 2.5"):
        stochastic_caputo(y, 0.5, dt, 2.5)
    with pytest.raises(TypeError, match="num_samples must be an int >= 1, got bool True"):
        stochastic_caputo(y, 0.5, dt, True)
    with pytest.raises(ValueError, match="sampler must be one of 'importance', 'stratified', 'control_variate'"):
        stochastic_caputo(y, 0.5, dt, 4, sampler="uniform")
    for alpha in (0.0, 1.0, 1.5, -0.1, float("nan")):
        with pytest.raises(ValueError, match=r"alpha must lie in \(0, 1\)"):
            stochastic_caputo(y, alpha, dt, 4)
    with pytest.raises(ValueError, match=r"alpha must lie in \(0, 1\)"):
        stochastic_caputo(y, torch.tensor([0.5, 1.0]), dt, 4)
    with pytest.raises(TypeError, match="alpha must be a real"):
        stochastic_caputo(y, "0.5", dt, 4)
    with pytest.raises(ValueError, match="alpha must have size 1 along dim"):
        stochastic_caputo(torch.stack([y, y]), torch.tensor([0.3, 0.4], dtype=F64), dt, 4)
    with pytest.raises(ValueError, match="y contains NaN or inf"):
        stochastic_caputo(torch.full((10,), float("nan"), dtype=F64), 0.5, dt, 4)
    with pytest.raises(TypeError, match="y must be a real floating tensor"):
        stochastic_caputo(y.to(torch.complex128), 0.5, dt, 4)
    with pytest.raises(TypeError, match="y must be a floating tensor"):
        stochastic_caputo(torch.arange(10), 0.5, dt, 4)
    with pytest.raises(TypeError, match="y must be a torch.Tensor"):
        stochastic_caputo([1.0, 2.0, 3.0], 0.5, dt, 4)
    with pytest.raises(ValueError, match="at least 2 grid points"):
        stochastic_caputo(y[:1], 0.5, dt, 4)
    with pytest.raises(ValueError, match="dim=3 is out of range"):
        stochastic_caputo(y, 0.5, dt, 4, dim=3)
    with pytest.raises(ValueError, match="dt must be a finite number > 0"):
        stochastic_caputo(y, 0.5, 0.0, 4)
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        stochastic_caputo(y, 0.5, dt, 4, generator=0)
    with pytest.raises(TypeError, match="share_draws must be True or False, got NoneType None"):
        stochastic_caputo(y, 0.5, dt, 4, share_draws=None)
    with pytest.raises(TypeError, match="return_variance must be True or False, got int 1"):
        stochastic_caputo(y, 0.5, dt, 4, return_variance=1)
    with pytest.raises(ValueError, match="return_variance=True needs at least 2 draws.*num_samples must be >= 2"):
        stochastic_caputo(y, 0.5, dt, 1, return_variance=True)
    with pytest.raises(ValueError, match="num_strata must be <= num_samples"):
        stochastic_caputo(y, 0.5, dt, 4, sampler="stratified", num_strata=5)
    with pytest.raises(ValueError, match="num_strata must be <= num_samples // 2"):
        stochastic_caputo(y, 0.5, dt, 4, sampler="stratified", num_strata=3, return_variance=True)
    with pytest.raises(ValueError, match="num_strata must be an int >= 1, got 0"):
        stochastic_caputo(y, 0.5, dt, 4, sampler="stratified", num_strata=0)
    with pytest.raises(ValueError, match="num_strata only applies to sampler='stratified'"):
        stochastic_caputo(y, 0.5, dt, 4, num_strata=2)
    with pytest.raises(ValueError, match="window must be < num_samples"):
        stochastic_caputo(y, 0.5, dt, 4, sampler="control_variate", window=4)
    with pytest.raises(ValueError, match="window must be an int >= 0, got -1"):
        stochastic_caputo(y, 0.5, dt, 4, sampler="control_variate", window=-1)
    with pytest.raises(ValueError, match="num_samples - window must be >= 2"):
        stochastic_caputo(y, 0.5, dt, 4, sampler="control_variate", window=3, return_variance=True)
    with pytest.raises(ValueError, match="window only applies to sampler='control_variate'"):
        stochastic_caputo(y, 0.5, dt, 4, window=2)
