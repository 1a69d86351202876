"""stochastic_memory_seq: the zoo model, its long-memory datamodule, training, streaming and fine-tuning hooks."""
from __future__ import annotations

import lightning as L
import pytest
import torch

import fraczoo
from fraczoo.datamodules.long_memory import arfima


def small_data(**kwargs):
    kw = dict(length=129, train_size=256, val_size=64, test_size=32, batch_size=32)
    kw.update(kwargs)
    return fraczoo.create_datamodule("stochastic_memory_seq", **kw)


def test_short_fit_beats_the_trivial_forecast_and_logs(tmp_path):
    L.seed_everything(0)
    model = fraczoo.create_model("stochastic_memory_seq", num_orders=4, lr=1e-2)
    dm = small_data()
    trainer = L.Trainer(max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        default_root_dir=tmp_path)
    trainer.fit(model, dm)
    metrics = trainer.callback_metrics
    assert {"val_loss", "val_mse", "alpha/layer0", "alpha/layer0_min", "alpha/layer0_max",
            "gate_temperature"} <= set(metrics)
    x, target, _ = dm.splits["val"].tensors
    trivial = float(target.square().mean())     # forecasting 0 (the mean)
    assert float(metrics["val_mse"]) < 0.85 * trivial
    assert 0 < float(metrics["alpha/layer0_min"]) <= float(metrics["alpha/layer0_max"]) < 0.5


def test_causal_forecasts_and_gradients():
    model = fraczoo.create_model("stochastic_memory_seq", num_orders=4)
    x = torch.randn(2, 40, requires_grad=True)
    (grad,) = torch.autograd.grad(model(x)[:, 20].sum(), x)
    assert float(grad[:, 21:].abs().max()) == 0 and float(grad[:, :21].abs().max()) > 0
    assert model(x).shape == (2, 40)
    model(x).square().sum().backward()
    assert all(p.grad is not None and bool(torch.isfinite(p.grad).all()) for p in model.parameters())


def test_step_and_forecast_stream_the_forward():
    model = fraczoo.create_model("stochastic_memory_seq", num_orders=4).double().eval()
    x = arfima(torch.tensor([0.2, 0.4]), 200, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full = model(x)
        model.reset_stream()
        stream = torch.stack([model.step(x[:, n]) for n in range(x.shape[1])], 1)
        torch.testing.assert_close(stream, full, rtol=1e-8, atol=1e-9)
        ahead = model.forecast(x, 3)
    assert ahead.shape == (2, 3)
    torch.testing.assert_close(ahead[:, 0], full[:, -1], rtol=1e-8, atol=1e-9)


def test_backbone_round_trip_for_finetuning(tmp_path):
    model = fraczoo.create_model("stochastic_memory_seq", num_orders=4)
    with torch.no_grad():
        model.backbone.order.raw.fill_(1.5)
        model.backbone.prior.normal_()
    path = tmp_path / "w.pt"
    fraczoo.save_pretrained(model, path)
    tuned = fraczoo.create_model("stochastic_memory_seq", num_orders=4, init_weights=str(path))
    for a, b in zip(model.backbone.state_dict().values(), tuned.backbone.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("kwargs", [dict(gate="uniform"), dict(num_orders=0), dict(ar_lags=-1),
                                    dict(order_range=(0.5, 0.5)), dict(temperature=-1.0)])
def test_model_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        fraczoo.create_model("stochastic_memory_seq", **kwargs)


def test_bad_input_shape():
    model = fraczoo.create_model("stochastic_memory_seq", num_orders=2)
    with pytest.raises(ValueError, match="x must have shape"):
        model(torch.randn(2, 10, 1))
    with pytest.raises(ValueError, match=r"x must have shape \(batch,\)"):
        model.step(torch.randn(2, 1))
    with pytest.raises(ValueError, match=r"history must have shape \(batch, time\)"):
        model.forecast(torch.randn(2, 10, 1), 2)
