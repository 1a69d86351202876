"""spectral_fractional_cnn: a CNN whose feature extractor is made of learnable fractional operators.

Two backbones, chosen by ``block``:

* ``"spectral"`` (the default, the architecture of the ``.fields`` weights made before the hybrid
  block existed): each stage is ``SpectralFractionalConv2d`` (per-channel order alpha in (0, 2);
  ``directional=True`` adds per-channel Weyl derivatives along x and y) -> BatchNorm -> GELU -> 2x2
  average pooling, then a global average pool.
* ``"hybrid"``: ``FractionalHybridEncoder`` (fraczoo/nn/hybrid.py): each stage is a global fractional
  Laplacian per output channel plus a local ``kernel_size`` x ``kernel_size`` convolution (FNO-style,
  y = (-Delta)^(alpha_c/2) W x + K * x) -> BatchNorm -> GELU -> 2x2 average pooling; the features are
  the log band energies of every stage's block output and the global mean of the last stage. The local
  branch sees strokes and edges (images), the fractional branch and the energies the power law of a
  rough field.

An MLP head gives the output. Tasks: "regression" (e.g. the Hurst exponent of a rough surface, MSE
loss, MAE metric) or "classification" (cross-entropy, accuracy).
"""
from __future__ import annotations

import math
from numbers import Integral

import lightning as L
import torch
import torchmetrics
from torch import nn
from torch.nn import functional as F

from fraczoo.hub import load_backbone, register_model
from fraczoo.nn import SpectralFractionalConv2d
from fraczoo.nn._args import check_choice, check_input, check_int, check_real
from fraczoo.nn.hybrid import FractionalHybridConv2d, FractionalHybridEncoder

TASKS = ("regression", "classification")
BLOCKS = ("spectral", "hybrid")


@register_model(datamodule="fraczoo.datamodules.fractional_fields:FractionalFieldDataModule")
class SpectralFractionalCNN(L.LightningModule):
    def __init__(self, in_channels: int = 1, channels: tuple[int, ...] = (16, 32), num_outputs: int = 1,
                 task: str = "regression", alpha_init: float | tuple[float, float] = 0.5,
                 padding: str = "periodic", hidden: int = 64, lr: float = 3e-3, weight_decay: float = 1e-4,
                 directional: bool = False, block: str = "spectral", kernel_size: int = 3,
                 warmup_steps: int | None = None, init_weights: str | None = None):
        super().__init__()
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        check_int(in_channels, "in_channels")
        check_int(num_outputs, "num_outputs")
        if task == "classification" and num_outputs < 2:
            raise ValueError(f"classification needs num_outputs >= 2 classes, got {num_outputs}")
        if isinstance(channels, (str, int)) or not channels \
                or any(isinstance(c, bool) or not isinstance(c, Integral) or c < 1 for c in channels):
            raise ValueError(f"channels must be a non-empty list of positive ints, got {channels!r}")
        check_int(hidden, "hidden")
        check_real(lr, "lr", 0.0, lo_open=True)
        check_real(weight_decay, "weight_decay", 0.0)
        check_choice(block, "block", BLOCKS)
        if warmup_steps is not None:
            check_int(warmup_steps, "warmup_steps", 0)
        if block == "hybrid" and directional:
            raise ValueError("directional=True needs block='spectral' (the hybrid block's local convolution "
                             "already sees orientation)")
        if block == "spectral" and isinstance(alpha_init, (tuple, list)):
            raise ValueError(f"alpha_init must be a number for block='spectral' (a pair (low, high) spreads the "
                             f"orders of block='hybrid'), got {alpha_init!r}")
        self.save_hyperparameters()
        if block == "hybrid":
            self.backbone = FractionalHybridEncoder(in_channels, channels, kernel_size=kernel_size,
                                                    alpha_init=alpha_init, padding=padding)
            prev = self.backbone.out_features
        else:
            stages, prev = [], in_channels
            for width in channels:
                stages += [SpectralFractionalConv2d(prev, width, alpha_init=alpha_init, padding=padding,
                                                    directional=directional),
                           nn.BatchNorm2d(width), nn.GELU(), nn.AvgPool2d(2)]
                prev = width
            self.backbone = nn.Sequential(*stages, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Linear(prev, hidden), nn.GELU(), nn.Linear(hidden, num_outputs))
        if task == "regression":
            self.val_metric = torchmetrics.MeanAbsoluteError()
            self.test_metric = torchmetrics.MeanAbsoluteError()
            self.metric_name = "mae"
        else:
            self.val_metric = torchmetrics.Accuracy(task="multiclass", num_classes=num_outputs)
            self.test_metric = torchmetrics.Accuracy(task="multiclass", num_classes=num_outputs)
            self.metric_name = "acc"
        if init_weights:
            load_backbone(self, init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, "x", self.head[0].weight)
        if x.ndim != 4 or x.shape[1] != self.hparams.in_channels:
            raise ValueError(f"x must have shape (batch, in_channels={self.hparams.in_channels}, height, width), "
                             f"got {tuple(x.shape)}")
        out = self.head(self.backbone(x))
        return out.squeeze(-1) if self.hparams.task == "regression" and self.hparams.num_outputs == 1 else out

    def _loss(self, pred, target):
        if self.hparams.task == "regression":
            return F.mse_loss(pred, target.to(pred.dtype))
        return F.cross_entropy(pred, target)

    def training_step(self, batch, batch_idx):
        x, target = batch
        loss = self._loss(self(x), target)
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def _eval_step(self, batch, stage: str, metric):
        x, target = batch
        pred = self(x)
        self.log(f"{stage}_loss", self._loss(pred, target), prog_bar=True, sync_dist=True)
        metric.update(pred.argmax(-1) if self.hparams.task == "classification" else pred, target)
        self.log(f"{stage}_{self.metric_name}", metric, prog_bar=True)

    def validation_step(self, batch, batch_idx):
        self._eval_step(batch, "val", self.val_metric)

    def test_step(self, batch, batch_idx):
        self._eval_step(batch, "test", self.test_metric)

    def predict_step(self, batch, batch_idx):
        return self(batch[0] if isinstance(batch, (list, tuple)) else batch)

    def on_validation_epoch_end(self):
        blocks = [m for m in self.backbone.modules()
                  if isinstance(m, (SpectralFractionalConv2d, FractionalHybridConv2d))]
        for i, block in enumerate(blocks):
            self.log(f"alpha/stage{i}", block.alpha().mean(), sync_dist=True)
            if getattr(block, "directional", False):
                self.log(f"alpha_x/stage{i}", block.alpha_x().mean(), sync_dist=True)
                self.log(f"alpha_y/stage{i}", block.alpha_y().mean(), sync_dist=True)

    def configure_optimizers(self):
        # warmup_steps set: per-step linear warmup over min(warmup_steps, 10% of the run), then cosine
        # decay to 2% of lr (the schedule the shared base class on main gives every model with warmup_steps)
        opt = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        if self.hparams.warmup_steps is None:
            return opt
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        warmup = min(self.hparams.warmup_steps, max(total // 10, 1))

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            return 0.02 + 0.49 * (1 + math.cos(math.pi * min((step - warmup) / max(total - warmup, 1), 1.0)))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
