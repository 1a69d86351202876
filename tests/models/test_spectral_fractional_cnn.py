import lightning as L
import pytest
import torch

import fraczoo
from fraczoo.datamodules import fractional_gaussian_field


def test_field_spectrum_slope_matches_hurst():
    """The radially averaged power spectrum of the simulated fields decays like |k|^-(2H+2)."""
    gen = torch.Generator().manual_seed(0)
    for hurst in (0.2, 0.5, 0.8):
        field = fractional_gaussian_field(torch.full((64,), hurst), 64, generator=gen, dtype=torch.float64)
        power = (torch.fft.rfft2(field).abs() ** 2).mean(0)
        ky = torch.fft.fftfreq(64, dtype=torch.float64)[:, None]
        kx = torch.fft.rfftfreq(64, dtype=torch.float64)[None, :]
        k = torch.sqrt(kx ** 2 + ky ** 2)
        band = (k > 0.02) & (k < 0.4)
        slope = torch.linalg.lstsq(torch.stack([torch.log(k[band]), torch.ones_like(k[band])], 1),
                                   torch.log(power[band])[:, None]).solution[0, 0]
        assert abs(float(slope) + 2 * hurst + 2) < 0.1, (hurst, float(slope))


def test_fields_unit_std_and_deterministic():
    dm1 = fraczoo.create_datamodule("spectral_fractional_cnn", size=16, train_size=32, val_size=8, test_size=8)
    dm2 = fraczoo.create_datamodule("spectral_fractional_cnn", size=16, train_size=32, val_size=8, test_size=8)
    dm1.setup()
    dm2.setup()
    x1, h1 = dm1.splits["train"].tensors
    x2, h2 = dm2.splits["train"].tensors
    assert torch.equal(x1, x2) and torch.equal(h1, h2)
    torch.testing.assert_close(x1.std(dim=(-2, -1)), torch.ones(32, 1), atol=1e-5, rtol=0)
    assert not torch.equal(dm1.splits["train"].tensors[0][:8], dm1.splits["val"].tensors[0])


@pytest.mark.parametrize("kwargs", [dict(size=2), dict(train_size=-1), dict(hurst_range=(0.5, 0.2)),
                                    dict(batch_size=0)])
def test_datamodule_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        fraczoo.create_datamodule("spectral_fractional_cnn", **kwargs)


def test_short_fit_reduces_loss_and_logs(tmp_path):
    L.seed_everything(0)
    model = fraczoo.create_model("spectral_fractional_cnn", channels=[8], hidden=16, lr=1e-2)
    dm = fraczoo.create_datamodule("spectral_fractional_cnn", size=16, train_size=1024, val_size=128,
                                   test_size=64, batch_size=32)
    trainer = L.Trainer(max_epochs=3, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        default_root_dir=tmp_path)
    trainer.fit(model, dm)
    metrics = trainer.callback_metrics
    assert {"val_loss", "val_mae", "alpha/stage0"} <= set(metrics)
    # predicting the mean H gives MAE 0.2 for H ~ U(0.1, 0.9); the model must beat that
    assert float(metrics["val_mae"]) < 0.2


@pytest.mark.parametrize("kwargs", [dict(task="segmentation"), dict(task="classification", num_outputs=1),
                                    dict(channels=[])])
def test_model_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        fraczoo.create_model("spectral_fractional_cnn", **kwargs)


def test_alpha_receives_gradient():
    model = fraczoo.create_model("spectral_fractional_cnn", channels=[4], hidden=8)
    out = model(torch.randn(4, 1, 16, 16))
    out.sum().backward()
    raw = model.backbone[0].alpha.raw
    assert raw.grad is not None and torch.isfinite(raw.grad).all() and raw.grad.abs().sum() > 0
