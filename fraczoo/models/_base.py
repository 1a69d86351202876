"""``ZooModule``: what every zoo model shares, so that a model file is its architecture, loss and metrics.

A zoo model subclasses ``ZooModule``; in ``__init__`` it checks its arguments, calls
``self.save_hyperparameters()`` (which must include ``lr`` and ``weight_decay``), builds ``self.backbone``
(the feature extractor, so Lightning's ``BackboneFinetuning`` works) and its head, and hands its task metrics
to ``self.init_metrics``. Then it defines

    forward(...)                      the network
    predict_batch(batch) -> pred      the model's output for a batch of its datamodule (also ``predict``)
    target(batch) -> target           what the output is scored against (first dim: the batch)
    loss(pred, target) -> scalar      the training loss

and may override ``eval_loss`` (the logged ``{stage}_loss``), ``update_metrics`` (when a metric needs
more than ``metric.update(pred, target)``), ``train_logs`` (extra per-step training logs),
``validation_outputs`` (what ``validation_step`` returns to callbacks), ``param_groups`` and
``optimizer_class``. Every model logs ``train_loss``, ``val_loss``/``test_loss``
(synchronised across processes) and ``val_<metric>``/``test_<metric>`` (torchmetrics, DDP-correct).
"""
from __future__ import annotations

import math

import lightning as L
import torch
import torchmetrics
from torch import Tensor

STAGES = ("val", "test")


def warmup_cosine(warmup: int, total: int, floor: float = 0.02):
    """lr factor per step: linear warmup over ``warmup`` steps, then cosine decay to ``floor`` at ``total``
    (Loshchilov & Hutter, "SGDR", ICLR 2017; Goyal et al. 2017 for the warmup)."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min((step - warmup) / max(total - warmup, 1), 1.0)
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


class ZooModule(L.LightningModule):
    """Base LightningModule of the zoo: train/val/test/predict steps, metric logging, optimizer set-up.

    Optimizer: ``optimizer_class`` (AdamW) over ``param_groups()`` with ``hparams.lr`` and
    ``hparams.weight_decay``; a model with a ``warmup_steps`` hyperparameter also gets a per-step schedule,
    linear warmup over min(warmup_steps, 10% of the run) then cosine decay to 2% of lr at the run's end.
    """

    optimizer_class: type[torch.optim.Optimizer] = torch.optim.AdamW

    # --- what a model defines ---------------------------------------------------------------------
    def predict_batch(self, batch):
        raise NotImplementedError

    def target(self, batch) -> Tensor:
        raise NotImplementedError

    def loss(self, pred, target: Tensor) -> Tensor:
        raise NotImplementedError

    def eval_loss(self, pred, target: Tensor) -> Tensor:
        return self.loss(pred, target)

    def update_metrics(self, metrics: torchmetrics.MetricCollection, pred, target: Tensor) -> None:
        metrics.update(pred, target)

    def train_logs(self, pred, target: Tensor) -> dict[str, Tensor]:
        return {}

    def validation_outputs(self, pred, target: Tensor):
        """What ``validation_step`` returns for callbacks to read (e.g. the calibration protocol of
        ``AlphaPosteriorMonitor``: a dict of ``alpha_mean``, ``alpha_std``, ``alpha_true``, and for a
        non-Gaussian posterior ``alpha_pit``, ``alpha_log_prob``); default None."""
        return None

    def param_groups(self):
        return self.parameters()

    def init_metrics(self, **metrics: torchmetrics.Metric) -> None:
        """One copy of ``metrics`` (name -> metric) per evaluation stage, logged as ``<stage>_<name>``."""
        base = torchmetrics.MetricCollection(metrics, compute_groups=False)
        self.val_metrics = base.clone(prefix="val_")
        self.test_metrics = base.clone(prefix="test_")

    # --- the Lightning hooks ----------------------------------------------------------------------
    def training_step(self, batch, batch_idx):
        pred, target = self.predict_batch(batch), self.target(batch)
        loss = self.loss(pred, target)
        n = target.shape[0]
        self.log("train_loss", loss, prog_bar=True, batch_size=n)
        for key, value in self.train_logs(pred, target).items():
            self.log(key, value, batch_size=n)
        return loss

    def _evaluate(self, batch, stage: str):
        pred, target = self.predict_batch(batch), self.target(batch)
        n = target.shape[0]
        self.log(f"{stage}_loss", self.eval_loss(pred, target), prog_bar=True, sync_dist=True, batch_size=n)
        metrics = self.val_metrics if stage == "val" else self.test_metrics
        self.update_metrics(metrics, pred, target)
        self.log_dict(metrics, prog_bar=True, batch_size=n)
        return pred, target

    def validation_step(self, batch, batch_idx):
        return self.validation_outputs(*self._evaluate(batch, "val"))

    def test_step(self, batch, batch_idx):
        self._evaluate(batch, "test")

    def predict_step(self, batch, batch_idx):
        return self.predict_batch(batch)

    def on_fit_start(self):
        # trainer.validate/test run in torch.inference_mode, so the metric states they leave behind are
        # inference tensors; fit's validation loop runs under no_grad, where updating those in place raises
        # "Inplace update to inference tensor outside InferenceMode" (lightning 2.6 + torchmetrics 1.9).
        # States reset here, outside inference mode, are ordinary tensors.
        self.val_metrics.reset()
        self.test_metrics.reset()

    def configure_optimizers(self):
        hp = self.hparams
        opt = self.optimizer_class(self.param_groups(), lr=hp.lr, weight_decay=hp.weight_decay)
        if hp.get("warmup_steps") is None:
            return opt
        total = max(int(self.trainer.estimated_stepping_batches), 1) if self._trainer is not None else 1
        warmup = min(hp.warmup_steps, max(total // 10, 1))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(warmup, total))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
