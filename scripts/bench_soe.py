"""Streaming fractional memory at constant state: the sum-of-exponentials (SOE) GL kernel of fraczoo.ops.soe
against the exact FFT history over a long stream.

    python scripts/bench_soe.py                 # N = 10^6 steps (~1-3 min on one CPU thread)
    python scripts/bench_soe.py --steps 100000  # shorter

For each tolerance: K (exponentials per channel, the whole streaming state of the memory), the largest
relative error of the SOE kernel over every lag 1..N, and the relative error of the streamed one-step
forecasts -sum_{k>=1} g_k(d) x_{n+1-k} (float64 ``soe_update`` recursion, one step at a time) against the
exact FFT sum (``causal_conv`` of the full GL weights) over all N steps, on exact ARFIMA(0, d, 0) inputs with
the same d. Writes benchmarks/bench_soe.json.
"""
from __future__ import annotations

import argparse
import time

import torch

from _bench import print_table, run_main, write_json

from fraczoo.datamodules.long_memory import arfima
from fraczoo.ops._toeplitz import causal_conv
from fraczoo.ops.history import gl_weights
from fraczoo.ops.soe import gl_soe, soe_update

ORDERS = (0.05, 0.25, 0.45, 0.49)


def kernel_error(orders: torch.Tensor, n: int, tol: float) -> tuple[int, float]:
    rates, weights = gl_soe(orders, n, tol=tol)
    exact = gl_weights(orders, n + 1, dtype=torch.float64)[..., 1:]                 # g_1 .. g_n
    worst = 0.0
    for start in range(0, n, 65536):                                                  # lags in chunks
        lags = torch.arange(start, min(n, start + 65536), dtype=torch.float64)      # k - 1
        approx = weights @ torch.exp(-rates[:, None] * lags)
        worst = max(worst, float(((approx - exact[..., start:start + len(lags)]) / exact[..., start:start + len(lags)])
                                 .abs().max()))
    return len(rates), worst


def stream_error(orders: torch.Tensor, x: torch.Tensor, tol: float) -> tuple[float, float, float]:
    """x (C, N): streams every channel with its own order; returns (relative l2 error, max error / max |exact|,
    microseconds per step)."""
    n = x.shape[-1]
    rates, weights = gl_soe(orders, n, tol=tol)
    state = torch.zeros(x.shape[0], len(rates), dtype=torch.float64)
    out = torch.empty_like(x)
    start = time.perf_counter()
    for i in range(n):
        state = soe_update(state, x[:, i], rates)
        out[:, i] = -(weights * state).sum(-1)
    per_step = (time.perf_counter() - start) / n * 1e6
    exact = -causal_conv(gl_weights(orders, n + 1, dtype=torch.float64)[..., 1:], x)
    err = out - exact
    return float(err.norm() / exact.norm()), float(err.abs().max() / exact.abs().max()), per_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10**6)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    n = args.steps
    orders = torch.tensor(ORDERS, dtype=torch.float64)
    x = arfima(orders, n, generator=torch.Generator().manual_seed(0))
    rows = []
    for tol in (1e-7, 1e-9):
        k, kerr = kernel_error(orders, n, tol)
        rel, peak, per_step = stream_error(orders, x, tol)
        rows.append({"tol": tol, "N": n, "K (state per channel)": k, "kernel max rel err": kerr,
                     "stream rel l2 err": rel, "stream max err / max": peak, "us per step (4 channels)": per_step})
        print(rows[-1], flush=True)
    sizes = [{"horizon": 10**e, "K at tol 1e-9": len(gl_soe(orders, 10**e, tol=1e-9)[0])} for e in range(3, 10)]
    print_table(f"SOE GL memory vs exact FFT memory, orders {ORDERS}, exact ARFIMA inputs", rows)
    print_table("state size against the stream length it holds", sizes)
    write_json("bench_soe", {"orders": list(ORDERS), "rows": rows, "sizes": sizes}, args.out)


if __name__ == "__main__":
    run_main(main)
