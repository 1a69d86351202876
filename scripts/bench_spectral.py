"""Forward+backward throughput of the spectral fractional conv block vs nn.Conv2d of the same shape.

    python scripts/bench_spectral.py            # batch 32, 16 -> 16 channels, 64x64 and 256x256
    python scripts/bench_spectral.py --quick    # smaller, for a smoke run

Baselines: nn.Conv2d 3x3 and 7x7 (padding "same") with the same in/out channels. The fractional block is
``SpectralFractionalConv2d`` (per-channel learnable order, FFT fractional Laplacian, 1x1 mix + skip),
periodic and zero-padded. Images/s = batch / median step time. Writes benchmarks/bench_spectral.json.
"""
from __future__ import annotations

import argparse

import torch
from torch import nn

from _bench import print_table, progress, run_main, timeit, write_json

from fraczoo.nn import SpectralFractionalConv2d


def step_time(layer: nn.Module, x: torch.Tensor, device: str, repeat: int) -> float:
    def step():
        layer.zero_grad(set_to_none=True)
        layer(x).square().mean().backward()
    return timeit(step, repeat=repeat, device=device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/bench_spectral[_cuda].json)")
    args = parser.parse_args()
    batch, channels = (4, 8) if args.quick else (32, 16)
    sizes = (32, 64) if args.quick else (64, 256)
    repeat = 2 if args.quick else 5
    rows = []
    for size in progress(sizes, "size"):
        x = torch.randn(batch, channels, size, size, device=args.device)
        layers = {
            "fractional (periodic)": SpectralFractionalConv2d(channels, channels, padding="periodic"),
            "fractional (zero-pad)": SpectralFractionalConv2d(channels, channels, padding="zero"),
            "Conv2d 3x3": nn.Conv2d(channels, channels, 3, padding=1),
            "Conv2d 7x7": nn.Conv2d(channels, channels, 7, padding=3),
        }
        base = None
        for name, layer in layers.items():
            seconds = step_time(layer.to(args.device), x, args.device, repeat)
            base = base or seconds
            rows.append({"size": f"{size}x{size}", "layer": name, "params": sum(p.numel() for p in layer.parameters()),
                         "ms/step": 1e3 * seconds, "images/s": batch / seconds,
                         "time vs fractional (periodic)": seconds / base})
    print_table(f"forward+backward, batch {batch}, {channels}->{channels} channels, {args.device}", rows)
    if not args.quick or args.out:
        write_json("bench_spectral" + ("_cuda" if args.device == "cuda" else ""),
                   {"batch": batch, "channels": channels, "device": args.device, "rows": rows}, out=args.out)


if __name__ == "__main__":
    run_main(main)
