"""Benchmark the operator core against named baselines in the same run.

    python scripts/bench_ops.py            # full run (a few minutes on 2 cores)
    python scripts/bench_ops.py --quick    # smoke run

1. spectral_derivative forward+backward vs the bare rfft/irfft round trip (forward+backward), 64 x 4096
   float32. Target: ratio <= 1.5.
2. caputo (L1, automatic FFT history) vs the direct O(N^2) history sum, N = 2^10 .. 2^16, float64:
   both times and the max difference.
3. mittag_leffler throughput (points/s) at alpha = 0.5 vs scipy.special.erfcx (the same function,
   E_{1/2}(-x) = erfcx(x)) and at alpha = 0.7 (general path).
Writes benchmarks/bench_ops.json.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import print_table, progress, run_main, timeit, write_json  # noqa: E402

from fraczoo.ops import caputo, mittag_leffler, spectral_derivative  # noqa: E402
from fraczoo.ops._toeplitz import toeplitz_matrix  # noqa: E402
from fraczoo.ops.history import l1_weights  # noqa: E402


def bench_spectral(batch: int, n: int, repeat: int) -> list[dict]:
    x = torch.randn(batch, n, requires_grad=True)
    grad = torch.randn(batch, n)

    def roundtrip():
        y = torch.fft.irfft(torch.fft.rfft(x), n)
        y.backward(grad)

    rows = []
    base = timeit(roundtrip, repeat=repeat)
    for alpha in (0.5, 1.3):
        def frac():
            spectral_derivative(x, alpha).backward(grad)

        t = timeit(frac, repeat=repeat)
        rows.append({"shape": f"{batch}x{n}", "alpha": alpha, "rfft_roundtrip_ms": base * 1e3,
                     "spectral_ms": t * 1e3, "ratio": t / base, "target": "<= 1.5"})
    return rows


def direct_caputo(y: torch.Tensor, alpha: float, dt: float, block: int = 2048) -> torch.Tensor:
    """Baseline: the L1 history sum evaluated directly, O(N^2), in row blocks to bound memory."""
    n = y.shape[-1]
    w = l1_weights(alpha, n - 1, dtype=y.dtype) * dt ** (-alpha) / math.gamma(2 - alpha)
    d = torch.diff(y, dim=-1)
    out = torch.zeros_like(y)
    for start in range(0, n - 1, block):
        stop = min(start + block, n - 1)
        rows = torch.arange(start, stop)[:, None] - torch.arange(n - 1)[None, :]  # lag = row - col
        mat = torch.where(rows >= 0, w[rows.clamp(min=0)], torch.zeros((), dtype=y.dtype))
        out[..., start + 1:stop + 1] = d @ mat.T
    return out


def bench_history(powers: range, batch: int, repeat: int) -> list[dict]:
    rows = []
    alpha = 0.6
    for p in progress(powers, "caputo N"):
        n = 2 ** p
        t = torch.linspace(0, 1, n, dtype=torch.float64)
        y = torch.sin(6 * t)[None].repeat(batch, 1) + 0.1 * torch.randn(batch, n, dtype=torch.float64)
        dt = float(t[1] - t[0])
        fast = caputo(y, alpha, dt)
        slow = direct_caputo(y, alpha, dt)
        t_fast = timeit(lambda: caputo(y, alpha, dt), repeat=repeat)
        t_slow = timeit(lambda: direct_caputo(y, alpha, dt), repeat=max(1, repeat // 2), warmup=0)
        rows.append({"N": n, "batch": batch, "fft_ms": t_fast * 1e3, "direct_ms": t_slow * 1e3,
                     "speedup": t_slow / t_fast, "max_abs_diff": float((fast - slow).abs().max()),
                     "max_rel_diff": float(((fast - slow).abs().max() / slow.abs().max()))})
    return rows


def bench_mittag_leffler(n: int, repeat: int) -> list[dict]:
    from scipy.special import erfcx

    x = torch.rand(n, dtype=torch.float64) * 100
    xn = x.numpy()
    t_ref = timeit(lambda: erfcx(xn), repeat=repeat)
    rows = []
    for alpha in (0.5, 0.7):
        z = -x
        t = timeit(lambda: mittag_leffler(z, alpha), repeat=repeat)
        row = {"alpha": alpha, "points": n, "fraczoo_Mpts_per_s": n / t / 1e6,
               "scipy_erfcx_Mpts_per_s": n / t_ref / 1e6, "ratio_vs_erfcx": t / t_ref}
        if alpha == 0.5:
            row["max_rel_err_vs_erfcx"] = float(np.max(np.abs(mittag_leffler(z, 0.5).numpy() - erfcx(xn))
                                                       / erfcx(xn)))
        rows.append(row)
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/bench_ops.json)")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    repeat = 3 if args.quick else 7
    spectral = bench_spectral(64, 1024 if args.quick else 4096, repeat)
    print_table("spectral_derivative fwd+bwd vs rfft/irfft round trip (float32)", spectral)
    history = bench_history(range(10, 13) if args.quick else range(10, 17), 4, 3)
    print_table("caputo L1: FFT history vs direct O(N^2) sum (float64)", history)
    ml = bench_mittag_leffler(10 ** 4 if args.quick else 10 ** 6, repeat)
    print_table("mittag_leffler throughput (float64)", ml)
    write_json("bench_ops", {"quick": args.quick, "spectral": spectral, "history": history,
                             "mittag_leffler": ml}, args.out)


if __name__ == "__main__":
    run_main(main)
