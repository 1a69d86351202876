"""Keep the random number generators' state in checkpoints, so a resumed run repeats the original."""
from __future__ import annotations

import random

import lightning as L
import numpy as np
import torch


def rng_states() -> dict:
    """The global generators' states as tensors and plain Python values (loadable with weights_only)."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)],
            "python": [version, list(internal), gauss_next]}


def set_rng_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    name, keys, pos, has_gauss, gauss = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = states["python"]
    random.setstate((version, tuple(internal), gauss_next))


class RNGStateCheckpoint(L.Callback):
    """Save the torch / numpy / python RNG states with every checkpoint and restore them on resume.

    Lightning restores weights, optimizer and loop counters from ``ckpt_path`` but not the random
    generators, so random draws after a resume (stochastic layers, sampled memory, simulated data)
    differ from those of an uninterrupted run. The states are put back at ``on_train_start``, after the
    sanity-check validation (which may draw random numbers of its own). With data shuffled by epoch
    (fraczoo's datamodules), a single-process run resumed from an epoch-end checkpoint reaches the same
    weights bit for bit (tested by killing ``fraczoo fit`` with SIGKILL). Under DDP only rank 0's state is
    in the checkpoint; it is restored only when the run has one process.
    """

    def __init__(self):
        self._pending: dict | None = None

    def on_save_checkpoint(self, trainer, pl_module, checkpoint):
        checkpoint["rng_states"] = {"world_size": trainer.world_size, "states": rng_states()}

    def on_load_checkpoint(self, trainer, pl_module, checkpoint):
        saved = checkpoint.get("rng_states")
        if saved is not None and saved["world_size"] == 1 and trainer.world_size == 1:
            self._pending = saved["states"]

    def on_train_start(self, trainer, pl_module):
        if self._pending is not None:
            set_rng_states(self._pending)
            self._pending = None
