"""Parts 3 and 4 of scripts/bench_fode.py (see its docstring): where parallel=True pays, and the cost of
one small neural_fode training step."""
from __future__ import annotations

import inspect
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from _bench import print_table, progress

from fraczoo.fode import fodeint

ALPHA = 0.7


class MLPField(torch.nn.Module):
    """f(t, y) = W2 tanh(W1 y + b1) + b2: a smooth field whose cost grows with the width."""

    def __init__(self, width: int, dtype, device):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Linear(2, width), torch.nn.Tanh(), torch.nn.Linear(width, 2))
        self.net.to(dtype=dtype, device=device)

    def forward(self, t, y):
        return self.net(y)


def stiff_field(dtype, device):
    """D^a y = diag(-10, -1) y + (sin t, cos t): stiffness ratio 10, a fixed-point contraction ~ 0.4 at
    the coarsest grid used (N = 256 on [0, 5])."""
    rates = torch.tensor([-10.0, -1.0], dtype=dtype, device=device)
    e1, e2 = torch.eye(2, dtype=dtype, device=device)
    return lambda t, y: rates * y + torch.sin(t) * e1 + torch.cos(t) * e2


def _clocked(fn, device: str, repeat: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each of ``repeat`` calls of ``fn`` (CUDA: synchronised)."""
    walls, cpus = [], []
    for _ in range(repeat):
        if device == "cuda":
            torch.cuda.synchronize()
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return walls, cpus


def _time(fn, device: str, repeat: int) -> tuple[float, float]:
    """Best wall and CPU seconds of ``repeat`` calls (after one warm-up call)."""
    fn()
    walls, cpus = _clocked(fn, device, repeat)
    return min(walls), min(cpus)


def bench_parallel_grid(device: str, quick: bool = False) -> tuple[list[dict], dict]:
    from fraczoo.fode._options import parse_options
    from fraczoo.fode._parallel import AUTO_MAX_STATE, AUTO_MAX_WORK, AUTO_MIN_POINTS, choose_parallel
    from fraczoo.fode._problem import Problem
    from fraczoo.fode._solvers import SOLVERS

    dtype = torch.float64
    cases = [("mlp", width) for width in ((32,) if quick else (32, 256))] + [("stiff", 0)]
    batches = (1, 16) if quick else (1, 4, 16, 64)
    sizes = {"mlp": (64, 256) if quick else (64, 256, 1024, 4096), "stiff": (256,) if quick else (256, 1024, 4096)}
    rows = []
    for problem, width in progress(cases, "problems"):
        f = MLPField(width, dtype, device) if problem == "mlp" else stiff_field(dtype, device)
        for batch in batches:
            torch.manual_seed(1)
            y0 = torch.randn(batch, 2, dtype=dtype, device=device)
            for n in sizes[problem]:
                t = torch.linspace(0.0, 5.0, n, dtype=dtype, device=device)
                repeat = 1 if n >= 4096 else 2
                row = {"problem": problem, "width": width or "-", "batch": batch, "N": n}
                for mode in ("solve", "direct"):
                    def run(parallel, mode=mode):
                        if mode == "solve":
                            with torch.no_grad():
                                fodeint(f, y0, t, ALPHA, method="trapezoid", parallel=parallel)
                        else:
                            y = fodeint(f, y0.clone().requires_grad_(True), t, ALPHA, method="trapezoid",
                                        parallel=parallel)
                            y.square().mean().backward()
                    seq_wall, seq_cpu = _time(lambda: run(False), device, repeat)
                    par_wall, par_cpu = _time(lambda: run(True), device, repeat)
                    row.update({f"{mode}: sequential s": seq_wall, f"{mode}: parallel s": par_wall,
                                f"{mode}: speed-up": seq_wall / par_wall, f"{mode}: speed-up (CPU)": seq_cpu / par_cpu})
                prob = Problem(f, y0, t, ALPHA, SOLVERS["trapezoid"].scheme)
                opts = parse_options(f, dtype, "trapezoid", "direct", {})
                row["auto picks parallel"] = choose_parallel(prob, opts, fixed_point=True)
                rows.append(row)
                print(row, flush=True)
    print_table(f"sequential / parallel=True time of fodeint (trapezoid, float64, {device}): solve without grad, "
                "and solve + backward (direct gradient)", rows)
    auto = [r for r in rows if r["auto picks parallel"]]
    # CPU time: on a shared machine wall times of the same run vary by more than these ratios
    summary = {"parallel_grid_auto_rows": len(auto),
               "parallel_grid_auto_min_cpu_speedup_solve": min((r["solve: speed-up (CPU)"] for r in auto), default=None),
               "parallel_grid_auto_min_cpu_speedup_direct": min((r["direct: speed-up (CPU)"] for r in auto),
                                                                default=None),
               "parallel_grid_rule": f"N >= {AUTO_MIN_POINTS}, state numbers <= {AUTO_MAX_STATE}, "
                                     f"batch rows x func weights <= {AUTO_MAX_WORK}"}
    print(f"\nrows where parallel=None picks the parallel solve: {len(auto)}; smallest CPU-time speed-up there: "
          f"solve {summary['parallel_grid_auto_min_cpu_speedup_solve']}, "
          f"direct {summary['parallel_grid_auto_min_cpu_speedup_direct']}")
    return rows, summary


# -- part 4 --------------------------------------------------------------------------------------------
SMALL = {"N": 41, "batch": 4, "hidden": 16, "depth": 2, "train_steps": 100, "timed_steps": 30}


def small_step_worker(gradient: str, parallel: str, device: str) -> None:
    """Print JSON: per-step times of one neural_fode training step over the first ``timed_steps`` steps
    and over as many after ``train_steps`` more, and the corrector iterations per time step after each
    (sequential solvers)."""
    from fraczoo.datamodules.fractional_dynamics import simulate_dynamics
    from fraczoo.fode import fodeint as solve
    from fraczoo.models.neural_fode import NeuralFODE

    torch.set_num_threads(1)
    torch.manual_seed(0)
    kwargs = dict(hidden=SMALL["hidden"], depth=SMALL["depth"], gradient=gradient, alpha_init=0.5)
    if parallel != "default":
        if "parallel" not in inspect.signature(NeuralFODE).parameters:
            print(json.dumps({"skipped": "this fraczoo has no parallel option"}))
            return
        kwargs["parallel"] = parallel == "True"
    model = NeuralFODE(**kwargs).to(device)
    opt = model.configure_optimizers()
    y0 = torch.rand(SMALL["batch"], 2) * 4 - 2
    t, y = simulate_dynamics("oscillator", 0.8, y0, SMALL["N"] - 1, 5.0)
    t, y = t.float().to(device), y.float().to(device)

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(y[:, 0], t), y)
        loss.backward()
        opt.step()
        return loss

    def measure() -> dict:
        walls, cpus = _clocked(step, device, SMALL["timed_steps"])
        stats = {}
        field = model.backbone.solve_field() if hasattr(model.backbone, "solve_field") else model.backbone
        with torch.no_grad():
            solve(field, y[:, 0], t, model.alpha().to(t.dtype), method="trapezoid", stats=stats)
        iterations = stats.get("iterations", 0) / max(stats.get("steps", 1), 1)
        return {"ms_min": 1e3 * min(walls), "ms_median": 1e3 * statistics.median(walls),
                "cpu_ms_min": 1e3 * min(cpus), "cpu_ms_median": 1e3 * statistics.median(cpus),
                "iterations_per_step": iterations}

    for _ in range(3):
        step()  # warm-up
    at_init = measure()
    for _ in range(SMALL["train_steps"]):
        loss = step()
    trained = measure()
    import fraczoo

    print(json.dumps({"init": at_init, "trained": trained, "loss": float(loss.detach()),
                      "fraczoo": str(Path(fraczoo.__file__).parent)}))


def _run_worker(gradient: str, parallel: str, device: str, source: str | None) -> dict:
    env = dict(os.environ)
    if source:
        env["PYTHONPATH"] = os.pathsep.join([str(Path(source).resolve()), env.get("PYTHONPATH", "")])
    script = str(Path(__file__).resolve().parent / "bench_fode.py")
    cmd = [sys.executable, script, "--small-step-worker", gradient, parallel, "--device", device]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    if done.returncode != 0:
        print(done.stderr[-2000:])
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_small_step(device: str, compare_with: str | None, quick: bool = False) -> tuple[list[dict], dict]:
    if quick:
        SMALL.update(train_steps=5, timed_steps=5)
    configs = [("direct", "False"), ("adjoint", "False"), ("direct", "True")]
    sources = [("this tree", None)] + ([(f"baseline {compare_with}", compare_with)] if compare_with else [])
    rows = []
    rounds = 1 if quick else 2  # interleaved, best kept: the machine's load drifts
    results: dict[tuple, list[dict]] = {}
    for _ in range(rounds):
        for label, source in sources:
            for gradient, parallel in configs:
                if source is not None and parallel == "True":
                    continue
                out = _run_worker(gradient, "default" if source else parallel, device, source)
                results.setdefault((label, gradient, parallel), []).append(out)
    for (label, gradient, parallel), outs in results.items():
        good = [o for o in outs if "init" in o]
        if not good:
            rows.append({"code": label, "gradient": gradient, "parallel": parallel, "error": outs[-1]})
            continue
        row = {"code": label, "gradient": gradient, "parallel": parallel if label == "this tree" else "-"}
        for phase in ("init", "trained"):
            for key in ("ms_min", "ms_median", "cpu_ms_min", "cpu_ms_median"):
                row[f"{phase} {key}"] = min(o[phase][key] for o in good)
            row[f"{phase} iterations/step"] = good[0][phase]["iterations_per_step"]
        row["final loss"] = good[0]["loss"]
        row["package"] = good[0].get("fraczoo", "?")
        rows.append(row)
    print_table(f"neural_fode training step: N = {SMALL['N']}, batch {SMALL['batch']}, MLP 2-{SMALL['hidden']}-"
                f"{SMALL['hidden']}-2, float32, Adam, 1 thread, {device}; best of {rounds} runs x "
                f"{SMALL['timed_steps']} steps", rows)
    summary = {}
    for row in rows:
        if row.get("code") == "this tree" and row["gradient"] == "direct" and row["parallel"] == "False" \
                and "init ms_min" in row:
            summary.update(small_step_direct_ms_init=row["init ms_min"], small_step_direct_ms_trained=row["trained ms_min"],
                           small_step_direct_cpu_ms_init=row["init cpu_ms_min"],
                           small_step_direct_cpu_ms_trained=row["trained cpu_ms_min"])
            print(f"\nsequential direct step: {row['init ms_min']:.1f} ms wall / {row['init cpu_ms_min']:.1f} ms CPU "
                  f"over the first {SMALL['timed_steps']} steps, {row['trained ms_min']:.1f} ms wall / "
                  f"{row['trained cpu_ms_min']:.1f} ms CPU after {SMALL['train_steps']} more (target <= 15 ms)")
    return rows, summary
