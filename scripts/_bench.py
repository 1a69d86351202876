"""Shared timing and reporting for scripts/bench_*.py (median of repeats, table + JSON, progress,
clean Ctrl-C)."""
from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

ROOT = Path(__file__).resolve().parent.parent


def timeit(fn, *, repeat: int = 5, warmup: int = 1, device: str = "cpu") -> float:
    """Median wall time of ``fn()`` in seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def machine() -> dict:
    return {"python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpu": platform.processor() or platform.machine(),
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
            # the machine is shared: compare times within one run (same load), not across runs
            "load_average_1_5_15_min": list(os.getloadavg()), "cpu_count": os.cpu_count()}


def print_table(title: str, rows: list[dict]) -> None:
    if not rows:
        return
    cols = list(rows[0])
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
    widths = [max(len(c), *(len(fmt(r.get(c, ""))) for r in rows)) for c in cols]
    print(f"\n{title}")
    print("  ".join(c.rjust(w) for c, w in zip(cols, widths)))
    for r in rows:
        print("  ".join(fmt(r.get(c, "")).rjust(w) for c, w in zip(cols, widths)))


def write_json(name: str, payload: dict, out: str | None = None) -> Path:
    path = Path(out) if out else ROOT / "benchmarks" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2) + "\n")
    print(f"\nwrote {path}")
    return path


def progress(iterable, desc: str):
    """A tqdm progress bar on stderr (the tables and JSON path go to stdout)."""
    return tqdm(iterable, desc=desc, leave=False, file=sys.stderr, dynamic_ncols=True)


def run_main(main) -> None:
    """Run a script's ``main``; Ctrl-C stops it with a one-line message and exit status 130. Results are
    written only at the end of a run, so an interrupted run leaves the previous JSON as it was."""
    try:
        main()
    except KeyboardInterrupt:
        print("\ninterrupted: nothing was written", file=sys.stderr)
        sys.exit(130)
