"""Overhead of the fraczoo callbacks on training time, at their default intervals.

    python scripts/bench_callbacks.py            # spectral_fractional_cnn on 32x32 fields, 3 epochs each
    python scripts/bench_callbacks.py --quick

Baseline: the same Trainer.fit without the callback (same seed, data, model), after one warm-up fit,
configurations interleaved, median of --repeat runs. Two overheads: whole-fit time(with) / time(baseline)
- 1, and, directly, the time spent inside the callback's hooks / time(baseline) (whole-fit times on a
shared machine vary by several percent; hook time does not). Target: < 10% at the default interval.
GradientVarianceMonitor at every_n_steps=1 gives its per-measurement cost.
Writes benchmarks/bench_callbacks.json.
"""
from __future__ import annotations

import argparse
import time

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=3, help="runs per configuration (median of the times)")
    args = parser.parse_args()
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
    rows, base = [], None
    for name, values in times.items():
        seconds = sorted(values)[len(values) // 2]
        in_hooks = sorted(inside[name])[len(values) // 2]
        base = base or seconds
        rows.append({"configuration": name, "fit seconds (median)": seconds, "min": min(values), "max": max(values),
                     "overhead (fit time)": f"{100 * (seconds / base - 1):+.1f}%",
                     "seconds inside hooks": in_hooks, "overhead (hook time / baseline)": f"{100 * in_hooks / base:.1f}%"})
    steps = epochs * train_size // 64
    print_table(f"callback overhead: spectral_fractional_cnn, {steps} training steps, batch 64, "
                f"{torch.get_num_threads()} threads", rows)
    write_json("bench_callbacks", {"steps": steps, "rows": rows},
               out="/tmp/bench_callbacks.json" if args.quick else None)


if __name__ == "__main__":
    run_main(main)
