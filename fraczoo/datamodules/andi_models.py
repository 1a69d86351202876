"""The five diffusion models of the AnDi 2020 challenge, simulated for many trajectories at once.

Muñoz-Gil et al., "Objective comparison of methods to decode anomalous diffusion", Nat. Commun. 12,
6253 (2021), Methods; model definitions as in the organisers' package ``andi-datasets``
(``models_theory``). Every function returns positions of shape ``(n_traj, length, dim)`` sampled at
integer times t = 0 .. length-1, starting at the origin, with one anomalous exponent per trajectory
(``alpha``: a float or an array of shape ``(n_traj,)``), so that the ensemble MSD grows as t^alpha:

- ``fbm``  fractional Brownian motion, H = alpha/2, exact (Davies-Harte circulant embedding);
- ``sbm``  scaled Brownian motion, independent Gaussian increments, <x(t)^2> = (t+1)^alpha - 1 (the
  organisers' walk starts one step into the t^alpha law, see ``sbm``);
- ``ctrw`` continuous-time random walk: Pareto waiting times psi(w) = alpha w^(-1-alpha) (w >= 1),
  unit Gaussian jumps; <x(t)^2> ~ t^alpha / (Gamma(1-alpha) Gamma(1+alpha)) for alpha < 1;
- ``lw``   Lévy walk: constant speed v ~ U(0, 10) per trajectory, flights of duration
  psi(tau) ~ tau^(-1-sigma) with sigma = 3 - alpha (sigma ~ U(0, 1), ballistic, for alpha = 2),
  a fresh random direction per flight, the first step dropped (as the organisers');
- ``attm`` annealed transient time motion, regime sigma < gamma < sigma + 1 (Massignan et al.,
  PRL 112, 150603 (2014)): Brownian segments with diffusivity D, P(D) ∝ D^(sigma-1), each lasting
  D^(-gamma) steps, gamma = sigma / alpha.

The event-driven models (ctrw, lw, attm) draw ``length`` waiting / flight / segment times per
trajectory at once: each lasts at least one time step, so that many always cover the time window.
Durations are floored to whole steps as in the organisers' code. Where the organisers' code differs
from the model it names (``sbm``, ``lw``: the first step) we follow the code, since it made the challenge
data (compared model by model in ``scripts/compare_andi_generators.py``). Gaussian steps (ctrw jumps, attm steps) are
independent per coordinate in every dimension (the organisers' 3-D versions use a Gaussian length in
a uniform direction instead: same MSD, and the challenge normalises each coordinate afterwards).

alpha is the asymptotic exponent. At t <= 1000 the ensemble MSD of ctrw, lw and attm (as the
challenge defines them, truncations included) still grows with a fitted exponent up to ~0.15 away
from alpha (e.g. ctrw 0.3 -> 0.42, lw 1.2 -> 1.34 on lags 10..999); the tests check the simulators
against these exact finite-time laws, computed from renewal equations.
"""
from __future__ import annotations

import numpy as np

MODEL_NAMES = ("attm", "ctrw", "fbm", "lw", "sbm")  # the challenge's labels 0..4, in this order

# Anomalous exponents each simulator accepts: (low, high, low_open, high_open).
VALID_ALPHA = {
    "attm": (0.05, 1.0, False, False),  # sigma <= alpha / (1 - alpha) must meet sigma >= 0.03
    "ctrw": (0.0, 1.0, True, False),
    "fbm": (0.0, 2.0, True, True),      # H = alpha / 2 in (0, 1)
    "lw": (1.0, 2.0, False, False),
    "sbm": (0.0, 2.0, True, False),
}


def as_generator(rng) -> np.random.Generator:
    """``rng`` as a numpy Generator: a Generator itself, an int seed, a SeedSequence, or None (fresh)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, (int, np.integer, np.random.SeedSequence)) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy.random.Generator, an int seed or None, got {type(rng).__name__}")


def _check_shape_args(n_traj, length, dim) -> None:
    for arg, value, low in (("n_traj", n_traj, 0), ("length", length, 2), ("dim", dim, 1)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{arg} must be an int >= {low}, got {value!r}")
    if dim > 3:
        raise ValueError(f"dim must be 1, 2 or 3, got {dim}")


def _alpha_array(alpha, n_traj: int, model: str) -> np.ndarray:
    """Per-trajectory exponents, shape (n_traj,), checked against the model's range."""
    values = np.asarray(alpha, dtype=np.float64)
    if values.ndim == 0:
        values = np.full(n_traj, float(values))
    if values.shape != (n_traj,):
        raise ValueError(f"alpha must be a float or an array of shape ({n_traj},), got shape {values.shape}")
    lo, hi, lo_open, hi_open = VALID_ALPHA[model]
    if n_traj:
        vmin, vmax = values.min(), values.max()
        below = vmin <= lo if lo_open else vmin < lo
        above = vmax >= hi if hi_open else vmax > hi
        if not np.isfinite(values).all() or below or above:
            interval = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
            raise ValueError(f"alpha for {model} must lie in {interval}, got values in [{vmin:g}, {vmax:g}]")
    return values


def _random_directions(rng: np.random.Generator, shape: tuple[int, ...], dim: int) -> np.ndarray:
    """Unit vectors uniform on the sphere S^(dim-1), shape (*shape, dim); in 1-D a random sign."""
    if dim == 1:
        return rng.choice(np.array([-1.0, 1.0]), size=(*shape, 1))
    vec = rng.standard_normal(size=(*shape, dim))
    return vec / np.linalg.norm(vec, axis=-1, keepdims=True)


def _pareto(rng: np.random.Generator, shape, exponent, cap: float) -> np.ndarray:
    """Pareto(x_min = 1) samples, P(W > w) = w^-exponent, capped at ``cap``.

    Sampled as U^(-1/exponent) in log space: for small exponents the power overflows, and any value
    beyond ``cap`` (the time horizon) has the same effect on the trajectory.
    """
    log_u = np.log1p(-rng.random(shape))  # log of U in (0, 1]
    return np.exp(np.minimum(-log_u / exponent, np.log(cap)))


def _segment_index(durations: np.ndarray, n_steps: int) -> np.ndarray:
    """For integer durations (n, K) >= 1, the index of the segment that covers each step 0..n_steps-1.

    Segment k covers steps [sum(d[:k]), sum(d[:k+1])); returns int array (n, n_steps).
    """
    n = durations.shape[0]
    starts = np.cumsum(durations, axis=1)[:, :-1]  # first step of segments 1, 2, ...
    marks = np.zeros((n, n_steps + 1), dtype=np.int32)
    rows = np.broadcast_to(np.arange(n)[:, None], starts.shape)
    inside = starts < n_steps
    marks[rows[inside], starts[inside]] = 1  # starts are strictly increasing per row: no collisions
    return np.cumsum(marks[:, :n_steps], axis=1)


def _walk(steps: np.ndarray) -> np.ndarray:
    """Positions x[0] = 0, x[t] = sum_{s < t} steps[s] along axis 1: (n, T-1, D) -> (n, T, D)."""
    out = np.zeros((steps.shape[0], steps.shape[1] + 1, steps.shape[2]))
    np.cumsum(steps, axis=1, out=out[:, 1:])
    return out


def fgn_autocovariance(k, hurst) -> np.ndarray:
    """Autocovariance of unit-variance fractional Gaussian noise at lag ``k``:

    gamma(k) = (|k+1|^2H - 2|k|^2H + |k-1|^2H) / 2   (Mandelbrot & Van Ness 1968).
    """
    k = np.abs(np.asarray(k, dtype=np.float64))
    two_h = 2.0 * np.asarray(hurst, dtype=np.float64)
    return 0.5 * ((k + 1.0) ** two_h - 2.0 * k ** two_h + np.abs(k - 1.0) ** two_h)


def fgn_circulant_eigenvalues(hurst, half: int) -> np.ndarray:
    """Eigenvalues lambda_0..lambda_m of the size-2m circulant with first row gamma(0..m, m-1..1), per H.

    The row is real and even, so the spectrum is real and even: lambda_(2m-k) = lambda_k.
    """
    hurst = np.atleast_1d(np.asarray(hurst, dtype=np.float64))
    # gamma(k) for k = 0..m from the m+2 powers j^2H (one power per lag instead of three)
    powers = np.arange(half + 2, dtype=np.float64)[None, :] ** (2.0 * hurst[:, None])
    gamma = 0.5 * (powers[:, 2:] - 2.0 * powers[:, 1:-1] + powers[:, :-2])
    gamma = np.concatenate([np.ones((hurst.size, 1)), gamma[:, :half]], axis=1)  # gamma(0) = 1
    return np.fft.rfft(np.concatenate([gamma, gamma[:, -2:0:-1]], axis=1), axis=-1).real


def fbm(n_traj: int, length: int, alpha, dim: int = 1, rng=None) -> np.ndarray:
    """Fractional Brownian motion with Hurst exponent H = alpha/2, <x_i(t)^2> = t^alpha per coordinate.

    Exact Davies-Harte sampling (Davies & Harte, Biometrika 74, 95 (1987); Wood & Chan, J. Comput.
    Graph. Stat. 3, 409 (1994)): the covariance of N fGn steps, embedded in a circulant of size
    M = 2m >= 2N, has eigenvalues lambda_k >= 0 for every H in (0, 1) (Craigmile, J. Time Ser. Anal.
    24, 505 (2003)). With W_k = sqrt(lambda_k / 2M) (Z_k + i Z'_k) for 0 < k < m, W_0 and W_m real
    with variance lambda / M, and W Hermitian, the real sequence sum_k W_k e^(2 pi i jk/M) has
    covariance exactly the circulant; its first N entries are the fGn steps.
    """
    _check_shape_args(n_traj, length, dim)
    alpha = _alpha_array(alpha, n_traj, "fbm")
    rng = as_generator(rng)
    n_inc = length - 1
    half = 1 << max(0, (n_inc - 1).bit_length())  # m >= N, a power of two for a fast FFT
    size = 2 * half
    values, which = np.unique(alpha, return_inverse=True)  # one spectrum per distinct alpha
    eig = np.maximum(fgn_circulant_eigenvalues(values / 2.0, half), 0.0)[which]  # exact values are >= 0
    amp = np.sqrt(eig / (2 * size))
    amp[:, [0, half]] *= np.sqrt(2.0)  # the two real modes carry the full lambda / M
    coef = rng.standard_normal((n_traj, dim, half + 1)) + 1j * rng.standard_normal((n_traj, dim, half + 1))
    coef[..., [0, half]] = coef[..., [0, half]].real
    fgn = np.fft.irfft(amp[:, None, :] * coef, n=size, axis=-1)[..., :n_inc] * size  # (n, dim, N)
    return _walk(fgn.transpose(0, 2, 1))


def sbm(n_traj: int, length: int, alpha, dim: int = 1, rng=None) -> np.ndarray:
    """Scaled Brownian motion as the organisers simulate it: <x_i(t)^2> = (t+1)^alpha - 1.

    Independent Gaussian increments with Var(x(t) - x(t-1)) = (t+1)^alpha - t^alpha (Lim & Muniandy,
    PRE 66, 021114 (2002)). ``andi_datasets`` draws the increments of t^alpha for t = 1..T and returns
    their cumulative sum minus the first one, so its walk starts one step late; we do the same (the
    challenge data are made that way: at short lags the difference is large, e.g. the first
    normalised step's variance differs by a factor of 3 at alpha = 0.3).
    """
    _check_shape_args(n_traj, length, dim)
    alpha = _alpha_array(alpha, n_traj, "sbm")
    rng = as_generator(rng)
    t = np.arange(1, length + 1, dtype=np.float64)
    scale = np.sqrt(np.diff(t[None, :] ** alpha[:, None], axis=1))  # increments of t = 2..length
    return _walk(scale[:, :, None] * rng.standard_normal((n_traj, length - 1, dim)))


def ctrw(n_traj: int, length: int, alpha, dim: int = 1, rng=None) -> np.ndarray:
    """Continuous-time random walk with Pareto waiting times (x_min = 1, tail exponent alpha).

    Jumps (unit Gaussian per coordinate) happen at t_k = w_1 + ... + w_k; the walk observed at integer
    times holds x(t) = sum of the jumps with t_k < t + 1 (floored event times, as the organisers').
    Scher & Montroll, PRB 12, 2455 (1975); Metzler & Klafter, Phys. Rep. 339, 1 (2000).
    """
    _check_shape_args(n_traj, length, dim)
    alpha = _alpha_array(alpha, n_traj, "ctrw")
    rng = as_generator(rng)
    # length waiting times >= 1 each reach past the last observed time length - 1
    waits = _pareto(rng, (n_traj, length), alpha[:, None], cap=length + 1.0)
    event_step = np.floor(np.cumsum(waits, axis=1)).astype(np.int64)
    rows = np.broadcast_to(np.arange(n_traj)[:, None], event_step.shape)
    seen = event_step < length
    counts = np.bincount(rows[seen] * length + event_step[seen], minlength=n_traj * length)
    n_jumps = np.cumsum(counts.reshape(n_traj, length), axis=1)  # jumps made by time t
    jump_sums = _walk(rng.standard_normal((n_traj, length, dim)))  # S[k] = sum of the first k jumps
    return np.take_along_axis(jump_sums, n_jumps[:, :, None], axis=1)


def lw(n_traj: int, length: int, alpha, dim: int = 1, rng=None) -> np.ndarray:
    """Lévy walk: flights at constant speed v ~ U(0, 10) (one per trajectory), direction redrawn per flight.

    Flight durations are Pareto with tail exponent sigma = 3 - alpha (sigma ~ U(0, 1) for alpha = 2),
    floored to whole steps; <x(t)^2> ~ t^(3 - sigma) for 1 < sigma < 2 and ~ t^2 for sigma < 1.
    Zaburdaev, Denisov & Klafter, Rev. Mod. Phys. 87, 483 (2015). As in ``andi_datasets``, the flights
    start at step 0 but the walk is the sum of steps 1..t: the first step of the first flight is dropped
    (so that flight looks longer-lived than a fresh one; the organisers' code subtracts it).
    """
    _check_shape_args(n_traj, length, dim)
    alpha = _alpha_array(alpha, n_traj, "lw")
    rng = as_generator(rng)
    ballistic = alpha >= 2.0
    sigma = np.where(ballistic, rng.random(n_traj), 3.0 - alpha)
    sigma = np.maximum(sigma, 1e-3)  # U(0, 1) may give ~0: such a flight outlasts the window anyway
    n_steps = length  # one more than the walk needs: step 0 is dropped below
    durations = np.floor(_pareto(rng, (n_traj, n_steps), sigma[:, None], cap=length + 1.0)).astype(np.int64)
    speed = 10.0 * rng.random(n_traj)
    directions = _random_directions(rng, (n_traj, n_steps), dim)  # one per flight
    flight = _segment_index(durations, n_steps)
    velocity = speed[:, None, None] * np.take_along_axis(directions, flight[:, :, None], axis=1)
    return _walk(velocity[:, 1:])


def attm(n_traj: int, length: int, alpha, dim: int = 1, rng=None) -> np.ndarray:
    """Annealed transient time motion, regime 1 (sigma < gamma < sigma + 1, MSD ~ t^(sigma/gamma)).

    Per trajectory sigma ~ U(0.03, 3.3) conditioned on gamma = sigma/alpha <= sigma + 1, i.e. uniform on
    [0.03, min(3.3, alpha/(1-alpha))] (the organisers' rejection loop, sampled directly). Per segment
    D = u^(1/sigma), u ~ U(0.01, 0.9], for floor(min(D^-gamma, length)) steps of Brownian motion with
    diffusivity D (step std sqrt(2D) per coordinate). Massignan et al., PRL 112, 150603 (2014).
    """
    _check_shape_args(n_traj, length, dim)
    alpha = _alpha_array(alpha, n_traj, "attm")
    rng = as_generator(rng)
    with np.errstate(divide="ignore"):
        sigma_max = np.where(alpha < 1.0, alpha / (1.0 - alpha), np.inf)
    sigma = rng.uniform(0.03, np.minimum(3.3, sigma_max))
    n_steps = length - 1
    u = 1.0 - rng.uniform(0.1, 0.99, size=(n_traj, n_steps))
    diffusivity = u ** (1.0 / sigma[:, None])
    # D^-gamma = u^(-1/alpha) > 1: every segment lasts at least one step
    durations = np.floor(np.minimum(u ** (-1.0 / alpha[:, None]), length)).astype(np.int64)
    segment = _segment_index(durations, n_steps)
    step_std = np.sqrt(2.0 * np.take_along_axis(diffusivity, segment, axis=1))
    return _walk(step_std[:, :, None] * rng.standard_normal((n_traj, n_steps, dim)))


SIMULATORS = {"attm": attm, "ctrw": ctrw, "fbm": fbm, "lw": lw, "sbm": sbm}
