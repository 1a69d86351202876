"""Which data pin down neural_fode's order alpha? Fits with the order held fixed, and free fits from two
starting orders, on several data designs (the evidence for the model card's "Identifiability" paragraph).

    python scripts/nfode_identifiability.py            # ~1.5 h on 1 CPU thread
    python scripts/nfode_identifiability.py --quick    # smoke run

Every fit uses the shipped config's model arguments and optimizer (L-BFGS on the RMSE, full batch) for
``--evals`` evaluations of the loss and its gradient. For each design:

- fixed order alpha_true - 0.15, alpha_true, alpha_true + 0.15 (only the vector field learns): if a wrong order
  fits the data as well as the true one, no optimizer can find the order from these data;
- free order from alpha_init 0.3 and 0.9: where the recipe actually ends.

Why a single trajectory cannot do it: if y(t) never revisits a state, f(y(t)) := D^a y(t) defines, for any
order a, a vector field that reproduces y exactly. Only data in which the same (or nearby) states are reached
with different histories constrain a: several initial states, or a trajectory that comes back near itself.
Writes benchmarks/nfode_identifiability.json.
"""
from __future__ import annotations

import argparse
import sys

import torch

from _bench import print_table, progress, run_main, write_json
from compare_dynamics import shipped_model_args, train

from fraczoo.datamodules.fractional_dynamics import FractionalDynamicsDataModule
from fraczoo.models.neural_fode import NeuralFODE

# name -> (system, true order, initial states ("ic"), window [0, T], observed steps, noise std)
DESIGNS = {
    "relaxation_1ic_T2": ("relaxation", 0.6, 1, 2.0, 50, 0.0),
    "relaxation_1ic_T20": ("relaxation", 0.6, 1, 20.0, 100, 0.0),
    "oscillator_1ic_T5": ("oscillator", 0.8, 1, 5.0, 50, 0.0),
    "relaxation_4ic_T2": ("relaxation", 0.6, 4, 2.0, 50, 0.0),
    "relaxation_4ic_T2_noise": ("relaxation", 0.6, 4, 2.0, 50, 0.01),
    "relaxation_64ic_T2_noise": ("relaxation", 0.6, 64, 2.0, 50, 0.01),
}
STARTS = (0.3, 0.9)
OFFSETS = (-0.15, 0.0, 0.15)


def observations(system, alpha, n_ic, t_end, n_steps, noise, seed=0):
    data = FractionalDynamicsDataModule(system=system, alpha=alpha, n_steps=n_steps, t_end=t_end, train_size=n_ic,
                                        val_size=1, test_size=1, noise_std=noise, substeps=16, seed=seed)
    data.setup()
    t, y = data.splits["train"].tensors
    return t[0], y


def fit(t, y, alpha_true: float, evals: int, *, alpha: float, learn: bool) -> dict:
    torch.manual_seed(0)
    model = NeuralFODE(**{**shipped_model_args(), "alpha_init": alpha, "learn_alpha": learn})
    record = train(model, t, y, evals, alpha_true)
    with torch.no_grad():
        rmse = float((model(y[:, 0], t) - y).pow(2).mean().sqrt())
    return {"alpha": float(model.alpha().reshape(-1)[0]), "fit_rmse": rmse, "evals": record["evals"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--evals", type=int, default=600, help="evaluations of loss and gradient per fit")
    parser.add_argument("--designs", nargs="+", choices=list(DESIGNS), default=list(DESIGNS))
    parser.add_argument("--quick", action="store_true", help="10 evaluations per fit (smoke run)")
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/nfode_identifiability.json)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    evals = 10 if args.quick else args.evals
    jobs = [(name, "fixed", off) for name in args.designs for off in OFFSETS] + \
           [(name, "free", start) for name in args.designs for start in STARTS]
    runs = []
    for name, mode, value in progress(jobs, "fits"):
        system, alpha_true, n_ic, t_end, n_steps, noise = DESIGNS[name]
        t, y = observations(system, alpha_true, n_ic, t_end, n_steps, noise)
        alpha = round(alpha_true + value, 6) if mode == "fixed" else value
        runs.append({"design": name, "mode": mode, "alpha_start": alpha,
                     **fit(t, y, alpha_true, evals, alpha=alpha, learn=mode == "free")})
        print(f"{name}, {mode} order from {alpha}: alpha {runs[-1]['alpha']:.4f}, fit RMSE {runs[-1]['fit_rmse']:.2e}",
              file=sys.stderr, flush=True)
    rows = []
    for name in args.designs:
        alpha_true, noise = DESIGNS[name][1], DESIGNS[name][5]
        fixed = {r["alpha_start"]: r["fit_rmse"] for r in runs if r["design"] == name and r["mode"] == "fixed"}
        free = [r["alpha"] for r in runs if r["design"] == name and r["mode"] == "free"]
        low, true, high = (fixed[round(alpha_true + off, 6)] for off in OFFSETS)
        rows.append({"design": name, "alpha_true": alpha_true, "noise": noise, "rmse_alpha-0.15": low,
                     "rmse_alpha_true": true, "rmse_alpha+0.15": high,
                     **{f"alpha_from_{s}": a for s, a in zip(STARTS, free)}})
    print_table(f"identifiability of the order: {evals} evaluations per fit (fit RMSE at a fixed order; "
                "learned order from two starts)", rows)
    designs = {k: DESIGNS[k] for k in args.designs}
    write_json("nfode_identifiability", {"settings": {"evals": evals, "designs": designs,
                                                      "model_args": shipped_model_args()},
                                         "runs": runs, "summary": rows}, args.out)


if __name__ == "__main__":
    run_main(main)
