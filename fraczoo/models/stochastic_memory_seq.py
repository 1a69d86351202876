"""stochastic_memory_seq: one-step forecasting of long-memory series by a gated mix of fractional memories.

The series x (B, T) goes through ``FractionalDifferenceMixture`` (``fraczoo.nn.mixture``): M fractional-
difference forecasters -sum_{k>=1} g_k(d_j) x_{n+1-k} with learnable orders d_j (Grünwald-Letnikov weights,
exact FFT memory), optionally with an AR(p) part on their innovations, mixed by softmax(prior - beta *
running squared error), i.e. the posterior weight of each order given the series so far; a scalar affine
head follows. The output at step n forecasts x_{n+1} from x_0..x_n (causal), so one pass scores every step.
Loss: MSE over all steps. For ARFIMA(0, d, 0) the Bayes forecaster with d known is the DL recursion
(``one_step_mse``); with d unknown (it differs per series) it is a posterior mix over d, which this model
learns. ``step``/``forecast`` stream with constant memory (sum-of-exponentials kernel, ``fraczoo.ops.soe``).
"""
from __future__ import annotations

import torch
import torchmetrics
from torch import nn
from torch.nn import functional as F

from fraczoo._checks import check_input, check_real
from fraczoo.models._base import ZooModule
from fraczoo.models._registry import register_model
from fraczoo.nn.mixture import FractionalDifferenceMixture


@register_model(datamodule="fraczoo.datamodules.long_memory:LongMemoryDataModule")
class StochasticMemorySeq(ZooModule):
    def __init__(self, num_orders: int = 8, order_range: tuple[float, float] = (0.0, 0.5), gate: str = "posterior",
                 temperature: float = 0.5, ar_lags: int = 2, lr: float = 1e-2, weight_decay: float = 0.0):
        super().__init__()
        check_real(lr, "lr", 0.0, lo_open=True)
        check_real(weight_decay, "weight_decay", 0.0)
        self.save_hyperparameters()
        self.backbone = FractionalDifferenceMixture(num_orders, order_range=tuple(order_range), gate=gate,
                                                    temperature=temperature, ar_lags=ar_lags)
        self.head = nn.Linear(1, 1)     # affine calibration of the forecast, starts as the identity
        with torch.no_grad():
            self.head.weight.fill_(1.0)
            self.head.bias.zero_()
        self.init_metrics(mse=torchmetrics.MeanSquaredError())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T) -> forecasts of x[:, 1:] and the step after, (B, T)."""
        check_input(x, "x", self.head.weight)
        if x.ndim != 2 or x.shape[-1] < 2:
            raise ValueError(f"x must have shape (batch, time) with time >= 2, got {tuple(x.shape)}")
        return self.head(self.backbone(x.unsqueeze(-1))).squeeze(-1)

    def reset_stream(self) -> None:
        """Start a new stream: the next ``step`` takes the first value of new series."""
        self.backbone.reset_stream()

    def step(self, x: torch.Tensor) -> torch.Tensor:
        """Feed x_n (B,) of each stream; returns the forecasts of x_{n+1} (B,), as ``forward`` would give
        (to the kernel's 1e-9 relative error) with memory that does not grow with the stream."""
        check_input(x, "x", self.head.weight)
        if x.ndim != 1:
            raise ValueError(f"x must have shape (batch,), got {tuple(x.shape)}")
        return self.head(self.backbone.step(x[:, None])).squeeze(-1)

    def forecast(self, history: torch.Tensor, steps: int) -> torch.Tensor:
        """Forecasts (B, steps) of the ``steps`` values after ``history`` (B, T), each fed back as the next
        input (the gate keeps its weights after the history). Resets the stream."""
        check_input(history, "history", self.head.weight)
        if history.ndim != 2:
            raise ValueError(f"history must have shape (batch, time), got {tuple(history.shape)}")
        return self.backbone.forecast(history.unsqueeze(-1), steps, readout=self.head).squeeze(-1)

    def predict_batch(self, batch):
        return self(batch[0] if isinstance(batch, (list, tuple)) else batch)

    def target(self, batch):
        return batch[1]

    def loss(self, pred, target):
        return F.mse_loss(pred, target)

    def on_validation_epoch_end(self):
        alpha = self.backbone.alpha.detach()
        self.log("alpha/layer0", alpha.mean(), sync_dist=True)
        self.log("alpha/layer0_min", alpha.min(), sync_dist=True)
        self.log("alpha/layer0_max", alpha.max(), sync_dist=True)
        self.log("gate_temperature", self.backbone.temperature.detach(), sync_dist=True)
