"""Overhead of the fraczoo callbacks on training time, at their default intervals.

    python scripts/bench_callbacks.py            # spectral_fractional_cnn on 32x32 fields, 3 epochs each
    python scripts/bench_callbacks.py --quick

Baseline: the same Trainer.fit without the callback (same seed, data, model), after one warm-up fit,
configurations interleaved, median of --repeat runs. Two overheads: whole-fit time(with) / time(baseline)
- 1, and, directly, the time spent inside the callback's hooks / time(baseline) (whole-fit times on a
shared machine vary by several percent; hook time does not). Target: < 10% at the default interval.
GradientVarianceMonitor at every_n_steps=1 gives its per-measurement cost.
Writes benchmarks/bench_callbacks.json.

    python scripts/bench_callbacks.py --ddp      # also: 2-process CPU DDP (gloo), GradientVarianceMonitor modes

The DDP part fits the same model in 2 processes (strategy "ddp", gloo, one thread each, batch 64 per rank):
no callback, ``mode="ddp_hook"`` (every step), the micro-batch mode every 50 steps and every step.
"Inside hooks" adds, for the hook mode, the time of its work inside DDP's communication hook (the
per-parameter norms before and after the all-reduce, and the per-rank numbers that ride on the last
bucket's all-reduce; the division and the all-reduce itself are what DDP's default hook does too). Target for
``mode="ddp_hook"``: < 1% at every step.
"""
from __future__ import annotations

import argparse
import json
import socket
import tempfile
import time
from pathlib import Path

import lightning as L
import torch

from _bench import print_table, progress, run_main, write_json

import fraczoo
from fraczoo.callbacks import AlphaPosteriorMonitor, GradientVarianceMonitor


def time_hooks(callback) -> list[float]:
    """Wrap every Lightning hook of ``callback`` so the time spent inside it is recorded (a direct
    measurement of the callback's cost, free of the run-to-run noise of whole fits)."""
    spent: list[float] = []
    for name in dir(type(callback)):
        if name.startswith("on_") and callable(getattr(callback, name)):
            hook = getattr(callback, name)

            def timed(*args, _hook=hook, **kwargs):
                start = time.perf_counter()
                try:
                    return _hook(*args, **kwargs)
                finally:
                    spent.append(time.perf_counter() - start)
            setattr(callback, name, timed)
    return spent


def fit_seconds(callbacks, epochs: int, train_size: int) -> float:
    L.seed_everything(0)
    model = fraczoo.create_model("spectral_fractional_cnn")
    data = fraczoo.create_datamodule("spectral_fractional_cnn", size=32, train_size=train_size, val_size=64,
                                     test_size=64, batch_size=64)
    data.setup("fit")
    trainer = L.Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, callbacks=callbacks, limit_val_batches=0,
                        num_sanity_val_steps=0)
    start = time.perf_counter()
    trainer.fit(model, data)
    return time.perf_counter() - start


DDP_CONFIGS = {
    "baseline (no callback)": {},
    "GradientVarianceMonitor(mode='ddp_hook') (every step)": dict(mode="ddp_hook"),
    "GradientVarianceMonitor() (micro-batches, every 50 steps)": dict(),
    "GradientVarianceMonitor(every_n_steps=1) (micro-batches)": dict(every_n_steps=1),
}


def _timed(owner, names, spent: list[float], clock) -> None:
    """Wrap the methods ``names`` of ``owner`` so that the ``clock`` time spent inside goes to ``spent``."""
    for name in names:
        original = getattr(owner, name)

        def timed(*args, _original=original, **kwargs):
            start = clock()
            try:
                return _original(*args, **kwargs)
            finally:
                spent.append(clock() - start)
        setattr(owner, name, timed)


def _cpu_hooks(callback) -> list[float]:
    """Thread CPU time inside ``callback``'s Lightning hooks (wall time of short sections on a loaded
    machine mostly measures the scheduler)."""
    spent: list[float] = []
    _timed(callback, [n for n in dir(type(callback)) if n.startswith("on_") and callable(getattr(callback, n))],
           spent, time.thread_time)
    return spent


def ddp_worker(rank: int, world: int, port: int, out: str, rounds: int, epochs: int, train_size: int) -> None:
    """One rank of the DDP comparison: every configuration, ``rounds`` times, interleaved; rank 0 writes."""
    import os

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), NODE_RANK="0",
                      LOCAL_RANK=str(rank), RANK=str(rank), WANDB_MODE="disabled")
    torch.set_num_threads(1)
    import warnings

    warnings.filterwarnings("ignore")
    from fraczoo.callbacks import _ddp_hook

    # the ddp_hook mode's own work inside DDP's communication hook: all of it but the division and the
    # all-reduce that DDP's default hook does too
    in_comm_hook: list[float] = []
    _timed(_ddp_hook.GradientNormHook, ["before", "after"], in_comm_hook, time.thread_time)
    times = {name: [] for name in DDP_CONFIGS}
    inside = {name: [] for name in DDP_CONFIGS}
    cpu = {name: [] for name in DDP_CONFIGS}

    def fit(callbacks) -> tuple[float, float]:
        L.seed_everything(0)
        model = fraczoo.create_model("spectral_fractional_cnn")
        data = fraczoo.create_datamodule("spectral_fractional_cnn", size=32, train_size=train_size, val_size=64,
                                         test_size=64, batch_size=64)
        trainer = L.Trainer(strategy="ddp", accelerator="cpu", devices=world, max_epochs=epochs, logger=False,
                            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                            callbacks=callbacks, limit_val_batches=0, num_sanity_val_steps=0)
        start, start_cpu = time.perf_counter(), time.process_time()
        trainer.fit(model, data)
        return time.perf_counter() - start, time.process_time() - start_cpu

    fit([])  # warm-up
    for _ in range(rounds):
        for name, kwargs in DDP_CONFIGS.items():
            callbacks = [GradientVarianceMonitor(**kwargs)] if name != "baseline (no callback)" else []
            spent = [_cpu_hooks(cb) for cb in callbacks]
            in_comm_hook.clear()
            wall, process_cpu = fit(callbacks)
            times[name].append(wall)
            cpu[name].append(process_cpu)
            inside[name].append(sum(sum(x) for x in spent) + sum(in_comm_hook))
    if rank == 0:
        Path(out).write_text(json.dumps({"times": times, "inside": inside, "cpu": cpu}))


def bench_ddp(rounds: int, epochs: int, train_size: int) -> list[dict]:
    import torch.multiprocessing as mp

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = Path(tempfile.mkdtemp()) / "ddp.json"
    mp.start_processes(ddp_worker, args=(2, port, str(out), rounds, epochs, train_size), nprocs=2,
                       start_method="spawn")
    result = json.loads(out.read_text())
    rows = summarise(result["times"], result["inside"], cpu=result["cpu"])
    return rows


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def summarise(times: dict[str, list[float]], inside: dict[str, list[float]],
              cpu: dict[str, list[float]] | None = None) -> list[dict]:
    """Rows of the table: whole-fit time against the first configuration, and the time inside the
    callback (wall time; with ``cpu``: the hooks' thread CPU time against the baseline fit's process CPU)."""
    rows, base = [], None
    base_cpu = _median(next(iter(cpu.values()))) if cpu else None
    for name, values in times.items():
        seconds, in_hooks = _median(values), _median(inside[name])
        base = base or seconds
        row = {"configuration": name, "fit seconds (median)": seconds, "min": min(values), "max": max(values),
               "overhead (fit time)": f"{100 * (seconds / base - 1):+.1f}%"}
        if cpu:
            row.update({"fit CPU seconds (rank 0)": _median(cpu[name]), "CPU seconds inside hooks": in_hooks,
                        "overhead (hook CPU / baseline CPU)": f"{100 * in_hooks / base_cpu:.2f}%"})
        else:
            row.update({"seconds inside hooks": in_hooks,
                        "overhead (hook time / baseline)": f"{100 * in_hooks / base:.1f}%"})
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=3, help="runs per configuration (median of the times)")
    parser.add_argument("--ddp", action="store_true", help="also the 2-process DDP comparison")
    parser.add_argument("--ddp-only", action="store_true", help="only the DDP comparison (merged into the JSON)")
    args = parser.parse_args()
    if args.ddp or args.ddp_only:
        ddp_epochs, ddp_train = (1, 512) if args.quick else (2, 12800)  # 100 steps per epoch per rank at batch 64
        ddp_rows = bench_ddp(args.repeat, ddp_epochs, ddp_train)
        ddp_steps = ddp_epochs * ddp_train // (2 * 64)
        print_table(f"callback overhead under 2-process CPU DDP (gloo, 1 thread per rank): spectral_fractional_cnn, "
                    f"{ddp_steps} steps of batch 64 per rank", ddp_rows)
        if args.ddp_only:
            path = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_callbacks.json"
            previous = json.loads(path.read_text()) if path.exists() and not args.quick else {}
            previous.pop("machine", None)
            write_json("bench_callbacks", {**previous, "ddp_steps": ddp_steps, "ddp_rows": ddp_rows},
                       out="/tmp/bench_callbacks.json" if args.quick else None)
            return
    epochs, train_size = (1, 640) if args.quick else (3, 12800)   # 200 steps per epoch at batch 64
    configs = {
        "baseline (no callback)": lambda: [],
        "AlphaPosteriorMonitor()": lambda: [AlphaPosteriorMonitor()],
        "GradientVarianceMonitor() (every 50 steps)": lambda: [GradientVarianceMonitor()],
        "both": lambda: [AlphaPosteriorMonitor(), GradientVarianceMonitor()],
        "GradientVarianceMonitor(every_n_steps=1)": lambda: [GradientVarianceMonitor(every_n_steps=1)],
    }
    fit_seconds([], 1, 640)  # warm-up: first-call costs (imports, allocator) must not land on one configuration
    times: dict[str, list[float]] = {name: [] for name in configs}
    inside: dict[str, list[float]] = {name: [] for name in configs}
    for _ in progress(range(args.repeat), "rounds"):  # round-robin, so slow drifts of the machine hit every configuration alike
        for name, make in configs.items():
            callbacks = make()
            spent = [time_hooks(cb) for cb in callbacks]
            times[name].append(fit_seconds(callbacks, epochs, train_size))
            inside[name].append(sum(sum(s) for s in spent))
    rows = summarise(times, inside)
    steps = epochs * train_size // 64
    print_table(f"callback overhead: spectral_fractional_cnn, {steps} training steps, batch 64, "
                f"{torch.get_num_threads()} threads", rows)
    payload = {"steps": steps, "rows": rows}
    if args.ddp:
        payload.update(ddp_steps=ddp_steps, ddp_rows=ddp_rows)
    write_json("bench_callbacks", payload, out="/tmp/bench_callbacks.json" if args.quick else None)


if __name__ == "__main__":
    run_main(main)
