"""stochastic_memory_seq: one-step forecasting of long-memory series with fractional-memory layers.

The series x (B, T) is lifted pointwise to C channels, passed through ``num_layers``
``StochasticFractionalLayer`` blocks (learnable per-channel Caputo order alpha; unbiased sampled memory
with k = ``num_samples`` lags per step in training, exact FFT memory in eval) and read out pointwise:
the output at step t forecasts x_{t+1} from x_0..x_t (the layers are causal), so one forward pass
scores every step of the series. Loss: MSE over all steps. No LayerNorm by default (``layer_norm``):
normalising a pointwise lift of a scalar series across channels throws away its amplitude, which a
one-step forecaster needs. For ARFIMA(0, d, 0) data the optimal
predictor is a power-law filter of the past that D^alpha with alpha = d reproduces (see
``fraczoo.nn.memory``), and the best achievable MSE is the innovation variance (``one_step_mse``).
"""
from __future__ import annotations

import lightning as L
import torch
import torchmetrics
from torch import nn
from torch.nn import functional as F

from fraczoo.hub import load_backbone, register_model
from fraczoo.nn._args import check_input, check_real
from fraczoo.nn.memory import StochasticFractionalLayer
from fraczoo.ops.memory import SAMPLERS


@register_model(datamodule="fraczoo.datamodules.long_memory:LongMemoryDataModule")
class StochasticMemorySeq(L.LightningModule):
    def __init__(self, channels: int = 16, num_layers: int = 2, num_samples: int = 32,
                 sampler: str = "by_parts", alpha_init: float = 0.3, layer_norm: bool = False,
                 lr: float = 3e-3,
                 weight_decay: float = 0.0, init_weights: str | None = None):
        super().__init__()
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
        for arg, value in (("channels", channels), ("num_layers", num_layers), ("num_samples", num_samples)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{arg} must be an int >= 1, got {value!r}")
        check_real(lr, "lr", 0.0, lo_open=True)
        check_real(weight_decay, "weight_decay", 0.0)
        self.save_hyperparameters()
        self.backbone = nn.Sequential(
            nn.Linear(1, channels),
            *[StochasticFractionalLayer(channels, num_samples=num_samples, sampler=sampler, alpha_init=alpha_init,
                                        norm=layer_norm) for _ in range(num_layers)])
        self.head = nn.Linear(channels, 1)
        self.val_metric = torchmetrics.MeanSquaredError()
        self.test_metric = torchmetrics.MeanSquaredError()
        if init_weights:
            load_backbone(self, init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T) -> forecasts of x[:, 1:] and the step after, (B, T)."""
        check_input(x, "x", self.head.weight)
        if x.ndim != 2 or x.shape[-1] < 2:
            raise ValueError(f"x must have shape (batch, time) with time >= 2, got {tuple(x.shape)}")
        return self.head(self.backbone(x.unsqueeze(-1))).squeeze(-1)

    def training_step(self, batch, batch_idx):
        x, target = batch[0], batch[1]
        loss = F.mse_loss(self(x), target)
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def _eval_step(self, batch, stage: str, metric):
        x, target = batch[0], batch[1]
        pred = self(x)
        self.log(f"{stage}_loss", F.mse_loss(pred, target), prog_bar=True, sync_dist=True)
        metric.update(pred, target)
        self.log(f"{stage}_mse", metric, prog_bar=True)

    def validation_step(self, batch, batch_idx):
        self._eval_step(batch, "val", self.val_metric)

    def test_step(self, batch, batch_idx):
        self._eval_step(batch, "test", self.test_metric)

    def predict_step(self, batch, batch_idx):
        return self(batch[0] if isinstance(batch, (list, tuple)) else batch)

    def on_validation_epoch_end(self):
        for i, layer in enumerate(m for m in self.backbone if isinstance(m, StochasticFractionalLayer)):
            alpha = layer.alpha.detach()
            self.log(f"alpha/layer{i}", alpha.mean(), sync_dist=True)
            self.log(f"alpha/layer{i}_min", alpha.min(), sync_dist=True)
            self.log(f"alpha/layer{i}_max", alpha.max(), sync_dist=True)

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
