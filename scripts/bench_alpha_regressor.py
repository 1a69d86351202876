"""Throughput of bayesian_alpha_regressor.predict_alpha on CPU (trajectories per second), 1 and 2 threads.

    python scripts/bench_alpha_regressor.py                 # andi1d and andi2d, 2,000 trajectories each
    python scripts/bench_alpha_regressor.py --quick         # 200 trajectories, one repeat
    python scripts/bench_alpha_regressor.py --compare old.pt  # also other weights of either dim, same trajectories

Data: ``simulate(n, balance="challenge", length=(10, 999))`` (the organisers' task-1 mix and lengths,
mean length ~505), the default ``predict_alpha`` (batch 256, plain and ``symmetrize=True``), median
of ``--repeat`` runs after a warm-up. Baseline in the same run: the TAMSD fit of
``scripts/eval_alpha_regressor.py`` (numpy) on the same trajectories. The load average of the
machine before and after is recorded (this machine is shared: times vary with its load).
Writes benchmarks/bench_alpha_regressor.json.
"""
from __future__ import annotations

import argparse
import os

import numpy as np
import torch

from _bench import print_table, run_main, timeit, write_json
from eval_alpha_regressor import tamsd_alpha

import fraczoo
from fraczoo.datamodules.andi import simulate


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--compare", nargs="+", default=[],
                        help="other weights (pretrained names or files) timed on the same trajectories as the "
                             "shipped weights of their dim (plain predict_alpha)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    n, repeat = (200, 1) if args.quick else (args.n, args.repeat)
    load_before = os.getloadavg()
    rows = []
    others = {str(source): fraczoo.load_pretrained(source) for source in args.compare}
    for dim in (1, 2):
        model = fraczoo.load_pretrained(f"bayesian_alpha_regressor.andi{dim}d")
        data = simulate(n, dim=dim, length=(10, 999), balance="challenge", seed=7, dtype=np.float32)
        x, lengths = torch.from_numpy(data.positions), torch.from_numpy(data.lengths)
        for threads in args.threads:
            torch.set_num_threads(threads)
            for symmetrize in (False, True):
                seconds = timeit(lambda: model.predict_alpha(x, lengths, symmetrize=symmetrize), repeat=repeat)
                rows.append({"dim": dim, "threads": threads, "method": f"predict_alpha(symmetrize={symmetrize})",
                             "seconds": seconds, "trajectories/s": n / seconds})
            for source, other in others.items():
                if other.hparams.dim == dim:
                    seconds = timeit(lambda: other.predict_alpha(x, lengths), repeat=repeat)
                    rows.append({"dim": dim, "threads": threads, "method": f"predict_alpha of {source}",
                                 "seconds": seconds, "trajectories/s": n / seconds})
        positions = data.positions.astype(np.float64)
        seconds = timeit(lambda: tamsd_alpha(positions, data.lengths), repeat=repeat)
        rows.append({"dim": dim, "threads": 1, "method": "TAMSD fit (numpy)", "seconds": seconds,
                     "trajectories/s": n / seconds})
    load_after = os.getloadavg()
    print_table(f"{n} trajectories, lengths 10..999 (challenge mix); load average before {load_before[0]:.1f}, "
                f"after {load_after[0]:.1f} on {os.cpu_count()} cores", rows)
    if not args.quick or args.out:
        write_json("bench_alpha_regressor", {"n": n, "repeat": repeat, "load_average_before": load_before,
                                             "load_average_after": load_after, "cores": os.cpu_count(),
                                             "rows": rows}, out=args.out)


if __name__ == "__main__":
    run_main(main)
