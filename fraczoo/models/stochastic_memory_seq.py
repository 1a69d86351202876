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

import torch
import torchmetrics
from torch import nn
from torch.nn import functional as F

from fraczoo._checks import check_choice, check_input, check_int, check_real
from fraczoo.models._base import ZooModule
from fraczoo.models._registry import register_model
from fraczoo.nn.memory import StochasticFractionalLayer
from fraczoo.ops.memory import SAMPLERS


@register_model(datamodule="fraczoo.datamodules.long_memory:LongMemoryDataModule")
class StochasticMemorySeq(ZooModule):
    def __init__(self, channels: int = 16, num_layers: int = 2, num_samples: int = 32,
                 sampler: str = "by_parts", alpha_init: float = 0.3, layer_norm: bool = False,
                 lr: float = 3e-3, weight_decay: float = 0.0):
        super().__init__()
        check_choice(sampler, "sampler", SAMPLERS)
        check_int(channels, "channels")
        check_int(num_layers, "num_layers")
        check_int(num_samples, "num_samples")
        check_real(lr, "lr", 0.0, lo_open=True)
        check_real(weight_decay, "weight_decay", 0.0)
        self.save_hyperparameters()
        self.backbone = nn.Sequential(
            nn.Linear(1, channels),
            *[StochasticFractionalLayer(channels, num_samples=num_samples, sampler=sampler, alpha_init=alpha_init,
                                        norm=layer_norm) for _ in range(num_layers)])
        self.head = nn.Linear(channels, 1)
        self.init_metrics(mse=torchmetrics.MeanSquaredError())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T) -> forecasts of x[:, 1:] and the step after, (B, T)."""
        check_input(x, "x", self.head.weight)
        if x.ndim != 2 or x.shape[-1] < 2:
            raise ValueError(f"x must have shape (batch, time) with time >= 2, got {tuple(x.shape)}")
        return self.head(self.backbone(x.unsqueeze(-1))).squeeze(-1)

    def predict_batch(self, batch):
        return self(batch[0] if isinstance(batch, (list, tuple)) else batch)

    def target(self, batch):
        return batch[1]

    def loss(self, pred, target):
        return F.mse_loss(pred, target)

    def on_validation_epoch_end(self):
        for i, layer in enumerate(m for m in self.backbone if isinstance(m, StochasticFractionalLayer)):
            alpha = layer.alpha.detach()
            self.log(f"alpha/layer{i}", alpha.mean(), sync_dist=True)
            self.log(f"alpha/layer{i}_min", alpha.min(), sync_dist=True)
            self.log(f"alpha/layer{i}_max", alpha.max(), sync_dist=True)
