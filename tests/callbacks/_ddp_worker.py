"""Entry point of the 2-process CPU DDP test (spawned; keep it importable and cheap)."""
from __future__ import annotations

import os
import warnings

import torch

TRAIN_PER_RANK, VAL_BATCHES, VAL_BATCH = 4, 2, 3


def rank_train_data(rank: int):
    from tests.callbacks._toy import train_data

    return train_data(TRAIN_PER_RANK, seed=100 + rank)


def rank_val_data(rank: int):
    from tests.callbacks._toy import val_data

    return val_data(VAL_BATCHES * VAL_BATCH, seed=200 + rank)


def posterior_batches(rank: int) -> int:
    return VAL_BATCHES if rank == 0 else 1  # rank 1 reports fewer predictions: uneven gather


def run(rank: int, world: int, port: int, out_dir: str) -> dict:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), NODE_RANK="0",
                      LOCAL_RANK=str(rank), RANK=str(rank), WANDB_MODE="disabled")
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    from fraczoo.callbacks import AlphaPosteriorMonitor, GradientVarianceMonitor
    from tests.callbacks._toy import ToyRegressor, loader

    torch.manual_seed(0)
    # rank 1 holds no fractional order by type (a look-alike parameter instead): the monitors must
    # neither deadlock nor disagree.
    model = ToyRegressor(with_order=(rank == 0), posterior_batches=posterior_batches(rank))
    grad_monitor = GradientVarianceMonitor(every_n_steps=1, num_micro_batches=2)
    alpha_monitor = AlphaPosteriorMonitor(log_every_n_steps=1)
    trainer = L.Trainer(strategy="ddp", accelerator="cpu", devices=world, max_steps=2, precision="64-true",
                        use_distributed_sampler=False, logger=CSVLogger(out_dir), log_every_n_steps=1,
                        callbacks=[grad_monitor, alpha_monitor, ModelCheckpoint(dirpath=f"{out_dir}/ckpt",
                                                                                save_last=True)],
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(model, loader(rank_train_data(rank), TRAIN_PER_RANK), loader(rank_val_data(rank), VAL_BATCH))
    result = {"grad": grad_monitor.last_metrics, "ema": grad_monitor.ema, "alpha": alpha_monitor.last_metrics,
              "calibration": alpha_monitor.last_calibration, "log_dir": trainer.log_dir,
              "grad_state_key": grad_monitor.state_key}
    return result
