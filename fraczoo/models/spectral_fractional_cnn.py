"""spectral_fractional_cnn: a CNN whose feature extractor is made of learnable fractional operators.

Two backbones, chosen by ``block``:

* ``"spectral"`` (the default, so that weights made before the hybrid block existed still load):
  each stage is ``SpectralFractionalConv2d`` (per-channel order alpha in (0, 2);
  ``directional=True`` adds per-channel Weyl derivatives along x and y) -> BatchNorm -> GELU -> 2x2
  average pooling, then a global average pool.
* ``"hybrid"``: ``FractionalHybridEncoder`` (fraczoo/nn/hybrid.py): each stage is a global fractional
  Laplacian per output channel plus a local ``kernel_size`` x ``kernel_size`` convolution (FNO-style,
  y = (-Delta)^(alpha_c/2) W x + K * x) -> BatchNorm -> GELU -> 2x2 average pooling; the features are
  the log band energies of every stage's block output and the global mean of the last stage. The local
  branch sees strokes and edges (images), the fractional branch and the energies the power law of a
  rough field. The shipped configs and the ``.fields`` / ``.digits`` weights use this block.
  ``spectrum_bins`` > 0 adds the input's log radial spectrum (``LogRadialSpectrum``: the log mean
  periodogram in that many annuli of |k|, a binned form of the Whittle likelihood's statistic) to the
  features.

An MLP head with ``head_depth`` hidden layers of width ``hidden`` gives the output. Tasks: "regression"
(e.g. the Hurst exponent of a rough surface, MSE loss, MAE metric) or "classification" (cross-entropy,
accuracy).
"""
from __future__ import annotations

import torch
import torchmetrics
from torch import nn
from torch.nn import functional as F

from fraczoo._checks import check_choice, check_input, check_int, check_int_list, check_real
from fraczoo.models._base import ZooModule
from fraczoo.models._registry import register_model
from fraczoo.nn import FractionalHybridConv2d, FractionalHybridEncoder, SpectralFractionalConv2d

TASKS = ("regression", "classification")
BLOCKS = ("spectral", "hybrid")


@register_model(datamodule="fraczoo.datamodules.fractional_fields:FractionalFieldDataModule")
class SpectralFractionalCNN(ZooModule):
    def __init__(self, in_channels: int = 1, channels: tuple[int, ...] = (16, 32), num_outputs: int = 1,
                 task: str = "regression", alpha_init: float | tuple[float, float] = 0.5,
                 padding: str = "periodic", hidden: int = 64, lr: float = 3e-3, weight_decay: float = 1e-4,
                 directional: bool = False, block: str = "spectral", kernel_size: int = 3,
                 warmup_steps: int | None = None, spectrum_bins: int = 0, head_depth: int = 1):
        super().__init__()
        check_choice(task, "task", TASKS)
        check_int(in_channels, "in_channels")
        check_int(num_outputs, "num_outputs")
        if task == "classification" and num_outputs < 2:
            raise ValueError(f"classification needs num_outputs >= 2 classes, got {num_outputs}")
        check_int_list(channels, "channels")
        check_int(hidden, "hidden")
        check_int(head_depth, "head_depth")
        check_real(lr, "lr", 0.0, lo_open=True)
        check_real(weight_decay, "weight_decay", 0.0)
        check_choice(block, "block", BLOCKS)
        if warmup_steps is not None:
            check_int(warmup_steps, "warmup_steps", 0)
        if block == "hybrid" and directional:
            raise ValueError("directional=True needs block='spectral' (the hybrid block's local convolution "
                             "already sees orientation)")
        check_int(spectrum_bins, "spectrum_bins", 0)
        if block == "spectral" and spectrum_bins:
            raise ValueError(f"spectrum_bins needs block='hybrid', got spectrum_bins={spectrum_bins} with "
                             "block='spectral'")
        if block == "spectral" and isinstance(alpha_init, (tuple, list)):
            raise ValueError(f"alpha_init must be a number for block='spectral' (a pair (low, high) spreads the "
                             f"orders of block='hybrid'), got {alpha_init!r}")
        self.save_hyperparameters()
        if block == "hybrid":
            self.backbone = FractionalHybridEncoder(in_channels, channels, kernel_size=kernel_size,
                                                    alpha_init=alpha_init, padding=padding,
                                                    spectrum_bins=spectrum_bins)
            prev = self.backbone.out_features
        else:
            stages, prev = [], in_channels
            for width in channels:
                stages += [SpectralFractionalConv2d(prev, width, alpha_init=alpha_init, padding=padding,
                                                    directional=directional),
                           nn.BatchNorm2d(width), nn.GELU(), nn.AvgPool2d(2)]
                prev = width
            self.backbone = nn.Sequential(*stages, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        layers = [nn.Linear(prev, hidden), nn.GELU()]
        for _ in range(head_depth - 1):
            layers += [nn.Linear(hidden, hidden), nn.GELU()]
        self.head = nn.Sequential(*layers, nn.Linear(hidden, num_outputs))
        if task == "regression":
            self.init_metrics(mae=torchmetrics.MeanAbsoluteError())
        else:
            self.init_metrics(acc=torchmetrics.Accuracy(task="multiclass", num_classes=num_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, "x", self.head[0].weight)
        if x.ndim != 4 or x.shape[1] != self.hparams.in_channels:
            raise ValueError(f"x must have shape (batch, in_channels={self.hparams.in_channels}, height, width), "
                             f"got {tuple(x.shape)}")
        out = self.head(self.backbone(x))
        return out.squeeze(-1) if self.hparams.task == "regression" and self.hparams.num_outputs == 1 else out

    def predict_batch(self, batch):
        return self(batch[0] if isinstance(batch, (list, tuple)) else batch)

    def target(self, batch):
        return batch[1]

    def loss(self, pred, target):
        if self.hparams.task == "regression":
            return F.mse_loss(pred, target.to(pred.dtype))
        return F.cross_entropy(pred, target)

    def on_validation_epoch_end(self):
        blocks = [m for m in self.backbone.modules()
                  if isinstance(m, (SpectralFractionalConv2d, FractionalHybridConv2d))]
        for i, block in enumerate(blocks):
            self.log(f"alpha/stage{i}", block.alpha().mean(), sync_dist=True)
            if getattr(block, "directional", False):
                self.log(f"alpha_x/stage{i}", block.alpha_x().mean(), sync_dist=True)
                self.log(f"alpha_y/stage{i}", block.alpha_y().mean(), sync_dist=True)
