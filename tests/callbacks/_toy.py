"""Tiny LightningModules and data for the callback tests (importable by spawned DDP workers)."""
from __future__ import annotations

import lightning as L
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from fraczoo.nn.alpha import NormalAlphaLayer
from fraczoo.nn.order import FractionalOrder

DIM = 4


class PlainOrder(nn.Module):
    """Same parameter and formula as FractionalOrder(0.5), but not one by type."""

    def __init__(self):
        super().__init__()
        self.raw = nn.Parameter(torch.zeros(()))

    def forward(self):
        return torch.sigmoid(self.raw)


class ToyRegressor(L.LightningModule):
    """pred = linear(features) + alpha * x[:, 0], MSE loss; features = x (+ a NormalAlphaLayer term).

    Validation batches (x, y, alpha_mean, alpha_std, alpha_true) return the last three as the
    AlphaPosteriorMonitor protocol dict (``posterior_batches`` limits which batch indices do).
    """

    def __init__(self, with_order: bool = True, prob_layer: bool = False, dropout: float = 0.0,
                 batchnorm: bool = False, lr: float = 0.0, posterior_batches: int | None = None):
        super().__init__()
        self.save_hyperparameters()
        self.order = FractionalOrder(0.5) if with_order else PlainOrder()
        self.prob = NormalAlphaLayer(0.5, 0.1, per_sample=True) if prob_layer else None
        self.norm = nn.BatchNorm1d(DIM) if batchnorm else nn.Identity()
        self.drop = nn.Dropout(dropout)
        self.linear = nn.Linear(DIM, 1)

    def forward(self, x):
        feats = x if self.prob is None else x + 0.1 * self.prob(x)
        feats = self.drop(self.norm(feats))
        return self.linear(feats).squeeze(-1) + self.order() * x[:, 0]

    def loss(self, x, y):
        return F.mse_loss(self(x), y)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = self.loss(x, y)
        self.log("train_loss", loss)
        return {"loss": loss}

    def validation_step(self, batch, batch_idx):
        x, y, mean, std, true = batch
        self.log("val_loss", self.loss(x, y), sync_dist=True)
        if self.hparams.posterior_batches is None or batch_idx < self.hparams.posterior_batches:
            return {"alpha_mean": mean, "alpha_std": std, "alpha_true": true}
        return None

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def train_data(n: int, seed: int, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, DIM, generator=gen, dtype=dtype)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 0.3], dtype=dtype) + 0.3 * torch.randn(n, generator=gen, dtype=dtype)
    return x, y


def val_data(n: int, seed: int, dtype=torch.float64):
    """Predicted (mean, std) and true orders: a deliberately over-confident predictor."""
    x, y = train_data(n, seed + 1000, dtype)
    gen = torch.Generator().manual_seed(seed + 2000)
    true = 0.2 + 1.6 * torch.rand(n, generator=gen, dtype=dtype)
    std = 0.05 + 0.1 * torch.rand(n, generator=gen, dtype=dtype)
    mean = true + 1.5 * std * torch.randn(n, generator=gen, dtype=dtype)
    return x, y, mean, std, true


def loader(tensors, batch_size: int):
    return DataLoader(TensorDataset(*tensors), batch_size=batch_size, shuffle=False)


def quiet_trainer(**kwargs):
    defaults = dict(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                    enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                    precision="64-true")
    return L.Trainer(**{**defaults, **kwargs})


def per_chunk_gradients(model, x, y, sizes):
    """Gradients (name -> tensor) of the mean loss over consecutive chunks of the given sizes."""
    out, start = [], 0
    params = dict((n, p) for n, p in model.named_parameters() if p.requires_grad)
    for n in sizes:
        loss = model.loss(x[start:start + n], y[start:start + n])
        grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
        out.append({k: (g if g is not None else torch.zeros_like(p))
                    for (k, p), g in zip(params.items(), grads)})
        start += n
    return out


def reference_statistics(chunk_grads, sizes, groups):
    """|G|^2, tr Sigma and the squared big-batch norm per group, from scratch (McCandlish et al. 2018)."""
    total, count = float(sum(sizes)), len(sizes)
    b = count / sum(1.0 / n for n in sizes)
    result = {}
    for group, names in groups.items():
        small = sum(sum(float(g[k].pow(2).sum()) for k in names) for g in chunk_grads) / count
        big = sum(float(sum(n / total * g[k] for g, n in zip(chunk_grads, sizes)).pow(2).sum()) for k in names)
        signal = (total * big - b * small) / (total - b)
        trace = (small - big) / (1 / b - 1 / total)
        result[group] = {"signal": signal, "trace": trace, "big": big}
    return result, b, total
