"""Entry point of the 2-process CPU DDP test of GradientVarianceMonitor(mode="ddp_hook") (spawned; keep it
importable and cheap): the same model and data fitted with the hook and with the micro-batch mode."""
from __future__ import annotations

import os
import warnings

import torch

STEPS, BATCH = 30, 8


def rank_data(rank: int, n: int = STEPS * BATCH):
    from tests.callbacks._toy import train_data

    return train_data(n, seed=300 + rank)


# name -> (GradientVarianceMonitor kwargs, accumulate_grad_batches, steps)
RUNS = {
    "hook": (dict(mode="ddp_hook"), 1, STEPS),
    "micro_whole": (dict(every_n_steps=1, num_micro_batches=1), 1, STEPS),  # per-rank batch: the same split
    "micro_4": (dict(every_n_steps=1, num_micro_batches=4), 1, STEPS),
    "hook_accumulate": (dict(mode="ddp_hook"), 2, 2),
    "hook_buckets": (dict(mode="ddp_hook", every_n_steps=2), 1, 5),  # a bucket per parameter (tiny bucket_cap_mb)
}


def run(rank: int, world: int, port: int, out_dir: str) -> dict:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), NODE_RANK="0",
                      LOCAL_RANK=str(rank), RANK=str(rank), WANDB_MODE="disabled")
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    import lightning as L
    from lightning.pytorch.loggers import Logger
    from lightning.pytorch.strategies import DDPStrategy

    from fraczoo.callbacks import GradientVarianceMonitor
    from tests.callbacks._toy import ToyRegressor, loader

    class Rows(Logger):
        """Keeps every logged row (step, metrics) in memory."""

        name, version = "rows", 0

        def __init__(self):
            super().__init__()
            self.rows = []

        def log_metrics(self, metrics, step=None):
            self.rows.append({"step": step, **{k: float(v) for k, v in metrics.items()}})

        def log_hyperparams(self, params, *args, **kwargs):
            pass

    results = {}
    for name, (kwargs, accumulate, steps) in RUNS.items():
        torch.manual_seed(0)
        model = ToyRegressor()  # lr = 0: every step measures at the same weights
        monitor = GradientVarianceMonitor(**kwargs)
        logger = Rows()
        strategy = DDPStrategy(bucket_cap_mb=1e-6) if name == "hook_buckets" else "ddp"
        trainer = L.Trainer(strategy=strategy, accelerator="cpu", devices=world, max_steps=steps, precision="64-true",
                            use_distributed_sampler=False, logger=logger, log_every_n_steps=1, callbacks=[monitor],
                            accumulate_grad_batches=accumulate, limit_val_batches=0, enable_checkpointing=False,
                            enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
        trainer.fit(model, loader(rank_data(rank), BATCH))
        results[name] = [r for r in logger.rows if "grad_var/all/signal" in r]
        if monitor._hook is not None:
            results[f"{name}/buckets"] = len({key[0] for key in monitor._hook.layouts})
    return results
