"""AnDi 2020 challenge data: labelled anomalous-diffusion trajectories, corrupted as in the challenge.

Muñoz-Gil et al., Nat. Commun. 12, 6253 (2021). ``simulate`` draws, per trajectory, a model among
attm, ctrw, fbm, lw, sbm (labels 0..4, the challenge's order), an anomalous exponent alpha uniform in
the challenge's range for that model (``ALPHA_RANGE``: the hull of its 0.05-spaced grid), or with
``balance="challenge"`` model and exponent (on the grid) in the proportions of the organisers' task-1
sets, and a length uniform in ``length = (min, max)`` (the organisers' task 1: 10..999). Every
trajectory is simulated at the maximum length, corrupted, then cut to its own length, like the
organisers' ``challenge_theory_dataset``:

1. displacements normalised to unit standard deviation, per trajectory and coordinate, over the
   whole simulated trajectory;
2. Gaussian localisation noise added to every position, sigma drawn per trajectory from {0.1, 0.5, 1};
3. all displacements of a trajectory multiplied by one factor drawn from N(0, 1) (a random diffusion
   coefficient; a negative factor mirrors the trajectory), positions rebuilt from 0.

Trajectories start at the origin. Arrays are numpy; randomness comes from one ``np.random.Generator``,
so a seed fixes the whole data set.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from fraczoo.datamodules.andi_models import (MODEL_NAMES, SIMULATORS, as_generator, attm, ctrw, fbm,
                                             fgn_autocovariance, lw, sbm)

__all__ = ["MODEL_NAMES", "ALPHA_RANGE", "LOCALIZATION_NOISE", "CHALLENGE_EXPONENTS", "Trajectories", "simulate",
           "corrupt", "normalize_displacements", "challenge_task1_counts", "attm", "ctrw", "fbm", "lw", "sbm",
           "fgn_autocovariance"]

# alpha ranges used in the challenge data (its grid 0.05, 0.10, ..., 2.00 per model; fBm cannot be ballistic)
ALPHA_RANGE = {"attm": (0.05, 1.0), "ctrw": (0.05, 1.0), "fbm": (0.05, 1.95), "lw": (1.05, 2.0),
               "sbm": (0.05, 2.0)}
LOCALIZATION_NOISE = (0.1, 0.5, 1.0)
BALANCE = ("model", "alpha", "challenge")
CHALLENGE_EXPONENTS = np.round(np.arange(1, 41) * 0.05, 2)  # the organisers' grid 0.05, 0.10, ..., 2.00
CHALLENGE_N = 5000  # N of each challenge_theory_dataset call behind scripts/andi_official.py's sets
_CHUNK_ELEMENTS = 2_000_000  # positions simulated at once: bounds the simulators' scratch memory


@dataclass
class Trajectories:
    """A simulated data set. ``positions[i, :lengths[i]]`` is trajectory i; the rest is zero padding.

    ``model`` holds codes into ``MODEL_NAMES``. ``noise_sigma`` (localisation noise) and
    ``diffusion_scale`` (the N(0, 1) displacement factor) are None when no corruption was applied.
    """

    positions: np.ndarray  # (n, T_max, dim) float64
    lengths: np.ndarray    # (n,) int64
    alpha: np.ndarray      # (n,) float64
    model: np.ndarray      # (n,) int64
    noise_sigma: np.ndarray | None = None
    diffusion_scale: np.ndarray | None = None
    model_names: tuple[str, ...] = MODEL_NAMES

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def mask(self) -> np.ndarray:
        """(n, T_max) bool, True on observed time steps."""
        return np.arange(self.positions.shape[1])[None, :] < self.lengths[:, None]

    def trajectories(self) -> list[np.ndarray]:
        """The trajectories without padding: a list of (T_i, dim) arrays."""
        return [p[:t] for p, t in zip(self.positions, self.lengths)]

    def names(self) -> list[str]:
        """The model name of every trajectory."""
        return [self.model_names[c] for c in self.model]


def _walk_from_displacements(disp: np.ndarray) -> np.ndarray:
    out = np.zeros((disp.shape[0], disp.shape[1] + 1, disp.shape[2]))
    np.cumsum(disp, axis=1, out=out[:, 1:])
    return out


def normalize_displacements(positions: np.ndarray) -> np.ndarray:
    """Rescale each trajectory's displacements to unit standard deviation, per coordinate.

    positions (n, T, dim) -> (n, T, dim) starting at 0. A coordinate that never moves stays at 0
    (the organisers' ``normalize`` divides by 1 there).
    """
    disp = np.diff(positions, axis=1)
    std = disp.std(axis=1, keepdims=True)
    return _walk_from_displacements(disp / np.where(std > 0, std, 1.0))


def corrupt(positions: np.ndarray, rng=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The challenge's corruption of full-length trajectories (n, T, dim), steps 1-3 of the module doc.

    Returns (corrupted positions starting at 0, noise sigma per trajectory, displacement factor per
    trajectory).
    """
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 3 or positions.shape[1] < 2:
        raise ValueError(f"positions must have shape (n, T >= 2, dim), got {positions.shape}")
    rng = as_generator(rng)
    n = positions.shape[0]
    normalized = normalize_displacements(positions)
    sigma = rng.choice(np.array(LOCALIZATION_NOISE), size=n)
    noisy = normalized + sigma[:, None, None] * rng.standard_normal(positions.shape)
    scale = rng.standard_normal(n)
    return _walk_from_displacements(np.diff(noisy, axis=1) * scale[:, None, None]), sigma, scale


def _check_models(models) -> tuple[str, ...]:
    if isinstance(models, str):
        models = (models,)
    models = tuple(models)
    unknown = [m for m in models if m not in MODEL_NAMES]
    if not models or unknown or len(set(models)) != len(models):
        raise ValueError(f"models must be a non-empty list of distinct names from {', '.join(MODEL_NAMES)}; "
                         f"got {models!r}")
    return models


def _check_length(length) -> tuple[int, int]:
    pair = (length, length) if isinstance(length, (int, np.integer)) else tuple(length)
    ok = (len(pair) == 2 and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in pair)
          and 2 <= pair[0] <= pair[1])
    if not ok:
        raise ValueError(f"length must be an int >= 2 or a pair (min, max) of ints with 2 <= min <= max; "
                         f"got {length!r}")
    return int(pair[0]), int(pair[1])


def challenge_task1_counts(n: int = CHALLENGE_N) -> np.ndarray:
    """(5, 40) trajectories per (model, exponent of ``CHALLENGE_EXPONENTS``) in the task-1 pool of the
    organisers' ``challenge_theory_dataset(N=n)`` (andi-datasets 2.1.13), which then keeps n of them at random.

    It simulates ceil(ceil(1.6 n / 5) / k) trajectories per exponent of each model (k = 20 exponents
    <= 1 for attm and ctrw, 39 for fbm (not 2), 21 >= 1.05 for lw, times 0.8, 40 for sbm) in the order
    attm, ctrw, fbm, lw, sbm, and keeps per exponent the first ceil(1.1 n / 40): exponents <= 1 are
    then attm and ctrw only, and sbm gets what is left above 1. Same float expressions as its source.
    """
    n_exp = len(CHALLENGE_EXPONENTS)
    per_model = np.ceil(1.6 * n / 5)
    sub, sup = n_exp // 2, n_exp // 2 + 1
    pool = np.zeros((len(MODEL_NAMES), n_exp))
    pool[:2, :sub] = np.ceil(per_model / sub)
    pool[2, :-1] = np.ceil(per_model / (n_exp - 1))
    pool[3, sub:] = np.ceil((per_model / sup) * 0.8)
    pool[4, :] = np.ceil(per_model / n_exp)
    before = np.cumsum(pool, axis=0) - pool  # trajectories of the earlier models at each exponent
    return np.clip(np.ceil(1.1 * n / n_exp) - before, 0, pool)


def _draw_labels(n: int, models: tuple[str, ...], balance: str, rng: np.random.Generator):
    """Model codes and exponents for n trajectories."""
    lo = np.array([ALPHA_RANGE[m][0] for m in models])
    hi = np.array([ALPHA_RANGE[m][1] for m in models])
    if balance == "challenge":  # the organisers' task-1 mix of (model, exponent on the grid)
        rows = [MODEL_NAMES.index(m) for m in models]
        weights = challenge_task1_counts()[rows].ravel()
        cell = rng.choice(weights.size, size=n, p=weights / weights.sum())
        pick, alpha = cell // len(CHALLENGE_EXPONENTS), CHALLENGE_EXPONENTS[cell % len(CHALLENGE_EXPONENTS)]
    elif balance == "model":
        pick = rng.integers(len(models), size=n)
        alpha = rng.uniform(lo[pick], hi[pick])
    else:  # alpha uniform on the union of the ranges, then a model uniformly among those that cover it
        alpha = np.empty(0)
        while alpha.size < n:  # rejection only matters when the ranges leave a gap (e.g. ctrw + lw)
            draw = rng.uniform(lo.min(), hi.max(), size=n)
            alpha = np.concatenate([alpha, draw[((draw[:, None] >= lo) & (draw[:, None] <= hi)).any(1)]])
        alpha = alpha[:n]
        covers = (alpha[:, None] >= lo) & (alpha[:, None] <= hi)
        rank = np.floor(rng.random(n) * covers.sum(1))  # which of the covering models
        pick = np.argmax(np.cumsum(covers, axis=1) > rank[:, None], axis=1)
    codes = np.array([MODEL_NAMES.index(m) for m in models])[pick]
    return codes.astype(np.int64), alpha


def simulate(n: int, *, models: Sequence[str] = MODEL_NAMES, dim: int = 1, length=(10, 1000),
             full_length: int | None = None, noise: bool = True, balance: str = "model", rng=None,
             seed: int | None = None, dtype=np.float64, progress: bool = False) -> Trajectories:
    """Simulate n labelled trajectories of the AnDi 2020 challenge.

    models: names among ``MODEL_NAMES``; dim: 1, 2 or 3; length: an int, or (min, max) for lengths
    uniform in min..max (inclusive); full_length: the positions each trajectory is simulated and corrupted
    with before it is cut to its length (default: max), as the organisers make short trajectories: their
    task-1 sets simulate 1000 positions, normalise the displacements over all of them, add the noise and
    then cut, so a trajectory of 30 positions there is the start of a 1000-position one; noise: apply the
    challenge's corruption (otherwise raw model output, still starting at 0); balance: "model" (each
    model equally likely, alpha uniform in its range), "alpha" (alpha uniform on the union of the ranges,
    then a model uniformly among those covering it) or "challenge" (model and alpha, on the 0.05 grid, in
    the proportions of the organisers' task-1 sets, ``challenge_task1_counts``: alpha <= 1 only
    attm/ctrw); rng: a numpy Generator, or seed: an int (at most one of the two); dtype: of the
    returned positions (simulation runs in float64; float32 halves the memory of large sets);
    progress: show a progress bar over the simulated chunks (large sets). Interrupting (Ctrl-C) raises
    KeyboardInterrupt and returns nothing partial.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be an int >= 0, got {n!r}")
    models = _check_models(models)
    if dim not in (1, 2, 3) or isinstance(dim, bool):
        raise ValueError(f"dim must be 1, 2 or 3, got {dim!r}")
    min_len, max_len = _check_length(length)
    full = max_len if full_length is None else full_length
    if isinstance(full, bool) or not isinstance(full, (int, np.integer)) or full < max_len:
        raise ValueError(f"full_length must be None or an int >= the longest length {max_len}, got {full_length!r}")
    if balance not in BALANCE:
        raise ValueError(f"balance must be one of {', '.join(map(repr, BALANCE))}; got {balance!r}")
    if rng is not None and seed is not None:
        raise ValueError("give either rng or seed, not both")
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    rng = as_generator(seed if rng is None else rng)

    codes, alpha = _draw_labels(n, models, balance, rng)
    lengths = rng.integers(min_len, max_len + 1, size=n)
    positions = np.zeros((n, max_len, dim), dtype=dtype)
    sigma = np.zeros(n) if noise else None
    scale = np.zeros(n) if noise else None
    chunk = max(1, _CHUNK_ELEMENTS // (full * dim))
    starts = range(0, n, chunk)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc=f"simulating {n} trajectories", unit="chunk", leave=False)
    for start in starts:
        part = slice(start, min(start + chunk, n))
        block = np.empty((part.stop - part.start, full, dim))
        for code in np.unique(codes[part]):
            rows = np.flatnonzero(codes[part] == code)
            block[rows] = SIMULATORS[MODEL_NAMES[code]](rows.size, full, alpha[part][rows], dim, rng)
        if noise:
            block, sigma[part], scale[part] = corrupt(block, rng)
        positions[part] = block[:, :max_len]
    positions[np.arange(max_len)[None, :] >= lengths[:, None]] = 0.0
    width = int(lengths.max()) if n else max_len
    return Trajectories(positions[:, :width].copy() if width < max_len else positions, lengths.astype(np.int64),
                        alpha, codes, sigma, scale)
