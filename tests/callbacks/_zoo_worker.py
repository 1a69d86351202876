"""Every zoo model with every fraczoo callback, in one process or as one rank of a 2-process CPU DDP run
(spawned by tests/callbacks/test_zoo_matrix.py; keep it importable and cheap)."""
from __future__ import annotations

import math
import os
import warnings

import torch

# the AnDi validation set in two full batches, so that two ranks split it without padding
DATA_OVERRIDES = {"bayesian_alpha_regressor": {"val_size": 16}}


def small_model_and_data(name: str):
    import fraczoo
    from tests.conftest import ZOO_SMALL

    torch.manual_seed(0)
    model = fraczoo.create_model(name, **ZOO_SMALL[name]["hparams"])
    data = fraczoo.create_datamodule(name, **{**ZOO_SMALL[name]["data"], **DATA_OVERRIDES.get(name, {})})
    return model, data


def _finite(metrics: dict) -> dict:
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and math.isfinite(float(v))}


def run_model(name: str, out_dir: str, world: int) -> dict:
    """fit (2 steps) with all four callbacks, then validate a fresh model with AlphaPosteriorMonitor."""
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    from fraczoo.callbacks import AlphaPosteriorMonitor, GradientVarianceMonitor, NonFiniteGuard, RNGStateCheckpoint

    ddp = dict(strategy="ddp", devices=world) if world > 1 else dict(devices=1)
    model, data = small_model_and_data(name)
    alpha = AlphaPosteriorMonitor(log_every_n_steps=1, histogram_samples=0)
    grad = GradientVarianceMonitor(every_n_steps=1, num_micro_batches=2)
    ckpt_dir = f"{out_dir}/{name}/ckpt"
    trainer = L.Trainer(accelerator="cpu", max_steps=2, max_epochs=4, log_every_n_steps=1,
                        logger=CSVLogger(f"{out_dir}/{name}"), num_sanity_val_steps=0, enable_progress_bar=False,
                        enable_model_summary=False, callbacks=[alpha, grad, NonFiniteGuard(), RNGStateCheckpoint(),
                                                              ModelCheckpoint(dirpath=ckpt_dir, save_last=True)],
                        **ddp)
    trainer.fit(model, data)
    result = {"alpha": alpha.last_metrics, "calibration": alpha.last_calibration, "grad": grad.last_metrics,
              "global_step": trainer.global_step, "log_dir": trainer.log_dir, "ckpt": f"{ckpt_dir}/last.ckpt",
              "checkpoint_keys": sorted(torch.load(f"{ckpt_dir}/last.ckpt", weights_only=False)),
              "callback_states": sorted(torch.load(f"{ckpt_dir}/last.ckpt", weights_only=False)["callbacks"])}
    model, data = small_model_and_data(name)  # the same untrained weights on every rank and in the parent
    monitor = AlphaPosteriorMonitor(histogram_samples=0)
    L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
              callbacks=[monitor], **ddp).validate(model, data, verbose=False)
    result["validate_calibration"] = monitor.last_calibration
    result["finite"] = {key: _finite(result[key]) for key in ("alpha", "calibration", "grad", "validate_calibration")}
    return result


def run(rank: int, world: int, port: int, out_dir: str, names: list[str]) -> dict:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), NODE_RANK="0",
                      LOCAL_RANK=str(rank), RANK=str(rank), WANDB_MODE="disabled")
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    results = {name: run_model(name, out_dir, world) for name in names}
    return results
