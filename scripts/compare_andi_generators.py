"""fraczoo's AnDi simulator against the organisers' generator (andi-datasets 2.1.13), model by model.

    scripts/andi_official.sh raw --dim 1 --n 2000 --seed 5            # the organisers' raw trajectories
    scripts/andi_official.sh task1 --dim 1 --n 20000 --seed 1         # and a task-1 set
    python scripts/compare_andi_generators.py --dim 1 --raw data/andi_official/raw_1d_n2000_seed5.npz \\
        --task1 data/andi_official/task1_1d_n20000_seed1.npz

Raw models (no noise), per (model, alpha) case of ``andi_official.RAW_CASES``, n trajectories of length
1000 from each generator, both normalised as the challenge does (displacements / their std, per
coordinate): two-sample Kolmogorov-Smirnov tests of (a) the first coordinate x(t) at t = 1, 2, 5, 10,
100, 999 (the law at fixed times) and (b) the per-trajectory log TAMSD(k) / TAMSD(1), k = 2, 4, 16, 64,
256 (time-averaged shape). Reported: the smallest p-value per case and where it is; a case is flagged
when it is below 1e-3 / (number of tests), a Bonferroni bound over all tests of the run.

Task-1 sets: the official file against ``simulate(n, balance="challenge", length=(10, 999))``: model
and exponent counts (chi-square against ``challenge_task1_counts``), lengths (chi-square against
uniform 10..999, 99 bins of 10), and per model the KS test of the TAMSD-fit exponent (the eval script's baseline) of
trajectories with at least 50 positions.
Writes ``benchmarks/compare_andi_generators_<dim>d.json``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy import stats

from _bench import run_main, write_json

TIMES = (1, 2, 5, 10, 100, 999)
TAMSD_LAGS = (2, 4, 16, 64, 256)


def log_tamsd_ratios(x: np.ndarray, lags=TAMSD_LAGS) -> np.ndarray:
    """Per trajectory log(TAMSD(k) / TAMSD(1)) for full-length trajectories x (n, T, dim) -> (n, len(lags))."""
    def tamsd(k):
        return ((x[:, k:] - x[:, :-k]) ** 2).sum(-1).mean(1)

    base = tamsd(1)
    with np.errstate(divide="ignore", invalid="ignore"):  # a ctrw that never jumps: 0 / 0, left out below
        return np.stack([np.log(tamsd(k) / base) for k in lags], 1)


def compare_raw(path: Path, dim: int, seed: int) -> dict:
    from fraczoo.datamodules.andi import normalize_displacements
    from fraczoo.datamodules.andi_models import SIMULATORS

    official = np.load(path)
    rng = np.random.default_rng(seed)
    out = {}
    for key in official.files:
        model, alpha = key.rsplit("_", 1)
        theirs = official[key]
        if theirs.shape[-1] != dim:
            sys.exit(f"{path} holds {theirs.shape[-1]}-D trajectories, not {dim}-D")
        ours = SIMULATORS[model](len(theirs), theirs.shape[1], float(alpha), dim, rng)
        a, b = normalize_displacements(theirs), normalize_displacements(ours)
        tests = {f"x({t})": stats.ks_2samp(a[:, t, 0], b[:, t, 0]).pvalue for t in TIMES}
        ra, rb = log_tamsd_ratios(a), log_tamsd_ratios(b)
        ra, rb = ra[np.isfinite(ra).all(1)], rb[np.isfinite(rb).all(1)]
        tests.update({f"tamsd({k})/tamsd(1)": stats.ks_2samp(ra[:, j], rb[:, j]).pvalue
                      for j, k in enumerate(TAMSD_LAGS)})
        worst = min(tests, key=tests.get)
        out[key] = {"n": len(theirs), "min_p": tests[worst], "at": worst, "p": tests}
    return out


def compare_task1(path: Path, dim: int, seed: int) -> dict:
    from eval_alpha_regressor import tamsd_alpha

    from fraczoo.datamodules.andi import CHALLENGE_EXPONENTS, MODEL_NAMES, challenge_task1_counts, simulate
    from fraczoo.datamodules.andi_official import load_official

    theirs = load_official(path)
    ours = simulate(len(theirs), dim=dim, length=(10, 999), balance="challenge", seed=seed, dtype=np.float32)
    counts = challenge_task1_counts()
    grid = np.searchsorted(CHALLENGE_EXPONENTS, np.round(theirs.alpha, 2))
    cells = np.bincount(theirs.model * len(CHALLENGE_EXPONENTS) + grid, minlength=counts.size)
    expected = counts.ravel() / counts.sum() * len(theirs)
    used = expected > 0
    out = {"n": len(theirs),
           "cells_outside_the_mix": int(cells[~used].sum()),
           "mix_chi2_p": float(stats.chisquare(cells[used], expected[used] * cells[used].sum() / expected[used].sum()).pvalue),
           "model_share": {m: float((theirs.model == c).mean()) for c, m in enumerate(MODEL_NAMES)},
           "model_share_expected": {m: float(counts[c].sum() / counts.sum()) for c, m in enumerate(MODEL_NAMES)},
           "lengths_chi2_p": float(stats.chisquare(np.histogram(theirs.lengths, np.arange(10, 1001, 10))[0]).pvalue),
           "lengths_range": [int(theirs.lengths.min()), int(theirs.lengths.max())], "tamsd_alpha_ks_p": {}}
    fit = [tamsd_alpha(d.positions.astype(np.float64), d.lengths) for d in (theirs, ours)]
    for c, name in enumerate(MODEL_NAMES):
        sel = [(d.model == c) & (d.lengths >= 50) for d in (theirs, ours)]
        out["tamsd_alpha_ks_p"][name] = float(stats.ks_2samp(fit[0][sel[0]], fit[1][sel[1]]).pvalue)
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dim", type=int, choices=(1, 2, 3), required=True)
    parser.add_argument("--raw", type=Path, help="raw official trajectories (scripts/andi_official.sh raw ...)")
    parser.add_argument("--task1", type=Path, help="an official task-1 set (scripts/andi_official.sh task1 ...)")
    parser.add_argument("--seed", type=int, default=2024, help="seed of fraczoo's side")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.raw is None and args.task1 is None:
        parser.error("give --raw and/or --task1")
    result = {"command": "python scripts/compare_andi_generators.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "dim": args.dim}
    if args.raw is not None:
        raw = compare_raw(args.raw, args.dim, args.seed)
        n_tests = sum(len(case["p"]) for case in raw.values())
        threshold = 1e-3 / n_tests
        result.update(raw=raw, flag_below=threshold)
        print(f"raw models, {args.dim}D: KS p-values, official vs fraczoo (flag below {threshold:.1e})")
        for key, case in raw.items():
            flag = "  <-- differs" if case["min_p"] < threshold else ""
            print(f"  {key:9s} n={case['n']}  min p {case['min_p']:.2e} at {case['at']}{flag}")
    if args.task1 is not None:
        task = compare_task1(args.task1, args.dim, args.seed)
        result["task1"] = task
        print(f"task-1 set {args.task1.name}: n={task['n']}, (model, exponent) mix chi2 p {task['mix_chi2_p']:.3f}, "
              f"cells outside the mix {task['cells_outside_the_mix']}, lengths {task['lengths_range']}, uniform: chi2 p "
              f"{task['lengths_chi2_p']:.3f}")
        print("  model share official / expected: " + ", ".join(
            f"{m} {task['model_share'][m]:.3f}/{task['model_share_expected'][m]:.3f}" for m in task["model_share"]))
        print("  TAMSD-fit exponent, official vs simulate(balance='challenge'), KS p per model (T >= 50): "
              + ", ".join(f"{m} {p:.3f}" for m, p in task["tamsd_alpha_ks_p"].items()))
    write_json(f"compare_andi_generators_{args.dim}d", result, out=args.out)
    return result


if __name__ == "__main__":
    run_main(main)
