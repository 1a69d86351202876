"""AnDi 2020 data from the organisers' own generator (``andi-datasets`` 2.1.13), saved as compressed arrays.

Runs in its own virtualenv (``andi-datasets`` needs numpy <= 1.26; fraczoo is not imported here); the
wrapper ``scripts/andi_official.sh`` creates ``.venv-andi`` from ``scripts/andi_official_requirements.txt``
and runs this file:

    scripts/andi_official.sh task1 --dim 1 --n 20000 --seed 1     # -> data/andi_official/task1_1d_n20000_seed1.npz
    scripts/andi_official.sh raw --dim 2 --n 2000 --seed 7         # raw model output per (model, alpha), no noise

``task1``: the task-1 (exponent) set of ``andi_datasets.datasets_challenge.challenge_theory_dataset``,
called as ``challenge_theory_dataset(N=chunk, max_T=1000, min_T=10, tasks=1, dimensions=dim)`` for
ceil(n / chunk) chunks (default chunk 5,000, to bound its memory: it simulates ~1.54 N full-length
trajectories at once), chunk i seeded with ``np.random.seed([seed, dim, i])`` (the package's own draws)
and ``stochastic.random.seed`` of the same key (its fBm sampler draws from the ``stochastic`` package's
own ``np.random.default_rng``, which numpy's legacy seed does not reach). The same (n, dim, seed, chunk) gives the same file.

What that function does for task 1 (read from the 2.1.13 source, ``datasets_challenge.py`` and
``datasets_theory.py``):

* exponents: the grid 0.05, 0.10, ..., 2.00 (40 values). Per (model, exponent) it first simulates
  ceil(ceil(1.6 N / 5) / 20) trajectories of attm and ctrw for each exponent <= 1 (the first 20),
  ceil(ceil(1.6 N / 5) / 39) of fbm for every exponent but 2, ceil(0.8 ceil(1.6 N / 5) / 21) of lw for
  each exponent >= 1.05, and ceil(ceil(1.6 N / 5) / 40) of sbm for every exponent, all of length
  max_T = 1000, in the model order attm, ctrw, fbm, lw, sbm (alphabetical: the label codes 0..4);
* every trajectory is normalised (displacements / their std over the whole 1000 steps, per
  coordinate), gets Gaussian localisation noise with sigma from {0.1, 0.5, 1} (one per trajectory,
  all coordinates) and has its displacements multiplied by one N(0, 1) factor (all coordinates);
* per exponent it keeps the *first* ceil(1.1 N / 40) trajectories in that model order, so exponents
  <= 1 are attm and ctrw only (fbm and sbm with alpha <= 1 are never selected), exponents 1.05..1.95
  are fbm, lw and the first part of sbm, and 2.0 is lw and sbm;
* it shuffles those rows, keeps N, and cuts each to its first ``np.random.randint(10, 1000)`` positions
  (10..999).

The function returns exponents but not the models; this script recovers each trajectory's model by
matching its positions 1..9 (exact floats) to the rows of the generated set, which it reads by
wrapping ``datasets_theory.create_dataset`` (no change to the random draws), and checks that the
exponent found equals the one returned. Saved (``np.savez_compressed``): ``positions`` float32
(sum of lengths, dim), the trajectories one after the other, ``lengths`` int64, ``alpha`` float64,
``model`` int64 (codes into attm, ctrw, fbm, lw, sbm) and ``meta`` (a JSON string).

``raw``: ``n`` trajectories of length 1000 per (model, alpha) case of ``RAW_CASES`` straight from
``models_theory`` (no normalisation, no noise), for the per-model comparison with fraczoo's simulators
(``scripts/compare_andi_generators.py``). Saved as one (n, 1000, dim) float64 array per case.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "data" / "andi_official"
MODEL_NAMES = ("attm", "ctrw", "fbm", "lw", "sbm")
MAX_T, MIN_T = 1000, 10
RAW_CASES = (("attm", 0.3), ("attm", 0.9), ("ctrw", 0.3), ("ctrw", 0.9), ("fbm", 0.3), ("fbm", 1.0), ("fbm", 1.7),
             ("lw", 1.2), ("lw", 1.6), ("lw", 2.0), ("sbm", 0.3), ("sbm", 1.0), ("sbm", 1.7))


def _import_andi():
    warnings.filterwarnings("ignore")  # the package warns about the optional deeptrack at import
    import andi_datasets
    import stochastic.random
    from andi_datasets import datasets_challenge, datasets_theory

    return andi_datasets, stochastic.random, datasets_challenge, datasets_theory


def _seed(key: list[int]) -> None:
    _, stochastic_random, _, _ = _import_andi()
    np.random.seed(key)
    stochastic_random.seed(key)  # a fresh np.random.default_rng(key) for its fBm sampler


def task1_chunk(n: int, dim: int, key: list[int]) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """One call of challenge_theory_dataset(N=n, task 1, dimension dim): (trajectories (T_i, dim), alpha, model)."""
    _, _, datasets_challenge, datasets_theory = _import_andi()
    created = []
    original = datasets_theory.datasets_theory.create_dataset

    def keep(self, *args, **kwargs):  # the set it returns is normalised and noised in place afterwards
        created.append(original(self, *args, **kwargs))
        return created[-1]

    _seed(key)
    datasets_theory.datasets_theory.create_dataset = keep
    try:
        out = datasets_challenge.challenge_theory_dataset(N=n, max_T=MAX_T, min_T=MIN_T, tasks=1, dimensions=dim)
    finally:
        datasets_theory.datasets_theory.create_dataset = original
    flat, alpha = out[0][dim - 1], np.asarray(out[1][dim - 1], dtype=np.float64)
    rows = created[-1]
    index = {tuple(row[3:3 + MIN_T - 1]): r for r, row in enumerate(rows)}  # x_1..x_9 of the first coordinate
    trajs, model = [], np.empty(len(flat), dtype=np.int64)
    for i, values in enumerate(flat):
        traj = np.asarray(values).reshape(dim, -1).T  # the package stores all x, then all y, ...
        r = index[tuple(traj[1:MIN_T, 0])]
        if round(rows[r, 1], 2) != alpha[i]:
            raise RuntimeError(f"trajectory {i}: matched row has alpha {rows[r, 1]}, expected {alpha[i]}")
        model[i] = int(rows[r, 0])
        trajs.append(traj)
    return trajs, alpha, model


def make_task1(n: int, dim: int, seed: int, chunk: int, out: Path) -> Path:
    andi_datasets = _import_andi()[0]
    trajs, alpha, model = [], [], []
    start = time.time()
    for i in range(-(-n // chunk)):
        size = min(chunk, n - i * chunk)
        t, a, m = task1_chunk(size, dim, [seed, dim, i])
        trajs += t
        alpha.append(a)
        model.append(m)
        print(f"chunk {i}: {size} trajectories, {time.time() - start:.0f} s", flush=True)
    lengths = np.array([len(t) for t in trajs], dtype=np.int64)
    meta = {"generator": f"andi_datasets {andi_datasets.__version__} challenge_theory_dataset, task 1",
            "call": f"challenge_theory_dataset(N=<chunk>, max_T={MAX_T}, min_T={MIN_T}, tasks=1, dimensions={dim})",
            "n": n, "dim": dim, "seed": seed, "chunk": chunk, "model_names": list(MODEL_NAMES),
            "seeding": "chunk i: np.random.seed([seed, dim, i]); stochastic.random.seed([seed, dim, i])",
            "numpy": np.__version__}
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, positions=np.concatenate(trajs).astype(np.float32), lengths=lengths,
                        alpha=np.concatenate(alpha), model=np.concatenate(model), meta=json.dumps(meta))
    return out


def make_raw(n: int, dim: int, seed: int, out: Path) -> Path:
    from andi_datasets.models_theory import models_theory

    _import_andi()
    _seed([seed, dim])
    models = {1: models_theory._oneD, 2: models_theory._twoD, 3: models_theory._threeD}[dim]()
    arrays = {}
    for name, alpha in RAW_CASES:
        simulate = getattr(models, name)
        arrays[f"{name}_{alpha}"] = np.stack([simulate(MAX_T, alpha).reshape(dim, MAX_T).T for _ in range(n)])
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    return out


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=("task1", "raw"))
    parser.add_argument("--dim", type=int, choices=(1, 2, 3), required=True)
    parser.add_argument("--n", type=int, required=True, help="task1: trajectories; raw: per (model, alpha)")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--chunk", type=int, default=5000, help="task1: N of each challenge_theory_dataset call")
    parser.add_argument("--out", type=Path, default=None, help=f"default: {CACHE.relative_to(ROOT)}/<kind>_...npz")
    args = parser.parse_args(argv)
    if args.n < 1 or args.chunk < 1 or args.seed < 0:
        parser.error("--n and --chunk must be >= 1 and --seed >= 0")
    if args.kind == "task1":
        out = args.out or CACHE / f"task1_{args.dim}d_n{args.n}_seed{args.seed}.npz"
        make_task1(args.n, args.dim, args.seed, args.chunk, out)
    else:
        out = args.out or CACHE / f"raw_{args.dim}d_n{args.n}_seed{args.seed}.npz"
        make_raw(args.n, args.dim, args.seed, out)
    print(f"wrote {out}")
    return out


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
