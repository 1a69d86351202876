"""Evaluate a bayesian_alpha_regressor on fresh AnDi 2020 data against a time-averaged MSD fit.

    python scripts/eval_alpha_regressor.py --weights bayesian_alpha_regressor.andi1d --dim 1 --n 20000 --seed 12345
    python scripts/eval_alpha_regressor.py --weights bayesian_alpha_regressor.andi1d --official --n 20000 --seed 10

Data: ``n`` trajectories from ``fraczoo.datamodules.andi.simulate`` with all five models (``--balance
model``: equally likely, alpha uniform in each model's challenge range, lengths uniform in 10..1000;
``--balance challenge``: the organisers' task-1 mix, lengths 10..999) and the challenge's noise, from
``seed`` (use one the training never saw). ``--official``: instead the organisers' own task-1 set of (dim, n, seed),
``data/andi_official/task1_<dim>d_n<n>_seed<seed>.npz`` (made by ``scripts/andi_official.sh task1 --dim
<dim> --n <n> --seed <seed>``; lengths 10..999), or the file given by ``--data``. The pretrained recipes
validate on the official seed-1 sets: evaluate on another seed.
Prints the MAE of the point estimate (``predict_alpha``: the posterior median, for a Gaussian its mean,
with ``alpha_on_grid`` the median bin centre) overall, by length bin and by model, the coverage of the
central 90% interval (the posterior's 5% and 95% quantiles), the NLL (mean negative log density of the
true alpha under the posterior), the KS statistic of the PIT values (the posterior CDF at the true
alpha), the ENCE (expected normalised calibration error, Levi et al. 2022: trajectories sorted by
posterior std into ``ENCE_BINS`` = 20 bins of equal count, mean over bins of |RMV - RMSE| / RMV, RMV the
root mean posterior variance and RMSE the root mean squared error of the posterior mean in the bin), and
the same MAE table for the baseline: alpha = slope of a least-squares fit of log TAMSD(lag) against log
lag, lags 1..max(4, T // 10) (log-spaced, at most 16), clipped to [0, 2]. ``--symmetrize`` adds the same
numbers for ``predict_posterior(symmetrize=True)`` (the mixture over the trajectory's mirror images and
axis rotations) on the same trajectories; ``--alpha-on-grid`` the MAE of the ``alpha_on_grid`` estimate
(the median bin centre, for orders on the 0.05 grid) of the same posteriors and its paired change per
trajectory. Writes the numbers to ``benchmarks/eval_alpha_regressor_<dim>d[_official].json``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
LENGTH_BINS = ((10, 49), (50, 99), (100, 199), (200, 499), (500, 1000))
ENCE_BINS = 20


def ence(mean: np.ndarray, std: np.ndarray, true: np.ndarray, bins: int = ENCE_BINS) -> float:
    """Expected normalised calibration error (Levi, Gispan, Giladi & Fetaya, Sensors 22, 5540 (2022)):
    sort by predicted std, ``bins`` bins of equal count, mean over bins of |RMV - RMSE| / RMV."""
    order = np.argsort(std, kind="stable")
    terms = []
    for idx in np.array_split(order, bins):
        rmv = np.sqrt(np.mean(std[idx] ** 2))
        rmse = np.sqrt(np.mean((mean[idx] - true[idx]) ** 2))
        terms.append(abs(rmv - rmse) / rmv)
    return float(np.mean(terms))


def tamsd_alpha(positions: np.ndarray, lengths: np.ndarray, n_lags: int = 16) -> np.ndarray:
    """Baseline: alpha from the log-log slope of the time-averaged MSD (vectorised over trajectories).

    positions (n, T, dim) zero-padded, lengths (n,). Trajectory i uses lags 1..max(4, T_i // 10).
    """
    n, width, _ = positions.shape
    lags = np.unique(np.round(np.logspace(0, np.log10(max(4, width // 10)), n_lags)).astype(int))
    log_msd = np.zeros((n, lags.size))
    for j, lag in enumerate(lags):
        pairs = np.arange(width - lag)[None, :] < (lengths[:, None] - lag)
        sq = ((positions[:, lag:] - positions[:, :-lag]) ** 2).sum(-1) * pairs
        msd = sq.sum(1) / np.maximum(pairs.sum(1), 1)
        log_msd[:, j] = np.log(np.maximum(msd, 1e-300))
    use = lags[None, :] <= np.maximum(4, lengths[:, None] // 10)
    use &= lags[None, :] <= lengths[:, None] - 2  # at least two pairs per lag
    x = np.where(use, np.log(lags)[None, :], 0.0)
    count = use.sum(1)
    x_mean = x.sum(1) / count
    y_mean = np.where(use, log_msd, 0.0).sum(1) / count
    dx = np.where(use, np.log(lags)[None, :] - x_mean[:, None], 0.0)
    slope = (dx * np.where(use, log_msd - y_mean[:, None], 0.0)).sum(1) / (dx ** 2).sum(1)
    return np.clip(slope, 0.0, 2.0)


def _stderr(errors: np.ndarray) -> float:
    return float(errors.std(ddof=1) / np.sqrt(errors.size))


def table(errors: np.ndarray, lengths: np.ndarray, model: np.ndarray, names) -> dict:
    # the standard error of the overall MAE tells how far a target can be read from n trajectories
    out = {"overall": float(errors.mean()), "overall_stderr": _stderr(errors),
           "by_length": {}, "by_length_stderr": {}, "by_model": {}}
    for lo, hi in LENGTH_BINS:
        sel = (lengths >= lo) & (lengths <= hi)
        out["by_length"][f"{lo}-{hi}"] = float(errors[sel].mean()) if sel.any() else None
        out["by_length_stderr"][f"{lo}-{hi}"] = _stderr(errors[sel]) if sel.sum() > 1 else None
    for code, name in enumerate(names):
        sel = model == code
        out["by_model"][name] = float(errors[sel].mean()) if sel.any() else None
    return out


def posterior_metrics(model, posterior, true: np.ndarray) -> dict:
    """Point estimate and std (``model.summary``: what ``predict_alpha`` returns), mean and calibration
    of a ``torch.distributions`` posterior (batch (n,)) against the true alphas: coverage of the central 90% interval, NLL, PIT KS, ENCE."""
    from fraczoo.callbacks.calibration import ks_uniform
    from fraczoo.models.bayesian_alpha_regressor import central_interval

    y = torch.from_numpy(true).to(posterior.mean)
    lower, upper = central_interval(posterior, 0.9)
    inside = (y >= lower) & (y <= upper)
    estimate, std = (t.double().numpy() for t in model.summary(posterior))
    mean = posterior.mean.double().numpy()
    return {"estimate": estimate, "coverage90": float(inside.double().mean()),
            "nll": float(-posterior.log_prob(y).double().mean()), "pit_ks": ks_uniform(posterior.cdf(y)),
            "ence": ence(mean, std, true), "mean_std": float(std.mean())}


def load_model(weights: str):
    import fraczoo

    if Path(weights).suffix in {".pt", ".ckpt", ".pth"} or Path(weights).is_file():
        return fraczoo.create_model("bayesian_alpha_regressor", pretrained=weights)
    if not weights.startswith("bayesian_alpha_regressor"):
        sys.exit(f"--weights must be a bayesian_alpha_regressor pretrained name or a weights file, got {weights!r}")
    return fraczoo.load_pretrained(weights)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default="bayesian_alpha_regressor.andi1d",
                        help="pretrained name (bayesian_alpha_regressor.<tag>) or a weights/checkpoint file")
    parser.add_argument("--dim", type=int, choices=(1, 2, 3), default=None, help="default: the model's dim")
    parser.add_argument("--n", type=int, default=20000, help="number of test trajectories")
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--balance", choices=("model", "challenge"), default="model",
                        help="simulated data: models equally likely, or the organisers' task-1 mix")
    parser.add_argument("--official", action="store_true",
                        help="the organisers' task-1 set of (dim, n, seed) instead of simulated data")
    parser.add_argument("--data", default=None, help="with --official: this file instead of the default path")
    parser.add_argument("--symmetrize", action="store_true",
                        help="also score predict_alpha(symmetrize=True) on the same trajectories")
    parser.add_argument("--alpha-on-grid", action="store_true",
                        help="also score the alpha_on_grid estimate (the median bin centre) of the same posteriors")
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/eval_alpha_regressor_<dim>d.json)")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error(f"--n must be >= 1, got {args.n}")
    if args.data and not args.official:
        parser.error("--data goes with --official")
    torch.set_num_threads(args.threads)

    from fraczoo.datamodules.andi import MODEL_NAMES, simulate

    model = load_model(args.weights)
    if args.alpha_on_grid and model.hparams.posterior != "histogram":
        parser.error("--alpha-on-grid needs a histogram posterior (the grid is its bin centres)")
    dim = args.dim or model.hparams.dim
    if dim != model.hparams.dim:
        parser.error(f"--dim {dim} does not match the model's dim {model.hparams.dim}")

    start = time.time()
    if args.official:
        from fraczoo.datamodules.andi_official import load_official

        path = Path(args.data) if args.data else ROOT / "data" / "andi_official" / f"task1_{dim}d_n{args.n}_seed{args.seed}.npz"
        try:
            data = load_official(path)
        except FileNotFoundError:
            sys.exit(f"{path} not found; make it with scripts/andi_official.sh task1 --dim {dim} --n {args.n} "
                     f"--seed {args.seed}")
        if len(data) != args.n or data.positions.shape[-1] != dim:
            sys.exit(f"{path} holds {len(data)} {data.positions.shape[-1]}-D trajectories, not {args.n} {dim}-D")
        source = f"official: andi_datasets challenge_theory_dataset task 1 ({path.name}), lengths 10..999"
    else:
        longest = 999 if args.balance == "challenge" else 1000  # the organisers' task 1: 10..999
        data = simulate(args.n, dim=dim, length=(10, longest), noise=True, balance=args.balance, seed=args.seed,
                        dtype=np.float32, progress=True)
        source = f"andi.simulate: attm/ctrw/fbm/lw/sbm, balance={args.balance}, challenge noise, lengths 10..{longest}"
    sim_seconds = time.time() - start
    start = time.time()
    x, lengths = torch.from_numpy(data.positions), torch.from_numpy(data.lengths)
    posterior = model.predict_posterior(x, lengths)
    post = posterior_metrics(model, posterior, data.alpha)
    predict_seconds = time.time() - start
    if args.alpha_on_grid:
        from fraczoo.models.bayesian_alpha_regressor import posterior_summary

        on_grid = posterior_summary(posterior, alpha_on_grid=True)[0].double().numpy()
    if args.symmetrize:
        start = time.time()
        sym = posterior_metrics(model, model.predict_posterior(x, lengths, symmetrize=True), data.alpha)
        sym_seconds = time.time() - start
    baseline = tamsd_alpha(data.positions.astype(np.float64), data.lengths)

    result = {
        "command": "python scripts/eval_alpha_regressor.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "weights": args.weights, "dim": dim, "n": args.n, "seed": args.seed,
        "data": source,
        "posterior": model.hparams.posterior, "alpha_on_grid": bool(model.hparams.alpha_on_grid),
        "model_mae": table(np.abs(post["estimate"] - data.alpha), data.lengths, data.model, MODEL_NAMES),
        "baseline_tamsd_mae": table(np.abs(baseline - data.alpha), data.lengths, data.model, MODEL_NAMES),
        "coverage90": post["coverage90"], "nll": post["nll"], "pit_ks": post["pit_ks"],
        "ence": post["ence"], "ence_bins": f"{ENCE_BINS} equal-count bins of predicted std",
        "mean_std": post["mean_std"],
        "seconds": {"data": round(sim_seconds, 1), "predict": round(predict_seconds, 1)},
    }
    result["mae_ratio_model_over_baseline"] = result["model_mae"]["overall"] / result["baseline_tamsd_mae"]["overall"]
    if args.symmetrize:
        result["symmetrized"] = {
            "model_mae": table(np.abs(sym["estimate"] - data.alpha), data.lengths, data.model, MODEL_NAMES),
            **{k: sym[k] for k in ("coverage90", "nll", "pit_ks", "ence", "mean_std")},
            "predict_seconds": round(sym_seconds, 1),
        }
    if args.alpha_on_grid:
        change = np.abs(on_grid - data.alpha) - np.abs(post["estimate"] - data.alpha)
        result["alpha_on_grid_estimate"] = {
            "model_mae": table(np.abs(on_grid - data.alpha), data.lengths, data.model, MODEL_NAMES),
            "paired_change": {"mean": float(change.mean()), "stderr": _stderr(change)},
        }

    m, b = result["model_mae"], result["baseline_tamsd_mae"]
    print(f"{args.weights}: {dim}D, n={args.n}, seed={args.seed}, {source}")
    columns = [("model MAE", m), ("TAMSD MAE", b)]
    if args.symmetrize:
        columns.append(("symmetrized", result["symmetrized"]["model_mae"]))
    if args.alpha_on_grid:
        columns.append(("on grid", result["alpha_on_grid_estimate"]["model_mae"]))
    print(f"{'':14s}" + "".join(f" {name:>12s}" for name, _ in columns))

    def line(label, section, key=None):
        def pick(t):  # "-" for a bin no trajectory falls in
            v = t[section] if key is None else t[section][key]
            return f" {v:12.4f}" if v is not None else f" {'-':>12s}"

        print(f"{label:14s}" + "".join(pick(t) for _, t in columns))

    line("overall", "overall")
    line("  std. error", "overall_stderr")
    for key in m["by_length"]:
        line("T " + key, "by_length", key)
        line("  std. error", "by_length_stderr", key)
    for key in m["by_model"]:
        line(key, "by_model", key)
    print(f"90% interval coverage {result['coverage90']:.4f}, NLL {result['nll']:.4f}, PIT KS {result['pit_ks']:.4f}, "
          f"ENCE {result['ence']:.4f}, MAE ratio model/baseline {result['mae_ratio_model_over_baseline']:.3f}")
    if args.symmetrize:
        s = result["symmetrized"]
        print(f"symmetrized: 90% interval coverage {s['coverage90']:.4f}, NLL {s['nll']:.4f}, "
              f"PIT KS {s['pit_ks']:.4f}, ENCE {s['ence']:.4f}")
    if args.alpha_on_grid:
        c = result["alpha_on_grid_estimate"]["paired_change"]
        print(f"on grid (alpha_on_grid=True: the median bin centre): MAE change per trajectory {c['mean']:+.5f} "
              f"+- {c['stderr']:.5f}; coverage, NLL, PIT and ENCE are those of the model column")

    suffix = "_official" if args.official else ("" if args.balance == "model" else f"_{args.balance}")
    out = Path(args.out) if args.out else ROOT / "benchmarks" / f"eval_alpha_regressor_{dim}d{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    from _bench import run_main

    run_main(main)
