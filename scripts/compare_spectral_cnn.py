"""Model-card numbers for spectral_fractional_cnn: against a plain CNN of the same size and, for the Hurst
exponent, against the classical variogram estimator; and the effect of fine-tuning on digits.

    python scripts/compare_spectral_cnn.py            # ~15 min on 2 CPU cores
    python scripts/compare_spectral_cnn.py --quick    # smoke run

Every number is a test-split metric of a fresh training run with a fixed seed (no early stopping, no
selection on the test split). Writes benchmarks/compare_spectral_cnn.json.
"""
from __future__ import annotations

import argparse

import lightning as L
import torch
from torch import nn

from _bench import print_table, progress, run_main, write_json

import fraczoo
from fraczoo.datamodules import DigitsDataModule, FractionalFieldDataModule
from fraczoo.models.spectral_fractional_cnn import SpectralFractionalCNN


class PlainCNN(SpectralFractionalCNN):
    """The same model with 3x3 convolutions in place of the fractional blocks (same head, loss, metrics)."""

    def __init__(self, widths: tuple[int, ...] = (16, 32), **kwargs):
        super().__init__(channels=widths, **kwargs)
        stages, prev = [], self.hparams.in_channels
        for width in widths:
            stages += [nn.Conv2d(prev, width, 3, padding=1), nn.BatchNorm2d(width), nn.GELU(), nn.AvgPool2d(2)]
            prev = width
        self.backbone = nn.Sequential(*stages, nn.AdaptiveAvgPool2d(1), nn.Flatten())


def num_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def matched_plain_cnn(target: int, **kwargs) -> PlainCNN:
    """The plain CNN with widths (c, 2c) whose parameter count is closest to ``target``."""
    best = min(range(2, 64), key=lambda c: abs(num_params(PlainCNN((c, 2 * c), **kwargs)) - target))
    return PlainCNN((best, 2 * best), **kwargs)


def variogram_hurst(x: torch.Tensor, lags=(1, 2, 3, 4)) -> torch.Tensor:
    """Classical estimator: E|X(p + h) - X(p)|^2 ~ h^(2H) for a fractional Brownian surface, so H is half
    the slope of log variogram against log lag (both axes, periodic differences). x: (B, 1, n, n)."""
    logs = []
    for h in lags:
        dx = x - torch.roll(x, h, dims=-1)
        dy = x - torch.roll(x, h, dims=-2)
        logs.append(torch.log(0.5 * (dx.pow(2).mean(dim=(-3, -2, -1)) + dy.pow(2).mean(dim=(-3, -2, -1)))))
    logh = torch.log(torch.tensor(lags, dtype=x.dtype))
    logs = torch.stack(logs, -1)
    slope = ((logh - logh.mean()) * (logs - logs.mean(-1, keepdim=True))).sum(-1) / (logh - logh.mean()).pow(2).sum()
    return (slope / 2).clamp(0.0, 1.0)


def fit_and_test(model, data, epochs: int) -> dict:
    L.seed_everything(0)
    trainer = L.Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, deterministic=True)
    trainer.fit(model, data)
    return trainer.test(model, data, verbose=False)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny data and one epoch (smoke run)")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    ep_fields, ep_digits = (1, 2) if args.quick else (15, 30)
    n_fields = 512 if args.quick else 4096

    fields = FractionalFieldDataModule(size=32, train_size=n_fields, val_size=512, test_size=512, batch_size=64)
    rows = []
    L.seed_everything(0)
    frac = fraczoo.create_model("spectral_fractional_cnn")
    plain = matched_plain_cnn(num_params(frac))
    for label, model in (("spectral_fractional_cnn", frac), ("plain CNN 3x3", plain)):
        res = fit_and_test(model, fields, ep_fields)
        rows.append({"task": "Hurst (fields 32x32)", "model": label, "params": num_params(model),
                     "metric": "test MAE", "value": res["test_mae"]})
    fields.setup("test")
    x, hurst = fields.splits["test"].tensors
    rows.append({"task": "Hurst (fields 32x32)", "model": "variogram estimator", "params": 0,
                 "metric": "test MAE", "value": float((variogram_hurst(x.double()) - hurst.double()).abs().mean())})

    for train_size in progress((100, None), "digits runs"):
        digits = DigitsDataModule(size=16, train_size=train_size, batch_size=32)
        n = 100 if train_size else "all (1197)"
        L.seed_everything(0)
        kw = dict(num_outputs=10, task="classification", padding="zero")
        scratch = fraczoo.create_model("spectral_fractional_cnn", **kw)
        candidates = [("spectral_fractional_cnn, scratch", scratch),
                      ("spectral_fractional_cnn, fine-tuned from .fields",
                       fraczoo.create_model("spectral_fractional_cnn", init_weights="spectral_fractional_cnn.fields", **kw)),
                      ("plain CNN 3x3, scratch", matched_plain_cnn(num_params(scratch), num_outputs=10, task="classification"))]
        for label, model in candidates:
            res = fit_and_test(model, digits, ep_digits)
            rows.append({"task": f"digits 16x16, {n} train", "model": label, "params": num_params(model),
                         "metric": "test acc", "value": res["test_acc"]})

    print_table("spectral_fractional_cnn vs baselines (test split)", rows)
    write_json("compare_spectral_cnn", {"epochs": {"fields": ep_fields, "digits": ep_digits},
                                        "fields_train_size": n_fields, "rows": rows},
               out="/tmp/compare_spectral_cnn.json" if args.quick else None)


if __name__ == "__main__":
    run_main(main)
