"""NonFiniteGuard: a NaN/inf loss or gradient stops training at once, naming the step and parameter."""
import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from fraczoo.callbacks import NonFiniteGuard, NonFiniteLossError


class Poisoned(L.LightningModule):
    """y = w x + b; at global step ``at`` the chosen failure is injected."""

    def __init__(self, failure: str, at: int = 3):
        super().__init__()
        self.failure, self.at = failure, at
        self.w = nn.Parameter(torch.ones(3))
        self.b = nn.Parameter(torch.zeros(()))

    def training_step(self, batch, batch_idx):
        x, y = batch
        if self.global_step == self.at:
            if self.failure == "value":
                with torch.no_grad():
                    self.b.fill_(float("nan"))
            elif self.failure == "data":
                x = x.clone()
                x[0, 0] = float("inf")
        pred = x @ self.w + self.b
        loss = ((pred - y) ** 2).mean()
        if self.failure == "gradient" and self.global_step == self.at:
            loss = loss + (0.0 * self.w[1]).sqrt()  # finite (0) loss, d/dw sqrt(0 w) = NaN
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def fit(model, **kw):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=gen)
    loader = DataLoader(TensorDataset(x, x.sum(1)), batch_size=8)
    trainer = L.Trainer(max_epochs=3, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, callbacks=[NonFiniteGuard(**kw)])
    trainer.fit(model, loader)
    return trainer


def test_nan_parameter_is_named_with_the_step():
    model = Poisoned("value")
    with pytest.raises(NonFiniteLossError, match=r"non-finite training loss at epoch 0, global step 3, batch 3"
                       r".*NaN/inf values: b\b"):
        fit(model)


def test_nan_gradient_with_finite_loss_names_the_parameter_and_keeps_weights():
    model = Poisoned("gradient")
    with pytest.raises(NonFiniteLossError, match=r"non-finite training gradient at epoch 0, global step 3.*"
                       r"loss = [0-9.e-]+;.*NaN/inf gradients: w\b"):
        fit(model)
    # stopped before the optimizer step: the weights are still those of step 3, all finite
    assert torch.isfinite(model.w).all() and torch.isfinite(model.b)


def test_bad_batch_is_reported_as_data():
    with pytest.raises(NonFiniteLossError, match=r"loss = (inf|nan);.*all parameter values are finite, so the NaN/inf comes from the batch"):
        fit(Poisoned("data"))


def test_clean_run_is_untouched():
    model = Poisoned("none")
    trainer = fit(model)
    assert trainer.global_step == 24 and torch.isfinite(model.w).all()


def test_check_interval_and_bad_arguments():
    with pytest.raises(NonFiniteLossError, match="global step 4"):
        fit(Poisoned("gradient", at=4), check_every_n_steps=2)
    for bad, error in ((0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError)):
        with pytest.raises(error, match="check_every_n_steps must be an int >= 1"):
            NonFiniteGuard(check_every_n_steps=bad)
