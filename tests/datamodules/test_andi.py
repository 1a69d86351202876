"""AnDi 2020 simulators against exact laws.

The ensemble MSD of every model is compared with its exact expectation, point by point (z-scores):
fbm has <x(t)^2> = t^alpha and sbm, as the organisers simulate it, (t+1)^alpha - 1; for ctrw, lw and
attm the exact MSD of the model as defined (Pareto waiting/flight/segment times, floored to whole
steps, the challenge's truncations, lw's dropped first step) is the solution of a renewal equation,
computed below independently of the simulators. The fitted MSD exponent is then compared with alpha
(fbm) or with the exact law's exponent on the same lags (sbm, ctrw, lw, attm: at T = 1000 these differ
from alpha by up to ~0.15, a property of the models as the challenge defines them).

Tolerances: x(t)^2 averaged over n trajectories has standard error s/sqrt(n) (s the sample std), so
|z| < 5 at ~7 lags x ~20 cases fails by chance with probability < 1e-4. The fitted exponent's spread
over 20-30 seeds was measured at the sizes used here: std <= 0.011 (fbm, sbm; n = 1000) and
<= 0.019 (ctrw, lw, attm; n = 2000), so the tolerances 0.05 and 0.1 are >= 5 std.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from fraczoo.datamodules import andi_models
from fraczoo.datamodules.andi import (ALPHA_RANGE, LOCALIZATION_NOISE, MODEL_NAMES, Trajectories, corrupt,
                                      normalize_displacements, simulate)
from fraczoo.datamodules.andi_models import SIMULATORS, fgn_autocovariance, fgn_circulant_eigenvalues

T = 1000
LAGS = np.array([1, 3, 10, 30, 100, 300, T - 1])


# ---------------------------------------------------------------- exact laws (renewal equations)

def _renewal(q: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Solve g(t) = a(t) + sum_{j=1}^{t-1} q_j g(t-j), t = 0..T-1, batched over the leading axis."""
    g = np.zeros_like(a)
    for t in range(1, a.shape[-1]):
        g[:, t] = a[:, t] + np.einsum("nj,nj->n", q[:, 1:t], g[:, t - 1:0:-1])
    return g


def exact_msd_ctrw(alpha: float, length: int, h: float = 1 / 16) -> tuple[np.ndarray, np.ndarray]:
    """Bounds on E N(t) = U(t + 1) = sum_k P(t_k < t + 1), t_k sums of Pareto(alpha, x_min=1) waits.

    Rounding each wait up (down) to a multiple of h gives a lattice renewal process with fewer (more)
    events, so its renewal function bounds U from below (above).
    """
    m = round(1 / h)
    n_grid = (length + 1) * m + 1
    w = np.arange(n_grid + 1) * h
    cdf = np.where(w >= 1, 1 - np.maximum(w, 1.0) ** -alpha, 0.0)
    bounds = []
    for p in (np.r_[0.0, np.diff(cdf)[:n_grid - 1]], np.diff(cdf)[:n_grid]):  # ceil, floor
        u = np.zeros(n_grid)
        u[0] = 1.0
        for i in range(m, n_grid):  # waits >= 1 = m cells
            u[i] = p[m:i + 1] @ u[i - m::-1]
        bounds.append((np.cumsum(u) - 1.0)[(np.arange(length) + 1) * m - 1])
    return bounds[0], bounds[1]


def exact_msd_lw(alpha: float, length: int, nodes: int = 48) -> np.ndarray:
    """E|x(t)|^2 = E[v^2] E[sum_k L_k(t)^2] (v ~ U(0, 10); L_k: time flight k spends in [1, t + 1), since
    the walk sums steps 1..t of flights that start at step 0, as the organisers' code does).

    With g(t) = E sum_k L_k^2 over [0, t) (a renewal equation) and d_1 = j the first flight: it covers
    [1, t + 1) when j > t, else it gives (j - 1)^2 and a fresh renewal on [j, t + 1) gives g(t + 1 - j).
    """
    if alpha >= 2:  # sigma ~ U(0, 1): Gauss-Legendre average over sigma
        x, weights = np.polynomial.legendre.leggauss(nodes)
        sigma, weights = np.maximum((x + 1) / 2, 1e-3), weights / 2
    else:
        sigma, weights = np.array([3.0 - alpha]), np.array([1.0])
    s = sigma[:, None]
    t = np.arange(length + 1, dtype=float)
    j = np.maximum(t, 1.0)[None, :]
    q = j ** -s - (j + 1) ** -s  # P(duration = j)
    q[:, 0] = 0.0
    below = np.concatenate([np.zeros((len(sigma), 1)), np.cumsum(q * t ** 2, axis=1)[:, :-1]], axis=1)
    a = below + t ** 2 * j ** -s  # E[min(d, t)^2], P(d >= t) = t^-sigma
    a[:, 0] = 0.0
    g = _renewal(q, a)
    shifted = np.zeros((len(sigma), length))
    for u in range(1, length):
        first = np.arange(1, u + 1)
        shifted[:, u] = (u + 1.0) ** -sigma * u ** 2 + (q[:, 1:u + 1] * ((first - 1.0) ** 2 + g[:, u + 1 - first])).sum(1)
    return 100.0 / 3.0 * (weights @ shifted)


def exact_msd_attm(alpha: float, length: int, nodes: int = 48) -> np.ndarray:
    """E x_i(t)^2 = 2 E[sum_{s<t} D_seg(s)], D = u^(1/sigma), d = floor(u^(-1/alpha)), u ~ U(0.01, 0.9]."""
    sigma_max = 3.3 if alpha >= 1 else min(3.3, alpha / (1 - alpha))
    x, weights = np.polynomial.legendre.leggauss(nodes)
    sigma, weights = 0.03 + (sigma_max - 0.03) * (x + 1) / 2, weights / 2
    s = sigma[:, None]

    def primitive(u):  # integral of u^(1/sigma)
        return u ** (1 / s + 1) / (1 / s + 1)

    t = np.arange(length, dtype=float)
    j = np.maximum(t, 1.0)
    upper = np.clip(j ** -alpha, 0.01, 0.9)  # d = j  <=>  (j+1)^-alpha < u <= j^-alpha
    lower = np.clip((j + 1) ** -alpha, 0.01, 0.9)
    q = np.broadcast_to((upper - lower) / 0.89, (len(sigma), length)).copy()
    mean_d = (primitive(upper) - primitive(lower)) / 0.89  # E[D; d = j]
    q[:, 0] = mean_d[:, 0] = 0.0
    tail = (primitive(upper) - primitive(0.01)) / 0.89  # E[D; d >= t] = E[D; u <= t^-alpha]
    below = np.concatenate([np.zeros((len(sigma), 1)), np.cumsum(t * mean_d, axis=1)[:, :-1]], axis=1)
    a = below + t * tail  # E[D min(d, t)]
    a[:, 0] = 0.0
    return 2.0 * (weights @ _renewal(q, a))


def exact_msd(model: str, alpha: float, dim: int, length: int = T) -> tuple[np.ndarray, np.ndarray]:
    """(law, uncertainty of the law) of E|x(t)|^2 summed over coordinates, t = 0..length-1."""
    t = np.arange(length, dtype=float)
    if model == "fbm":
        law, err = t ** alpha, 0.0 * t
    elif model == "sbm":  # the organisers' walk starts one step into the t^alpha law
        law, err = (t + 1) ** alpha - 1, 0.0 * t
    elif model == "ctrw":
        low, high = exact_msd_ctrw(alpha, length)
        law, err = (low + high) / 2, (high - low) / 2
    elif model == "lw":
        return exact_msd_lw(alpha, length), 0.0 * t  # |direction| = 1 in any dim
    else:
        law, err = exact_msd_attm(alpha, length), 0.0 * t
    return dim * law, dim * err


def fit_exponent(msd: np.ndarray, t0: int, t1: int) -> float:
    lags = np.unique(np.round(np.geomspace(t0, t1, 20)).astype(int))
    return np.polyfit(np.log(lags), np.log(msd[lags]), 1)[0]


_CACHE: dict = {}


def simulated(model, alpha, dim, n):
    key = (model, alpha, dim, n)
    if key not in _CACHE:
        rng = np.random.default_rng([7, MODEL_NAMES.index(model), int(alpha * 100), dim])
        _CACHE[key] = SIMULATORS[model](n, T, alpha, dim, rng)
    return _CACHE[key]


# ---------------------------------------------------------------- MSD against exact laws

MSD_CASES = [("fbm", 0.3, 1), ("fbm", 1.0, 2), ("fbm", 1.7, 1), ("sbm", 0.3, 1), ("sbm", 1.0, 3), ("sbm", 1.7, 1),
             ("ctrw", 0.3, 1), ("ctrw", 0.9, 2), ("lw", 1.2, 1), ("lw", 1.6, 3), ("lw", 2.0, 1),
             ("attm", 0.3, 1), ("attm", 0.9, 2)]


@pytest.mark.parametrize("model,alpha,dim", MSD_CASES)
def test_ensemble_msd_matches_exact_law(model, alpha, dim):
    x = simulated(model, alpha, dim, 2000)
    squared = (x ** 2).sum(-1)
    mean, se = squared.mean(0), squared.std(0) / np.sqrt(len(x))
    law, err = exact_msd(model, alpha, dim)
    z = (np.abs(mean - law) - err)[LAGS] / se[LAGS]
    assert (z < 5).all(), f"z-scores {np.round(z, 2)} at lags {LAGS}"


@pytest.mark.parametrize("model,alpha", [("fbm", 0.3), ("fbm", 1.0), ("fbm", 1.7), ("sbm", 1.0)])
def test_msd_exponent_equals_alpha_exact_models(model, alpha):
    x = simulated(model, alpha, 1, 1000)
    assert abs(fit_exponent((x ** 2).mean(0)[:, 0], 1, T - 1) - alpha) < 0.05


@pytest.mark.parametrize("model,alpha", [("ctrw", 0.3), ("ctrw", 0.9), ("lw", 1.2), ("lw", 1.6), ("lw", 2.0),
                                         ("attm", 0.3), ("attm", 0.9), ("sbm", 0.3), ("sbm", 1.7)])
def test_msd_exponent_event_driven_models(model, alpha):
    """Fitted on lags 10..999: simulation == exact law (to 0.1); the exact law is within 0.15 of alpha
    (finite-time corrections of the models themselves, shrinking as t grows; for sbm the walk's late
    start)."""
    x = simulated(model, alpha, 1, 2000)
    law, _ = exact_msd(model, alpha, 1)
    fitted, exact = fit_exponent((x ** 2).mean(0)[:, 0], 10, T - 1), fit_exponent(law, 10, T - 1)
    assert abs(fitted - exact) < 0.1
    assert abs(exact - alpha) < 0.15


def test_ctrw_exact_law_bounds_are_tight():
    low, high = exact_msd_ctrw(0.5, 200)
    assert (high >= low).all() and ((high - low)[10:] / high[10:]).max() < 0.02
    # one event at most before t = 2: U(2) = P(W < 2) = 1 - 2^-alpha exactly
    assert high[1] == pytest.approx(1 - 2 ** -0.5, rel=1e-12)


# ---------------------------------------------------------------- fBm covariance

@pytest.mark.parametrize("alpha", [0.1, 1.0, 1.9])
@pytest.mark.parametrize("length", [33, 40])  # circulant size exactly 2N, and padded to 2 * 64
def test_fbm_increments_have_fgn_covariance(alpha, length):
    n = 20000
    x = andi_models.fbm(n, length, alpha, dim=2, rng=np.random.default_rng(3))
    inc = [np.ascontiguousarray(np.diff(x[:, :, c], axis=1)) for c in range(2)]  # (n, N) per coordinate
    k = np.arange(length - 1)
    exact = fgn_autocovariance(k[:, None] - k[None, :], alpha / 2)
    for c in range(2):  # Var(x_i x_j) = gamma_ii gamma_jj + gamma_ij^2 for Gaussians
        cov = np.einsum("ni,nj->ij", inc[c], inc[c]) / n  # einsum: no BLAS threads fighting over 2 cores
        assert (np.abs(cov - exact) / np.sqrt((1 + exact ** 2) / n)).max() < 5
    cross = np.einsum("ni,nj->ij", inc[0], inc[1]) / n  # coordinates are independent
    assert np.abs(cross).max() < 5 / np.sqrt(n)


def test_fgn_autocovariance_closed_form():
    assert fgn_autocovariance(0, 0.3) == 1.0
    assert fgn_autocovariance(np.arange(1, 5), 0.5) == pytest.approx(np.zeros(4), abs=1e-15)
    # gamma(k) ~ H(2H-1) k^(2H-2) for large k
    assert fgn_autocovariance(1e4, 0.8) == pytest.approx(0.8 * 0.6 * 1e4 ** -0.4, rel=1e-6)


def test_circulant_embedding_is_nonnegative():
    hurst = np.linspace(0.001, 0.999, 200)
    for half in (1, 2, 16, 512):
        assert fgn_circulant_eigenvalues(hurst, half).min() > 0


# ---------------------------------------------------------------- simulators: shapes and arguments

@pytest.mark.parametrize("model", MODEL_NAMES)
@pytest.mark.parametrize("dim", [1, 2, 3])
def test_simulator_shapes_and_origin(model, dim):
    lo, hi = ALPHA_RANGE[model]
    alpha = np.linspace(lo, hi, 7)
    x = SIMULATORS[model](7, 50, alpha, dim, np.random.default_rng(0))
    assert x.shape == (7, 50, dim) and x.dtype == np.float64
    assert np.isfinite(x).all() and (x[:, 0] == 0).all()
    assert (np.abs(np.diff(x, axis=1)) > 0).any()
    y = SIMULATORS[model](7, 50, alpha, dim, np.random.default_rng(0))
    np.testing.assert_array_equal(x, y)


def test_lw_moves_at_constant_speed():
    x = andi_models.lw(20, 200, 1.5, dim=3, rng=np.random.default_rng(1))
    speed = np.linalg.norm(np.diff(x, axis=1), axis=-1)
    np.testing.assert_allclose(speed, speed[:, :1] * np.ones_like(speed), rtol=1e-12)
    assert (speed[:, 0] < 10).all()


def test_ctrw_is_piecewise_constant_with_few_jumps_for_small_alpha():
    x = andi_models.ctrw(500, 1000, 0.1, rng=np.random.default_rng(2))
    jumps = (np.diff(x[:, :, 0], axis=1) != 0).sum(1)
    # E N(999) = U(1000) = 0.963 at alpha = 0.1 (exact_msd_ctrw); its standard error here is ~0.06
    assert abs(jumps.mean() - 0.963) < 0.3


@pytest.mark.parametrize("model,bad", [("fbm", 2.0), ("fbm", 0.0), ("ctrw", 1.2), ("attm", 0.02), ("lw", 0.9),
                                       ("sbm", 2.5), ("sbm", np.nan)])
def test_alpha_out_of_range_raises(model, bad):
    with pytest.raises(ValueError, match=f"alpha for {model} must lie in"):
        SIMULATORS[model](3, 10, bad)


def test_simulator_argument_errors():
    with pytest.raises(ValueError, match=r"alpha must be a float or an array of shape \(3,\)"):
        andi_models.sbm(3, 10, [0.5, 0.5])
    with pytest.raises(ValueError, match="length must be an int >= 2"):
        andi_models.fbm(3, 1, 0.5)
    with pytest.raises(ValueError, match="dim must be 1, 2 or 3"):
        andi_models.ctrw(3, 10, 0.5, dim=4)
    with pytest.raises(ValueError, match="n_traj must be an int >= 0"):
        andi_models.lw(-1, 10, 1.5)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        andi_models.attm(3, 10, 0.5, rng="seed")
    assert andi_models.fbm(0, 10, 0.5).shape == (0, 10, 1)


# ---------------------------------------------------------------- corruption

def test_normalize_gives_unit_std_displacements():
    x = andi_models.sbm(50, 300, np.linspace(0.1, 1.9, 50), dim=2, rng=np.random.default_rng(4))
    x[0, :, 1] = 0.0  # a coordinate that never moves stays put
    y = normalize_displacements(x)
    std = np.diff(y, axis=1).std(axis=1)
    np.testing.assert_allclose(std[1:], 1.0, rtol=1e-12)
    np.testing.assert_allclose(std[0], [1.0, 0.0], atol=1e-12)
    assert (y[:, 0] == 0).all()


def test_corrupt_is_normalise_then_noise_then_rescale():
    x = andi_models.fbm(3000, 400, 0.7, rng=np.random.default_rng(5))
    y, sigma, scale = corrupt(x, np.random.default_rng(6))
    assert set(np.unique(sigma)) == set(LOCALIZATION_NOISE)
    assert (y[:, 0] == 0).all()
    # scale ~ N(0, 1): mean and std within 5 standard errors
    assert abs(scale.mean()) < 5 / np.sqrt(3000) and abs(scale.std() - 1) < 5 / np.sqrt(2 * 3000)
    # undo the rescaling: what is left beyond the normalised walk is sigma * (xi_t - xi_0)
    residual = y / scale[:, None, None] - normalize_displacements(x)
    ratio = residual[:, 1:, 0].std(axis=1) / sigma
    assert np.abs(ratio - 1).max() < 0.15  # std of a 399-sample std estimate ~ 0.035


# ---------------------------------------------------------------- simulate

def test_simulate_shapes_labels_and_padding():
    data = simulate(400, dim=2, length=(10, 60), seed=1)
    assert isinstance(data, Trajectories) and len(data) == 400
    assert data.positions.shape == (400, data.lengths.max(), 2)
    assert data.lengths.min() >= 10 and data.lengths.max() <= 60
    assert (data.positions[:, 0] == 0).all()
    assert (data.positions[~data.mask] == 0).all()
    assert all(len(t) == n for t, n in zip(data.trajectories(), data.lengths))
    assert set(data.model) == set(range(5)) and data.model.dtype == np.int64
    for code, name in enumerate(MODEL_NAMES):
        lo, hi = ALPHA_RANGE[name]
        a = data.alpha[data.model == code]
        assert (a >= lo).all() and (a <= hi).all()
    assert data.names()[0] == MODEL_NAMES[data.model[0]]
    assert set(np.unique(data.noise_sigma)) <= set(LOCALIZATION_NOISE)


def test_simulate_length_distribution_is_inclusive_uniform():
    data = simulate(3000, models=("sbm",), length=(10, 14), noise=False, seed=2)
    counts = np.bincount(data.lengths, minlength=15)[10:]
    assert stats.chisquare(counts).pvalue > 1e-3 and (counts > 0).all()
    fixed = simulate(5, length=12, seed=2)
    assert (fixed.lengths == 12).all() and fixed.positions.shape[1] == 12


def test_full_length_trajectories_are_the_starts_of_longer_ones():
    """full_length: simulated and corrupted at that length, then cut (the organisers' short task-1 trajectories)."""
    # a fixed length draws no random numbers, so both calls see the same stream
    short = simulate(40, length=30, full_length=200, seed=7)
    full = simulate(40, length=200, seed=7)
    assert short.positions.shape == (40, 30, 1) and (short.lengths == 30).all()
    np.testing.assert_array_equal(short.positions, full.positions[:, :30])
    np.testing.assert_array_equal(short.noise_sigma, full.noise_sigma)
    # the default is the longest length: the same stream as before the option existed
    a, b = simulate(20, length=(10, 49), seed=8), simulate(20, length=(10, 49), full_length=49, seed=8)
    np.testing.assert_array_equal(a.positions, b.positions)


def test_simulate_balance():
    by_model = simulate(2000, length=10, noise=False, seed=3)
    assert stats.chisquare(np.bincount(by_model.model, minlength=5)).pvalue > 1e-3
    by_alpha = simulate(2000, length=10, noise=False, balance="alpha", seed=3)
    assert stats.kstest(by_alpha.alpha, stats.uniform(0.05, 1.95).cdf).pvalue > 1e-3
    # a gap between ranges (ctrw up to 1, lw from 1.05) is never drawn
    gap = simulate(500, models=("ctrw", "lw"), length=10, balance="alpha", seed=4)
    assert not ((gap.alpha > 1.0) & (gap.alpha < 1.05)).any()
    assert set(gap.model[gap.alpha <= 1]) == {1} and set(gap.model[gap.alpha >= 1.05]) == {3}


def test_simulate_without_noise_keeps_model_scale():
    data = simulate(300, models=("lw",), length=100, noise=False, seed=5)
    speed = np.abs(np.diff(data.positions[:, :, 0], axis=1))
    assert data.noise_sigma is None and data.diffusion_scale is None
    assert speed.max() < 10 and np.allclose(speed, speed[:, :1])


def test_simulate_float32_matches_float64():
    a = simulate(20, length=(10, 50), seed=9)
    b = simulate(20, length=(10, 50), seed=9, dtype=np.float32)
    assert b.positions.dtype == np.float32
    np.testing.assert_allclose(b.positions, a.positions, rtol=1e-6, atol=1e-6 * np.abs(a.positions).max())
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        simulate(2, dtype=np.int64)


def test_simulate_is_reproducible():
    a = simulate(50, dim=3, length=(10, 80), seed=11)
    b = simulate(50, dim=3, length=(10, 80), rng=np.random.default_rng(11))
    c = simulate(50, dim=3, length=(10, 80), seed=12)
    for field in ("positions", "lengths", "alpha", "model", "noise_sigma", "diffusion_scale"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.alpha, c.alpha)


@pytest.mark.parametrize("kwargs,match", [
    ({"models": ("fbm", "brownian")}, "models must be a non-empty list of distinct names from attm, ctrw"),
    ({"models": ()}, "models must be a non-empty list"),
    ({"length": (1, 10)}, "length must be an int >= 2 or a pair"),
    ({"length": (20, 10)}, "length must be an int >= 2 or a pair"),
    ({"dim": 4}, "dim must be 1, 2 or 3"),
    ({"balance": "class"}, "balance must be one of 'model', 'alpha'"),
    ({"seed": 1, "rng": np.random.default_rng(1)}, "either rng or seed"),
    ({"length": (10, 50), "full_length": 40}, "full_length must be None or an int >= the longest length 50"),
    ({"full_length": True}, "full_length must be None or an int"),
])
def test_simulate_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        simulate(5, **kwargs)
    with pytest.raises(ValueError, match="n must be an int >= 0"):
        simulate(-1)
