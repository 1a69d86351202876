"""Helpers shared by the callbacks: finding fractional orders, logging, gathering across ranks."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from fraczoo.nn.alpha import ProbabilisticOrder
from fraczoo.nn.order import FractionalOrder

ORDER_TYPES = (FractionalOrder, ProbabilisticOrder)


def find_orders(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """Every point or probabilistic order in ``module`` (by type), with its qualified module name."""
    return [(name or "model", m) for name, m in module.named_modules() if isinstance(m, ORDER_TYPES)]


def log_to_loggers(trainer, metrics: dict, step: int) -> None:
    """Write ``metrics`` to every logger of the trainer, from rank 0 only (loggers are rank-0 objects)."""
    if not metrics or not trainer.is_global_zero:
        return
    for logger in trainer.loggers:
        logger.log_metrics(metrics, step=step)


def wandb_loggers(trainer) -> list:
    if not trainer.is_global_zero:
        return []
    from lightning.pytorch.loggers import WandbLogger

    return [logger for logger in trainer.loggers if isinstance(logger, WandbLogger)]


def gather_rows(trainer, rows: Tensor) -> Tensor:
    """Concatenate the (n_r, k) tensors of all ranks (n_r may differ) in rank order, on every rank.

    Every rank must call this (it runs two collectives), whether or not it has rows.
    """
    if trainer.world_size == 1:
        return rows
    count = torch.tensor([rows.shape[0]], device=rows.device, dtype=torch.long)
    counts = trainer.strategy.all_gather(count).reshape(-1).tolist()
    if max(counts) == 0:  # the same on every rank, so every rank skips the second collective
        return rows
    padded = torch.zeros((max(counts), rows.shape[1]), dtype=rows.dtype, device=rows.device)
    padded[: rows.shape[0]] = rows
    gathered = trainer.strategy.all_gather(padded).reshape(len(counts), max(counts), rows.shape[1])
    return torch.cat([gathered[r, :n] for r, n in enumerate(counts)])
