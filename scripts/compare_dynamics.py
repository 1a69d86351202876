"""Fractional dynamics: neural_fode against an integer-order neural ODE (torchdiffeq), the tool users know.

    python scripts/compare_dynamics.py                    # 3 seeds (~45 min on 1 CPU thread)
    python scripts/compare_dynamics.py --seeds 0 --quick  # smoke run

Both models have the same vector-field network (``MLPVectorField`` of the shipped config: 2 -> 32 -> 32 -> 2,
tanh; neural_fode adds one parameter, the order alpha), the same loss (MSE over the observed trajectories,
solved from their first state), the same optimizer (the shipped config's ``configure_optimizers``, stepped
with a closure on the full batch) and the same budget: ``--evals`` evaluations of the loss and its gradient.
The neural ODE is ``torchdiffeq.odeint`` (dopri5) on d y / d t = f(y), i.e. order 1.

Set-ups: noise-free trajectories from a few initial states drawn as in ``FractionalDynamicsDataModule``
(the seed draws them and the network's initial weights), observed on [0, T] with 51 points:

    relaxation       D^0.6 y = -diag(1, 2) y        4 initial states, T = 2
    oscillator       D^0.8 [x, v] = [v, -2.25 x - 0.3 v]    4 initial states, T = 5
    lotka_volterra   D^0.8 [x, y] = [x (1.1 - 0.4 y), y (0.4 x - 0.4)]    4 initial states, T = 5

Scores: fit RMSE on [0, T]; extrapolation max error and RMSE on (T, 10 T] (the same trajectories continued,
against the truth solved on a 16x finer grid); order error |alpha - alpha_true| (1 - alpha_true for the
neural ODE); the number of evaluations after which the order stays within 0.01 of the truth; training time.
For the recipe's record, on relaxation neural_fode is also trained with the previous shipped optimizer (Adam,
lr 1e-2 / alpha_lr 5e-2), with torch's L-BFGS on the MSE (default stopping tolerances), and with torch's L-BFGS
on the MSE without stopping tolerances (the shipped RootLBFGS steps the RMSE and has none).
Writes benchmarks/compare_dynamics.json; ``run_dynamics(args)`` returns the same payload (without writing)
for scripts/compare_baselines.py.
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch
import yaml

from _bench import print_table, progress, run_main, write_json

from fraczoo.datamodules.fractional_dynamics import FractionalDynamicsDataModule, simulate_dynamics
from fraczoo.models.neural_fode import NeuralFODE

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "models" / "neural_fode" / "config.yaml"
SETUPS = {  # system -> (true order, initial states, observed window T)
    "relaxation": (0.6, 4, 2.0),
    "oscillator": (0.8, 4, 5.0),
    "lotka_volterra": (0.8, 4, 5.0),
}
N_OBS = 50  # steps on [0, T]
TRUTH_SUBSTEPS = 16
ORDER_TOL = 0.01
ABLATIONS = ("neural_fode_adam", "neural_fode_torch_lbfgs", "neural_fode_lbfgs_mse")  # relaxation only


class NeuralODE(NeuralFODE):
    """The integer-order baseline: dy/dt = f(y) with neural_fode's vector field, loss and optimizer,
    solved by torchdiffeq's adaptive dopri5; no order parameter."""

    def __init__(self, rtol: float = 1e-6, atol: float = 1e-8, **kwargs):
        super().__init__(**{**kwargs, "learn_alpha": False})
        self.rtol, self.atol = rtol, atol

    def forward(self, y0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        from torchdiffeq import odeint

        return odeint(self.backbone, y0, t.to(y0.dtype), rtol=self.rtol, atol=self.atol).transpose(0, 1)


class TorchLBFGS(NeuralFODE):
    """neural_fode stepping torch's L-BFGS on the MSE itself, with the shipped RootLBFGS's iterations, history
    and line search and torch's default stopping tolerances (what one writes without the recipe)."""

    tolerances: dict = {}

    def configure_optimizers(self):
        return torch.optim.LBFGS([p for p in self.parameters() if p.requires_grad], lr=1.0, max_iter=20,
                                 history_size=50, line_search_fn="strong_wolfe", **self.tolerances)


class LBFGSOnMSE(TorchLBFGS):
    """As TorchLBFGS without stopping tolerances, like RootLBFGS: isolates the effect of the square root."""

    tolerances = {"tolerance_grad": 0.0, "tolerance_change": 0.0}


def shipped_model_args() -> dict:
    args = yaml.safe_load(CONFIG.read_text())["model"]["init_args"]
    return {k: v for k, v in args.items() if k != "init_weights"}


def trajectories(system: str, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Observed (t (N,), y (B, N, 2)) on [0, T] and the truth continued to 10 T, float32."""
    alpha, n_ic, t_obs = SETUPS[system]
    data = FractionalDynamicsDataModule(system=system, alpha=alpha, n_steps=N_OBS, t_end=t_obs, train_size=n_ic,
                                        val_size=1, test_size=1, noise_std=0.0, substeps=TRUTH_SUBSTEPS, seed=seed)
    data.setup()
    t, y = data.splits["train"].tensors
    t_long, y_long = simulate_dynamics(system, alpha, y[:, 0].double(), 10 * N_OBS, 10 * t_obs,
                                       substeps=TRUTH_SUBSTEPS)
    return t[0], y, t_long.float(), y_long.float()


def train(model: NeuralFODE, t: torch.Tensor, y: torch.Tensor, evals: int, alpha_true: float) -> dict:
    """Step the model's own optimizer with a closure (as Lightning's automatic optimization does) until
    ``evals`` evaluations of the loss and its gradient; track when the order settles within ORDER_TOL."""
    optimizer = model.configure_optimizers()
    count, last_outside = 0, 0

    def closure():
        nonlocal count, last_outside
        optimizer.zero_grad()
        with warnings.catch_warnings():  # self.log outside a Trainer: nothing to log to
            warnings.filterwarnings("ignore", message=".*self.log.*")
            loss = model.training_step((t.expand(len(y), -1), y), 0)
        loss.backward()
        count += 1
        if abs(float(model.alpha().detach().reshape(-1)[0]) - alpha_true) > ORDER_TOL:
            last_outside = count
        return loss

    start = time.perf_counter()
    while count < evals:
        optimizer.step(closure)
    seconds = time.perf_counter() - start
    learned = model.hparams.learn_alpha
    return {"train_seconds": seconds, "evals": count,
            "evals_to_order_tol": (last_outside + 1 if last_outside < count else None) if learned else None}


@torch.no_grad()
def scores(model: NeuralFODE, t, y, t_long, y_long, alpha_true: float, learned_order: bool) -> dict:
    fit = model(y[:, 0], t)
    long = model(y[:, 0], t_long)
    tail = t_long > t[-1] + 1e-6
    err = (long - y_long)[:, tail]
    alpha = float(model.alpha().reshape(-1)[0]) if learned_order else 1.0
    return {"fit_rmse": float((fit - y).pow(2).mean().sqrt()), "tail_max_error": float(err.abs().max()),
            "tail_rmse": float(err.pow(2).mean().sqrt()), "alpha": alpha, "order_error": abs(alpha - alpha_true)}


# name -> (class, overrides of the shipped model arguments)
MODELS = {
    "neural_fode": (NeuralFODE, {}),
    "neural_ode": (NeuralODE, {}),
    "neural_fode_adam": (NeuralFODE, {"optimizer": "adam", "lr": 1e-2, "alpha_lr": 5e-2}),  # the previous recipe
    "neural_fode_torch_lbfgs": (TorchLBFGS, {}),
    "neural_fode_lbfgs_mse": (LBFGSOnMSE, {}),
}


def run_one(system: str, kind: str, seed: int, evals: int) -> dict:
    alpha_true = SETUPS[system][0]
    t, y, t_long, y_long = trajectories(system, seed)
    args = shipped_model_args()
    torch.manual_seed(seed)
    cls, overrides = MODELS[kind]
    model = cls(**{**args, **overrides})
    record = {"system": system, "model": kind, "seed": seed, "params": sum(p.numel() for p in model.parameters()),
              **train(model, t, y, evals, alpha_true)}
    return {**record, **scores(model, t, y, t_long, y_long, alpha_true, kind != "neural_ode")}


def summarise(runs: list[dict]) -> list[dict]:
    """Per system and model over the seeds: means, the worst order error, the worst per-seed ratio of the
    extrapolation error to the neural ODE's (same seed), and how many seeds settled within ORDER_TOL (by which
    evaluation, at the latest)."""
    rows = []
    for system, kind in dict.fromkeys((r["system"], r["model"]) for r in runs):
        group = [r for r in runs if r["system"] == system and r["model"] == kind]
        node = {r["seed"]: r for r in runs if r["system"] == system and r["model"] == "neural_ode"}
        mean = lambda k: statistics.fmean(r[k] for r in group)  # noqa: E731
        settled = [r["evals_to_order_tol"] for r in group if r["evals_to_order_tol"] is not None]
        rows.append({"system": system, "model": kind, "params": group[0]["params"], "seeds": len(group),
                     "alpha": mean("alpha"), "order_error_max": max(r["order_error"] for r in group),
                     "order_settled": "-" if kind == "neural_ode" else f"{len(settled)}/{len(group)}",
                     "settled_by_eval": max(settled) if settled else "-",
                     "fit_rmse": mean("fit_rmse"), "tail_max_error": mean("tail_max_error"),
                     "tail_rmse": mean("tail_rmse"),
                     "tail_vs_node_worst": max(r["tail_max_error"] / node[r["seed"]]["tail_max_error"] for r in group)
                     if node else math.nan,
                     "train_s": mean("train_seconds")})
    return rows


def run_dynamics(args) -> dict:
    """Train and score every (system, model, seed); returns {"settings", "runs", "summary"}. ``args``: seeds
    (list of ints), and optionally evals (default 600), systems and models (default all) and quick (a few
    evaluations)."""
    torch.set_num_threads(1)
    evals = 20 if getattr(args, "quick", False) else getattr(args, "evals", None) or 600
    systems = getattr(args, "systems", None) or list(SETUPS)
    models = getattr(args, "models", None) or list(MODELS)
    jobs = [(system, kind, seed) for system in systems for seed in args.seeds
            for kind in ("neural_fode", "neural_ode") + (ABLATIONS if system == "relaxation" else ())
            if kind in models]
    runs = []
    for system, kind, seed in progress(jobs, "dynamics"):
        runs.append(run_one(system, kind, seed, evals))
        r = runs[-1]
        progress_line = (f"{system} {kind} seed {seed}: alpha {r['alpha']:.4f}, fit RMSE {r['fit_rmse']:.2e}, "
                         f"tail max error {r['tail_max_error']:.2e}, {r['train_seconds']:.0f} s")
        print(progress_line, file=sys.stderr, flush=True)
    summary = summarise(runs)
    print_table(f"fractional dynamics: {evals} evaluations of loss and gradient, seeds {list(args.seeds)}", summary)
    settings = {"evals": evals, "order_tol": ORDER_TOL, "setups": {k: dict(zip(("alpha", "initial_states", "T"), v))
                                                                   for k, v in SETUPS.items() if k in systems},
                "observed_steps": N_OBS, "extrapolation": "(T, 10 T]", "model_args": shipped_model_args(),
                "neural_ode": "torchdiffeq.odeint dopri5, rtol 1e-6, atol 1e-8",
                "models": sorted({kind for _, kind, _ in jobs})}
    return {"settings": settings, "runs": runs, "summary": summary}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--evals", type=int, default=600, help="evaluations of loss and gradient per run")
    parser.add_argument("--systems", nargs="+", choices=list(SETUPS), default=None)
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=None,
                        help="models to train (default: all; the ablations run on relaxation only)")
    parser.add_argument("--quick", action="store_true", help="20 evaluations per run (smoke run)")
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/compare_dynamics.json)")
    args = parser.parse_args()
    write_json("compare_dynamics", run_dynamics(args), args.out)


if __name__ == "__main__":
    run_main(main)
