"""A callback that SIGKILLs its own process at a given global step: a machine dying mid-epoch
(importable by the ``fraczoo`` subprocesses of tests/test_resume.py, which run with the repo on PYTHONPATH)."""
import os
import signal

import lightning as L


class KillAtStep(L.Callback):
    def __init__(self, step: int):
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)
