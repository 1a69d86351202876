"""Stop training at the first non-finite loss or gradient, and say where it came from."""
from __future__ import annotations

import math

import lightning as L
import torch

from fraczoo._checks import check_int


def _all_finite(tensors: list[torch.Tensor]) -> bool:
    if not tensors:
        return True
    flags = [torch.isfinite(t).all() for t in tensors]
    return bool(torch.stack([f.to(flags[0].device) for f in flags]).all())


class NonFiniteLossError(RuntimeError):
    """Raised by ``NonFiniteGuard``; the message names the step and the offending parameters."""


class NonFiniteGuard(L.Callback):
    """Raise ``NonFiniteLossError`` as soon as the training loss or a gradient is NaN/inf.

    Checked after every backward pass and before the optimizer step, so the weights (and the next
    checkpoint) are never overwritten with NaN: the error names the epoch, global step and batch, the
    loss value, and the parameters whose value or gradient is not finite (values first: a parameter
    that is already NaN is the cause; otherwise the gradients show where the NaN entered). Under DDP
    gradients are averaged across ranks during backward, so every rank sees the same gradients and
    stops at the same step. ``check_every_n_steps`` trades the check's cost (one pass over the
    gradients) against how late a problem is seen.
    """

    def __init__(self, check_every_n_steps: int = 1, max_names: int = 5):
        check_int(check_every_n_steps, "check_every_n_steps")
        check_int(max_names, "max_names")
        self.check_every_n_steps = check_every_n_steps
        self.max_names = max_names
        self._loss: float | None = None

    def _due(self, trainer) -> bool:
        return trainer.global_step % self.check_every_n_steps == 0

    def on_before_backward(self, trainer, pl_module, loss):
        # remember the value; the backward still runs so that the gradients can show the culprit
        self._loss = float(loss.detach()) if self._due(trainer) else None

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        if not self._due(trainer):
            return
        named = [(n, p) for n, p in pl_module.named_parameters() if p.requires_grad]
        loss_ok = self._loss is None or math.isfinite(self._loss)
        if loss_ok and _all_finite([p.detach() for _, p in named] + [p.grad for _, p in named if p.grad is not None]):
            return  # the usual case: one device sync per check, not one per parameter
        bad_values = [n for n, p in named if not bool(torch.isfinite(p.detach()).all())]
        bad_grads = [n for n, p in named if p.grad is not None and not bool(torch.isfinite(p.grad).all())]
        if loss_ok and not bad_values and not bad_grads:
            return
        where = (f"epoch {trainer.current_epoch}, global step {trainer.global_step}, "
                 f"batch {trainer.fit_loop.epoch_loop.batch_idx}")
        parts = [f"non-finite training {'loss' if not loss_ok else 'gradient'} at {where}"]
        if self._loss is not None:
            parts.append(f"loss = {self._loss}")
        if bad_values:
            parts.append(f"parameters with NaN/inf values: {self._names(bad_values)}")
        if bad_grads:
            parts.append(f"parameters with NaN/inf gradients: {self._names(bad_grads)}")
        if not loss_ok and not bad_values:
            parts.append("all parameter values are finite, so the NaN/inf comes from the batch (inputs or "
                         "targets) or the forward computation")
        parts.append("training stopped before the optimizer step, so the weights are those of the previous step; "
                     "lower the learning rate, clip gradients (trainer.gradient_clip_val) or check the data")
        raise NonFiniteLossError("; ".join(parts))

    def _names(self, names: list[str]) -> str:
        shown = ", ".join(names[: self.max_names])
        return shown + (f" and {len(names) - self.max_names} more" if len(names) > self.max_names else "")
