"""Benchmark stochastic memory (fraczoo.ops.memory) against exact Caputo history sums.

    python scripts/bench_memory.py            # lengths 1k..64k
    python scripts/bench_memory.py --quick    # lengths 1k, 4k, 16k, fewer repeats
    python scripts/bench_memory.py --forecast # also: stochastic_memory_seq vs GRU/LSTM (quick; the full
                                              # comparison is scripts/compare_memory_seq.py)

Per training step (forward + backward of the memory term D^alpha y, y of shape (batch, N), alpha a
learnable scalar) it times: the exact O(N^2) direct history (each step sums its whole past, computed
in row blocks so memory stays O(block * N); skipped above --direct-max), the exact FFT path
(``caputo``, O(N log N)) and ``stochastic_caputo`` with k = 16, 64, 256 (by_parts, control_variate and
importance samplers, O(N k)). Memory: the bytes of the tensors autograd saves for backward in one step
(torch.autograd.graph.saved_tensors_hooks), the part of a step's footprint that grows with N.
Accuracy: relative RMS error of one estimate vs the exact sum,
and the relative std predicted by the estimator's own variance estimate. Writes benchmarks/bench_memory.json.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import print_table, progress, run_main, timeit, write_json  # noqa: E402

from fraczoo.ops.history import caputo, l1_weights  # noqa: E402
from fraczoo.ops.memory import stochastic_caputo  # noqa: E402


def direct_history(y: torch.Tensor, alpha: torch.Tensor, dt: float, block: int = 512) -> torch.Tensor:
    """The exact L1 Caputo sum with every step summing its whole past: O(N^2) time, O(block N) memory."""
    n = y.shape[-1]
    d = y.diff(dim=-1)
    w = l1_weights(alpha, n - 1, dtype=y.dtype)
    scale = torch.exp(-alpha * math.log(dt) - torch.lgamma(2 - alpha)).to(y.dtype)
    rows = []
    for start in range(0, n - 1, block):
        steps = torch.arange(start, min(start + block, n - 1))[:, None]     # output step n-1 <-> index
        lags = steps - torch.arange(n - 1)[None, :]
        mat = torch.where(lags >= 0, w[lags.clamp(min=0)], torch.zeros((), dtype=y.dtype))
        rows.append(d @ mat.T)
    return torch.nn.functional.pad(scale * torch.cat(rows, -1), (1, 0))


def saved_bytes(fn) -> int:
    """Bytes of the tensors autograd saves for backward in one forward of ``fn`` (the step's memory)."""
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return total


def bench_memory(lengths, ks, batch, repeat, direct_max, seed=0):
    rows = []
    gen = torch.Generator().manual_seed(seed)
    for n in progress(lengths, "N"):
        t = torch.linspace(0, 1, n, dtype=torch.float64)
        dt = float(t[1] - t[0])
        walk = torch.cumsum(torch.randn(batch, n, generator=gen, dtype=torch.float64), -1) / math.sqrt(n)
        y = (torch.sin(6 * t) + walk).float().requires_grad_()
        alpha = torch.tensor(0.5, requires_grad=True)
        exact = caputo(y.detach().double(), 0.5, dt)
        norm = float(exact[:, 1:].square().mean().sqrt())

        def step(fn):
            return lambda: fn().square().mean().backward()

        methods = {"fft exact": lambda: caputo(y, alpha, dt)}
        if n <= direct_max:
            methods["direct O(N^2)"] = lambda: direct_history(y, alpha, dt)
        for sampler in ("by_parts", "control_variate", "importance"):
            for k in ks:
                methods[f"{sampler} k={k}"] = (lambda k=k, s=sampler: stochastic_caputo(
                    y, alpha, dt, k, sampler=s, generator=torch.Generator().manual_seed(1), share_draws=True))
        times = {}
        for name, fn in methods.items():
            times[name] = timeit(step(fn), repeat=repeat, warmup=1)
            row = {"N": n, "method": name, "step_s": times[name], "saved_MB": saved_bytes(fn) / 2 ** 20,
                   "rel_rms_error": 0.0, "rel_pred_std": 0.0}
            if name.startswith(("by_parts", "control", "importance")):
                sampler, k = name.split(" k=")
                with torch.no_grad():
                    est, var = stochastic_caputo(y.double(), 0.5, dt, int(k), sampler=sampler, generator=
                                                 torch.Generator().manual_seed(2), return_variance=True)
                row["rel_rms_error"] = float((est - exact)[:, 1:].square().mean().sqrt()) / norm
                row["rel_pred_std"] = float(var[:, 1:].mean().sqrt()) / norm
            rows.append(row)
        for row in rows:
            if row["N"] == n:
                row["vs_fft"] = times["fft exact"] / row["step_s"]
                row["vs_direct"] = times["direct O(N^2)"] / row["step_s"] if "direct O(N^2)" in times else ""
        print_table(f"N = {n}", [r for r in rows if r["N"] == n])
    return rows


def bench_forecast(length=512, train_size=1024, epochs=3, seed=0):
    """stochastic_memory_seq vs GRU and LSTM with (about) the same number of parameters, same data,
    same optimiser and budget; the oracle is the best linear predictor's MSE (Durbin-Levinson)."""
    import fraczoo
    from fraczoo.datamodules.long_memory import one_step_mse

    torch.manual_seed(seed)
    dm = fraczoo.create_datamodule("stochastic_memory_seq", length=length + 1, train_size=train_size,
                                   val_size=256, test_size=32, batch_size=32, seed=seed)
    dm.setup()
    xv, yv, dv = dm.splits["val"].tensors

    class RNN(torch.nn.Module):
        def __init__(self, cell, hidden):
            super().__init__()
            self.rnn = cell(1, hidden, batch_first=True)
            self.head = torch.nn.Linear(hidden, 1)

        def forward(self, x):
            return self.head(self.rnn(x.unsqueeze(-1))[0]).squeeze(-1)

    models = {"stochastic_memory_seq": fraczoo.create_model("stochastic_memory_seq"),
              "GRU(h=12)": RNN(torch.nn.GRU, 12), "LSTM(h=10)": RNN(torch.nn.LSTM, 10)}
    rows = []
    for name, model in models.items():
        torch.manual_seed(seed)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
        start = time.perf_counter()
        for _ in range(epochs):
            model.train()
            for x, y, _ in dm.train_dataloader():
                opt.zero_grad()
                torch.nn.functional.mse_loss(model(x), y).backward()
                opt.step()
        train_s = time.perf_counter() - start
        model.eval()
        with torch.no_grad():
            mse = float(torch.nn.functional.mse_loss(model(xv), yv))
        row = {"model": name, "params": sum(p.numel() for p in model.parameters()), "val_mse": mse,
               "train_s": train_s}
        if name == "stochastic_memory_seq":
            row["alpha_mean"] = float(model.backbone.alpha.detach().mean())
        rows.append(row)
    acvf = dm.autocovariance(dv.double())
    rows.append({"model": "oracle (best linear predictor)", "params": "", "train_s": "",
                 "val_mse": float(one_step_mse(acvf)[:, 1:].mean())})
    rows.append({"model": "forecast 0 (mean)", "params": "", "train_s": "", "val_mse": float(yv.square().mean())})
    print_table(f"one-step forecasting, ARFIMA(0,d,0), d ~ U(0.05, 0.45), length {length}, "
                f"{train_size} train series, {epochs} epochs", rows)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="lengths 1k, 4k, 16k; 2 repeats")
    parser.add_argument("--forecast", action="store_true", help="also compare the zoo model with GRU/LSTM")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--direct-max", type=int, default=16384, help="longest N for the O(N^2) history")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--lengths", type=int, nargs="*", default=None, help="override the lengths")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    lengths = args.lengths or ([1024, 4096, 16384] if args.quick else [1024, 4096, 16384, 65536])
    rows = bench_memory(lengths, [16, 64, 256], args.batch, 2 if args.quick else 3, args.direct_max)
    payload = {"batch": args.batch, "direct_max": args.direct_max, "rows": rows,
               "note": f"direct O(N^2) history skipped above N = {args.direct_max} (time)"}
    if args.forecast:
        payload["forecast"] = bench_forecast()
    write_json("bench_memory", payload, args.out)


if __name__ == "__main__":
    run_main(main)
