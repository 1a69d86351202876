"""Benchmark fodeint against FDEint (pip package ``fdeint``) and a plain O(N^2) PECE.

    python scripts/bench_fode.py            # N = 1024 .. 16384, writes benchmarks/bench_fode.json
    python scripts/bench_fode.py --quick    # smoke run, N = 256, 512
    python scripts/bench_fode.py --training-only   # part 2 only, merged into the JSON
    python scripts/bench_fode.py --parallel-grid   # part 3 only, merged into the JSON
    python scripts/bench_fode.py --small-step [--compare-with DIR]   # part 4 only, merged into the JSON
    python scripts/bench_fode.py --device cuda ...  # any part on the GPU: benchmarks/bench_fode_cuda.json

Problem: the 2-D linear system with forcing  D^a y = A y + (sin t, 0),  A = [[-0.5, 1], [-1, -0.5]],
y(0) = (1, 0), a = 0.7, t in [0, 20], float64, one trajectory. All three solvers run the same
Diethelm-Ford-Freed PECE scheme (one corrector step), so their answers must agree to rounding; the
"max_diff" columns are the max abs difference from the plain O(N^2) PECE on the same grid. FDEint runs
only while its previous time says the next N fits in ``--fdeint-budget`` seconds; larger N are
reported as not measured (nothing is extrapolated).

Targets (issue 4): fodeint >= 5x faster than FDEint at N = 16384; time(8192) / time(1024) <= 12.
The same rows time the implicit product trapezoid rule, sequential and ``parallel=True`` (parallel in
time), and report the largest difference between the two solutions. Targets (issue 19): parallel >= 20x
faster than FDEint at N = 16384, max difference to the sequential trapezoid solution <= 1e-8.

Part 2 (``--training`` / ``--training-only``): one Adam step of the neural_fode zoo model (batch 16,
MLP 2-H-H-2, trapezoid, float32) per gradient mode at N = 500, 2000, 8000, each in a fresh process:
wall time of forward + backward and the peak resident memory the step added (ru_maxrss). Reference
row "inference": the same forward pass and loss under ``torch.no_grad()``, i.e. what producing the
trajectory costs at all. The solution is N x 16 x 2 numbers, so no method is literally flat in N; the
claim checked is that the adjoint adds a fixed multiple of that O(N d) trajectory (its solver buffers:
trajectory, multipliers, FFT history), the same at every N and for every network width (``--hidden``
runs H = 64 and 256), while direct and deq keep network activations for every step.

Part 3 (``--parallel-grid``): where ``parallel=True`` pays, sequential / parallel time of a solve (no
grad) and of a solve + backward (direct gradient) over N, batch and network width, on a smooth MLP field
and a stiff linear one (``_fode_parts.py``); the automatic choice (``parallel=None``) follows it.

Part 4 (``--small-step``): one neural_fode training step (N = 41, batch 4, MLP 2-16-16-2, float32, Adam,
direct gradient, sequential solver) on oscillator data, timed over the first 30 steps ("init", after 3
warm-up steps) and over 30 steps after 100 more ("trained": the corrector needs more iterations per step
as the learned field stiffens; iterations/step are counted after each timed block), and the same with
the adjoint and
with ``parallel=True``. ``--compare-with DIR`` runs the same rows with another fraczoo source tree first
on the path (e.g. ``git archive main fraczoo | tar -x -C DIR``): the named baseline, in the same run.
Target (issue 19): <= 15 ms per step on one CPU thread.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import print_table, progress, run_main, write_json  # noqa: E402

from fraczoo.fode import fodeint  # noqa: E402

ALPHA = 0.7
T_END = 20.0
DEVICE = torch.device("cpu")  # set by --device
A_T = torch.tensor([[-0.5, 1.0], [-1.0, -0.5]], dtype=torch.float64).T.contiguous()
E1 = torch.tensor([1.0, 0.0], dtype=torch.float64)


def field(t, y):
    """A y + (sin t, 0); t a 0-d tensor (fodeint), (batch, 1) (FDEint) or (L, 1) (parallel), y (..., 2)."""
    return torch.addcmul(y @ A_T, torch.sin(t), E1)


def grid(n_points: int) -> torch.Tensor:
    return torch.linspace(0.0, T_END, n_points, dtype=torch.float64, device=DEVICE)


def start() -> torch.Tensor:
    return torch.tensor([1.0, 0.0], dtype=torch.float64, device=DEVICE)


def plain_pece(n_points: int, alpha: float = ALPHA) -> torch.Tensor:
    """Textbook O(N^2) PECE (Diethelm, Ford & Freed 2002, eqs. (3.2)-(3.5)): direct history sums."""
    t = grid(n_points)
    h = T_END / (n_points - 1)
    y = torch.zeros(n_points, 2, dtype=torch.float64, device=DEVICE)
    f = torch.zeros_like(y)
    y[0] = start()
    f[0] = field(t[0], y[0])
    k = torch.arange(n_points + 1, dtype=torch.float64, device=DEVICE)
    b = k ** alpha - (k - 1).clamp(min=0) ** alpha  # b[d], d >= 1
    a = (k + 1) ** (alpha + 1) - 2 * k ** (alpha + 1) + (k - 1).clamp(min=0) ** (alpha + 1)  # a[d], d >= 1
    cp = h ** alpha / math.gamma(alpha + 1)
    cc = h ** alpha / math.gamma(alpha + 2)
    for n in range(1, n_points):
        d = n - torch.arange(n, device=DEVICE)  # n - j, j = 0..n-1
        pred = y[0] + cp * (b[d, None] * f[:n]).sum(0)
        a0 = (n - 1) ** (alpha + 1) - (n - 1 - alpha) * n ** alpha
        hist = a0 * f[0] + (a[d[1:], None] * f[1:n]).sum(0)
        y[n] = y[0] + cc * (hist + field(t[n], pred))
        f[n] = field(t[n], y[n])
    return y


def run_fodeint(n_points: int) -> torch.Tensor:
    return fodeint(field, start(), grid(n_points), ALPHA, method="pece")


def run_trapezoid(n_points: int) -> torch.Tensor:
    return fodeint(field, start(), grid(n_points), ALPHA, method="trapezoid", parallel=False)


def run_parallel(n_points: int) -> torch.Tensor:
    return fodeint(field, start(), grid(n_points), ALPHA, method="trapezoid", parallel=True)


def run_fdeint(n_points: int) -> torch.Tensor:
    from FDEint import FDEint

    out = FDEint(field, grid(n_points), start()[None], ALPHA, dtype=torch.float64)
    return out[0]


def timed(fn, n_points: int, repeat: int = 1) -> tuple[float, float, torch.Tensor]:
    """Best (min) wall and CPU (process) time of ``repeat`` runs, and the result. The machine this was
    written on is shared, so CPU time, which other processes inflate much less, is reported too."""
    walls, cpus = [], []
    with torch.no_grad():
        for _ in range(repeat):
            sync()
            wall, cpu = time.perf_counter(), time.process_time()
            out = fn(n_points)
            sync()
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus), out


def sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def train_worker(gradient: str, n_points: int, batch: int = 16, hidden: int = 64) -> None:
    """One Adam step of neural_fode on a batch of (B, n_points, 2) trajectories; prints JSON with the
    wall time of forward + backward and the peak resident memory it added (a fresh process per run, so
    ru_maxrss, the high-water mark, belongs to this step alone). ``gradient="inference"``: the forward
    pass and loss only, without autograd."""
    import json
    import resource

    from fraczoo.models.neural_fode import NeuralFODE

    torch.manual_seed(0)
    inference = gradient == "inference"
    model = NeuralFODE(hidden=hidden, gradient="direct" if inference else gradient, alpha_init=0.7)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    y0 = torch.randn(batch, 2)

    def step(n):
        t = torch.linspace(0.0, 5.0, n)
        target = torch.zeros(batch, n, 2)
        opt.zero_grad()
        if inference:
            with torch.no_grad():
                torch.nn.functional.mse_loss(model(y0, t), target)
            return
        loss = torch.nn.functional.mse_loss(model(y0, t), target)
        loss.backward()
        opt.step()

    step(20)  # warm-up: kernels, allocator
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    step(n_points)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base  # KiB on Linux
    trajectory_mb = n_points * batch * 2 * 4 / 2**20  # the float32 solution itself
    print(json.dumps({"gradient": gradient, "hidden": hidden, "N": n_points, "step_s": wall,
                      "peak_rss_mb": peak / 1024, "trajectory_mb": trajectory_mb,
                      "peak/trajectory": peak / 1024 / trajectory_mb}))


def bench_training(sizes: list[int], hiddens: list[int]) -> list[dict]:
    import json
    import subprocess

    rows = []
    for hidden in hiddens:
        for n in progress(sizes, f"training H={hidden}"):
            for gradient in ("inference", "direct", "adjoint", "deq"):
                cmd = [sys.executable, __file__, "--train-worker", gradient, str(n), str(hidden)]
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
                if done.returncode != 0:
                    print(done.stderr[-2000:])
                    rows.append({"gradient": gradient, "hidden": hidden, "N": n, "step_s": None,
                                 "peak_rss_mb": None, "trajectory_mb": None, "peak/trajectory": None})
                else:
                    rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
                print(rows[-1], flush=True)
    print_table("neural_fode training step (batch 16, MLP 2-H-H-2, trapezoid, float32, 1 thread): "
                "time and peak memory added", [{k: ("-" if v is None else v) for k, v in r.items()} for r in rows])
    return rows


def training_summary(training: list[dict]) -> dict:
    """Peak memory of each mode per stored solution, by width and N: the adjoint's should not move."""
    return {f"{mode}_peak_over_trajectory": {f"H={r['hidden']},N={r['N']}": r["peak/trajectory"]
                                             for r in training if r["gradient"] == mode}
            for mode in ("inference", "direct", "adjoint", "deq")}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: N = 256, 512; no JSON unless --out")
    parser.add_argument("--sizes", type=int, nargs="*", help="grid sizes (default 1024 .. 16384)")
    parser.add_argument("--fdeint-budget", type=float, default=120.0,
                        help="skip FDEint at N when 4.5x its time at N/2 exceeds this many seconds")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="runs per point (best kept); O(N^2) solvers: 1 "
                        "above N = 4096")
    parser.add_argument("--training", action="store_true",
                        help="also time one neural_fode training step per gradient mode and measure its peak memory")
    parser.add_argument("--training-only", action="store_true",
                        help="run only the training part and merge it into the existing JSON")
    parser.add_argument("--train-sizes", type=int, nargs="*", help="trajectory lengths (default 500 2000 8000)")
    parser.add_argument("--hidden", type=int, nargs="*", help="MLP widths for the training part (default 64 256)")
    parser.add_argument("--train-worker", nargs=3, metavar=("GRADIENT", "N", "HIDDEN"), help=argparse.SUPPRESS)
    parser.add_argument("--parallel-grid", action="store_true", help="only part 3 (merged into the JSON)")
    parser.add_argument("--small-step", action="store_true", help="only part 4 (merged into the JSON)")
    parser.add_argument("--compare-with", default=None, metavar="DIR",
                        help="part 4: also run its rows with the fraczoo package found in DIR (the baseline)")
    parser.add_argument("--small-step-worker", nargs=2, metavar=("GRADIENT", "PARALLEL"), help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                        help="where to run (cuda: writes benchmarks/bench_fode_cuda.json)")
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/bench_fode[_cuda].json)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    set_device(args.device)
    name = "bench_fode" + ("_cuda" if args.device == "cuda" else "")
    if args.train_worker:
        train_worker(args.train_worker[0], int(args.train_worker[1]), hidden=int(args.train_worker[2]))
        return
    if args.small_step_worker:
        from _fode_parts import small_step_worker

        small_step_worker(args.small_step_worker[0], args.small_step_worker[1], args.device)
        return
    if args.training_only:
        training = bench_training(args.train_sizes or [500, 2000, 8000], args.hidden or [64, 256])
        merge_json(name, {"training": training}, training_summary(training), args.out)
        return
    if args.parallel_grid:
        from _fode_parts import bench_parallel_grid

        grid_rows, grid_summary = bench_parallel_grid(args.device, quick=args.quick)
        if not args.quick or args.out:
            merge_json(name, {"parallel_grid": grid_rows}, grid_summary, args.out)
        return
    if args.small_step:
        from _fode_parts import bench_small_step

        step_rows, step_summary = bench_small_step(args.device, args.compare_with, quick=args.quick)
        if not args.quick or args.out:
            merge_json(name, {"small_step": step_rows}, step_summary, args.out)
        return
    sizes = args.sizes or ([256, 512] if args.quick else [1024, 2048, 4096, 8192, 16384])

    try:
        import FDEint  # noqa: F401
        have_fdeint = True
    except ImportError:
        have_fdeint = False
        print("FDEint (pip install fdeint) not installed: that column is skipped")

    for warm_up in (run_fodeint, run_trapezoid, run_parallel):  # imports, allocator, kernels
        timed(warm_up, 64)
    rows = []
    last_fdeint = None
    for n in progress(sizes, "N"):
        slow_repeat = args.repeat if n <= 4096 else 1  # the O(N^2) solvers take long at large N
        wall_fast, cpu_fast, y_fast = timed(run_fodeint, n, args.repeat)
        wall_plain, cpu_plain, y_plain = timed(plain_pece, n, slow_repeat)
        wall_trap, cpu_trap, y_trap = timed(run_trapezoid, n, args.repeat)
        wall_par, cpu_par, y_par = timed(run_parallel, n, args.repeat)
        row = {"N": n, "fodeint_s": wall_fast, "fodeint_cpu_s": cpu_fast, "plain_s": wall_plain,
               "plain_cpu_s": cpu_plain, "plain/fodeint": wall_plain / wall_fast,
               "fodeint_max_diff": float((y_fast - y_plain).abs().max()),
               "trapezoid_s": wall_trap, "parallel_s": wall_par, "parallel_cpu_s": cpu_par,
               "trapezoid/parallel": wall_trap / wall_par,
               "parallel_max_diff_to_trapezoid": float((y_par - y_trap).abs().max())}
        if have_fdeint and (last_fdeint is None or 4.5 * last_fdeint <= args.fdeint_budget):
            wall_ref, cpu_ref, y_ref = timed(run_fdeint, n, slow_repeat)
            last_fdeint = wall_ref
            row.update({"fdeint_s": wall_ref, "fdeint_cpu_s": cpu_ref, "fdeint/fodeint": wall_ref / wall_fast,
                        "fdeint/fodeint_cpu": cpu_ref / cpu_fast,
                        "fdeint/parallel": wall_ref / wall_par, "fdeint/parallel_cpu": cpu_ref / cpu_par,
                        "fdeint_max_diff": float((y_ref - y_plain).abs().max())})
        else:
            row.update({"fdeint_s": None, "fdeint_cpu_s": None, "fdeint/fodeint": None,
                        "fdeint/fodeint_cpu": None, "fdeint/parallel": None, "fdeint/parallel_cpu": None,
                        "fdeint_max_diff": None})
        rows.append(row)
        print(row, flush=True)

    columns = ["N", "fodeint_s", "plain_s", "fdeint_s", "fdeint/fodeint", "fodeint_max_diff", "fdeint_max_diff"]
    print_table(f"fodeint (PECE, O(N log^2 N)) vs FDEint and plain O(N^2) PECE; 2-D forced linear system, "
                f"alpha={ALPHA}, t in [0, {T_END:g}], float64, {args.threads} thread(s), {args.device}",
                [{k: ("-" if r[k] is None else r[k]) for k in columns} for r in rows])
    columns = ["N", "trapezoid_s", "parallel_s", "trapezoid/parallel", "fdeint/parallel", "fdeint/parallel_cpu",
               "parallel_max_diff_to_trapezoid"]
    print_table("product trapezoid rule: sequential vs parallel=True (parallel in time), same problem",
                [{k: ("-" if r[k] is None else r[k]) for k in columns} for r in rows])
    by_n = {r["N"]: r for r in rows}
    summary = {}
    if 1024 in by_n and 8192 in by_n:
        summary["fodeint_time_8192_over_1024"] = by_n[8192]["fodeint_s"] / by_n[1024]["fodeint_s"]
        summary["fodeint_cpu_8192_over_1024"] = by_n[8192]["fodeint_cpu_s"] / by_n[1024]["fodeint_cpu_s"]
        print(f"\ntime(8192)/time(1024) = {summary['fodeint_time_8192_over_1024']:.2f} wall, "
              f"{summary['fodeint_cpu_8192_over_1024']:.2f} CPU  (target <= 12)")
    if 16384 in by_n and by_n[16384]["fdeint_s"] is not None:
        summary["fdeint_over_fodeint_16384"] = by_n[16384]["fdeint/fodeint"]
        summary["fdeint_over_fodeint_16384_cpu"] = by_n[16384]["fdeint/fodeint_cpu"]
        print(f"FDEint / fodeint at N = 16384: {summary['fdeint_over_fodeint_16384']:.1f}x wall, "
              f"{summary['fdeint_over_fodeint_16384_cpu']:.1f}x CPU  (target >= 5)")
        summary["fdeint_over_parallel_16384"] = by_n[16384]["fdeint/parallel"]
        summary["fdeint_over_parallel_16384_cpu"] = by_n[16384]["fdeint/parallel_cpu"]
        print(f"FDEint / fodeint(parallel=True) at N = 16384: {summary['fdeint_over_parallel_16384']:.1f}x wall, "
              f"{summary['fdeint_over_parallel_16384_cpu']:.1f}x CPU  (target >= 20)")
    if 16384 in by_n:
        summary["parallel_max_diff_to_trapezoid_16384"] = by_n[16384]["parallel_max_diff_to_trapezoid"]
        print(f"max |parallel - sequential trapezoid| at N = 16384: "
              f"{summary['parallel_max_diff_to_trapezoid_16384']:.2e}  (target <= 1e-8)")
    training = []
    if args.training:
        training = bench_training(args.train_sizes or ([100, 200] if args.quick else [500, 2000, 8000]),
                                  args.hidden or ([16] if args.quick else [64, 256]))
        summary.update(training_summary(training))
    if not args.quick or args.out:
        parts = {"problem": {"alpha": ALPHA, "t_end": T_END, "system": "D^a y = A y + (sin t, 0)",
                             "method": "pece (and trapezoid: sequential, parallel)", "dtype": "float64",
                             "device": args.device}, "rows": rows}
        if args.training:
            parts["training"] = training
        merge_json(name, parts, summary, args.out)


def set_device(device: str) -> None:
    global DEVICE, A_T, E1
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available to torch")
    DEVICE = torch.device(device)
    A_T, E1 = A_T.to(DEVICE), E1.to(DEVICE)


def merge_json(name: str, parts: dict, summary: dict, out: str | None) -> None:
    """Write ``parts`` (and ``summary`` entries) into the benchmark JSON, keeping the other parts."""
    import json

    path = Path(out) if out else Path(__file__).resolve().parent.parent / "benchmarks" / f"{name}.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    previous.pop("machine", None)
    previous.update(parts)
    previous.setdefault("summary", {}).update(summary)
    write_json(name, previous, out)


if __name__ == "__main__":
    run_main(main)
