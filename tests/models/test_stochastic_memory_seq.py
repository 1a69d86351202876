"""stochastic_memory_seq: the zoo model, its long-memory datamodule, training and fine-tuning hooks."""
from __future__ import annotations

import lightning as L
import pytest
import torch

import fraczoo
from fraczoo.nn.memory import StochasticFractionalLayer


def small_data(**kwargs):
    kw = dict(length=129, train_size=256, val_size=64, test_size=32, batch_size=32)
    kw.update(kwargs)
    return fraczoo.create_datamodule("stochastic_memory_seq", **kw)


def test_short_fit_beats_the_trivial_forecast_and_logs(tmp_path):
    L.seed_everything(0)
    model = fraczoo.create_model("stochastic_memory_seq", channels=8, num_layers=1, num_samples=16, lr=1e-2)
    dm = small_data()
    trainer = L.Trainer(max_epochs=3, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        default_root_dir=tmp_path)
    trainer.fit(model, dm)
    metrics = trainer.callback_metrics
    assert {"val_loss", "val_mse", "alpha/layer0", "alpha/layer0_min", "alpha/layer0_max"} <= set(metrics)
    x, target, _ = dm.splits["val"].tensors
    trivial = float(target.square().mean())     # forecasting 0 (the mean)
    assert float(metrics["val_mse"]) < 0.95 * trivial
    assert 0 < float(metrics["alpha/layer0"]) < 1


def test_causal_forecasts_and_modes():
    model = fraczoo.create_model("stochastic_memory_seq", channels=4, num_samples=8)
    x = torch.randn(2, 40, requires_grad=True)
    model.eval()
    (grad,) = torch.autograd.grad(model(x)[:, 20].sum(), x)
    assert float(grad[:, 21:].abs().max()) == 0 and float(grad[:, :21].abs().max()) > 0
    assert model(x).shape == (2, 40)
    model.train()
    out = model(x)
    out.sum().backward()
    layers = [m for m in model.backbone if isinstance(m, StochasticFractionalLayer)]
    assert len(layers) == 2
    assert all(torch.isfinite(m.order.raw.grad).all() and m.order.raw.grad.abs().sum() > 0 for m in layers)


def test_backbone_round_trip_for_finetuning(tmp_path):
    model = fraczoo.create_model("stochastic_memory_seq", channels=4, num_samples=8)
    with torch.no_grad():
        model.backbone[1].order.raw.fill_(1.5)
    path = tmp_path / "w.pt"
    fraczoo.save_pretrained(model, path)
    tuned = fraczoo.create_model("stochastic_memory_seq", channels=4, num_samples=8, init_weights=str(path))
    for a, b in zip(model.backbone.state_dict().values(), tuned.backbone.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("kwargs", [dict(sampler="uniform"), dict(channels=0), dict(num_layers=0),
                                    dict(num_samples=0)])
def test_model_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        fraczoo.create_model("stochastic_memory_seq", **kwargs)


def test_bad_input_shape():
    model = fraczoo.create_model("stochastic_memory_seq", channels=4)
    with pytest.raises(ValueError, match="x must have shape"):
        model(torch.randn(2, 10, 1))
