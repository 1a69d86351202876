"""AlphaPosteriorMonitor on one process and the calibration metrics against scipy."""
import csv
import math

import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from scipy import stats
from torch import nn

from fraczoo.callbacks import AlphaPosteriorMonitor
from fraczoo.callbacks.calibration import (calibration_metrics, coverage, gaussian_nll, ks_uniform,
                                           pit_calibration_metrics, pit_coverage, reliability_curve)
from fraczoo.nn import FractionalOrder
from fraczoo.nn.alpha import BetaAlphaLayer, NormalAlphaLayer
from tests.callbacks._toy import ToyRegressor, loader, quiet_trainer, train_data, val_data


# ------------------------------------------------------------------------------------------------
# calibration metrics

def test_calibration_metrics_match_scipy():
    _, _, mean, std, true = val_data(500, seed=0)
    m, s, t = mean.numpy(), std.numpy(), true.numpy()
    z90 = stats.norm.ppf(0.95)
    metrics = calibration_metrics(mean, std, true)
    assert metrics["coverage90"] == pytest.approx(np.mean(np.abs(t - m) <= z90 * s), abs=1e-15)
    assert metrics["nll"] == pytest.approx(-np.mean(stats.norm.logpdf(t, m, s)), rel=1e-12)
    pit = stats.norm.cdf(t, m, s)
    assert metrics["pit_ks"] == pytest.approx(stats.kstest(pit, "uniform").statistic, rel=1e-12)
    # the toy predictor is over-confident (errors of 1.5 sigma): coverage well below 90%
    assert 0.55 < metrics["coverage90"] < 0.8
    levels, observed = reliability_curve(mean, std, true)
    assert levels[0] == 0.05 and levels[-1] == 0.95 and len(levels) == 19
    assert observed == sorted(observed)
    assert observed[9] == coverage(mean, std, true, 0.5)


def test_calibrated_predictions_look_calibrated():
    gen = torch.Generator().manual_seed(1)
    n = 20000
    mean, std = torch.rand(n, generator=gen, dtype=torch.float64), 0.1 + torch.rand(n, generator=gen, dtype=torch.float64)
    true = mean + std * torch.randn(n, generator=gen, dtype=torch.float64)
    metrics = calibration_metrics(mean, std, true)
    assert abs(metrics["coverage90"] - 0.9) < 4 * math.sqrt(0.09 / n)
    assert metrics["pit_ks"] < 1.63 / math.sqrt(n)  # the 1% critical value of the KS test
    assert metrics["nll"] == pytest.approx(float(0.5 * math.log(2 * math.pi) + torch.log(std).mean() + 0.5),
                                           abs=0.02)
    assert ks_uniform(torch.tensor([0.5])) == 0.5


@pytest.mark.parametrize("args, match", [
    ((torch.zeros(3), torch.ones(2), torch.zeros(3)), "same number of entries"),
    ((torch.zeros(2), torch.tensor([1.0, 0.0]), torch.zeros(2)), "alpha_std must be > 0"),
    ((torch.tensor([0.0, float("nan")]), torch.ones(2), torch.zeros(2)), "alpha_mean contains NaN"),
    ((torch.zeros(0), torch.zeros(0), torch.zeros(0)), "at least one"),
])
def test_calibration_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        calibration_metrics(*args)
    with pytest.raises(ValueError, match="level"):
        coverage(torch.zeros(1), torch.ones(1), torch.zeros(1), 1.0)


# ------------------------------------------------------------------------------------------------
# orders

class ManyOrders(ToyRegressor):
    def __init__(self):
        super().__init__(prob_layer=True)
        self.extra = nn.ModuleDict({"point": FractionalOrder(1.5, low=0.0, high=2.0, shape=(3, 1, 1)),
                                    "beta": BetaAlphaLayer(0.8, 0.2, shape=(2, 1))})


def test_order_statistics_by_type():
    model = ManyOrders()
    metrics = AlphaPosteriorMonitor(per_element=True).order_statistics(model)
    assert metrics["alpha/order/mean"] == pytest.approx(0.5) and metrics["alpha/order/std"] == 0.0
    assert metrics["alpha/prob/mean"] == pytest.approx(0.5) and metrics["alpha/prob/std"] == pytest.approx(0.1)
    assert metrics["alpha/extra.point/mean"] == pytest.approx(1.5) and metrics["alpha/extra.point/std"] == 0.0
    assert metrics["alpha/extra.beta/mean"] == pytest.approx(0.8) and metrics["alpha/extra.beta/std"] == pytest.approx(0.2)
    assert metrics["alpha/extra.point/2/mean"] == pytest.approx(1.5)
    assert metrics["alpha/extra.beta/1/std"] == pytest.approx(0.2)
    assert not any("/0/" in k for k in metrics if k.startswith("alpha/order/"))  # scalar orders: no elements
    assert AlphaPosteriorMonitor().order_statistics(nn.Linear(2, 2)) == {}


def read_csv(log_dir):
    with open(f"{log_dir}/metrics.csv") as f:
        return list(csv.DictReader(f))


def test_logging_interval_and_calibration_in_csv(tmp_path):
    x, y = train_data(40, seed=0)
    val = val_data(30, seed=0)
    monitor = AlphaPosteriorMonitor(log_every_n_steps=2)
    logger = CSVLogger(tmp_path)
    trainer = quiet_trainer(max_epochs=1, callbacks=[monitor], logger=logger, log_every_n_steps=1)
    model = ToyRegressor(prob_layer=True, lr=0.1)
    trainer.fit(model, loader((x, y), 8), loader(val, 8))
    rows = read_csv(logger.log_dir)
    stepped = sorted({int(r["step"]) for r in rows if r.get("alpha/prob/mean")})
    assert stepped == [2, 4, 5]  # every 2 optimizer steps, and at the epoch end (after step 5)
    _, _, mean, std, true = val
    expected = calibration_metrics(mean, std, true)
    for key in ("coverage90", "nll", "pit_ks"):
        assert monitor.last_calibration[f"alpha_posterior/{key}"] == pytest.approx(expected[key], rel=1e-12)
        assert float(trainer.callback_metrics[f"alpha_posterior/{key}"]) == pytest.approx(expected[key], rel=1e-6)
        assert any(r.get(f"alpha_posterior/{key}") for r in rows)
    assert monitor.last_calibration["alpha_posterior/count"] == 30
    assert monitor.last_metrics["alpha/prob/mean"] == pytest.approx(float(model.prob.mean), rel=1e-12)


def test_no_predictions_no_calibration_and_sanity_check_skipped():
    x, y = train_data(16, seed=1)
    val = val_data(16, seed=1)
    monitor = AlphaPosteriorMonitor()
    trainer = quiet_trainer(max_epochs=1, callbacks=[monitor], num_sanity_val_steps=1)
    trainer.fit(ToyRegressor(posterior_batches=0), loader((x, y), 8), loader(val, 8))
    assert monitor.last_calibration == {}
    assert not any(k.startswith("alpha_posterior/") for k in trainer.callback_metrics)
    # only the first validation batch reports predictions: they alone enter the metrics
    monitor = AlphaPosteriorMonitor()
    quiet_trainer(max_epochs=1, callbacks=[monitor]).fit(ToyRegressor(posterior_batches=1), loader((x, y), 8),
                                                        loader(val, 8))
    assert monitor.last_calibration["alpha_posterior/count"] == 8


def test_bad_predictions_are_reported():
    x, y = train_data(8, seed=2)
    xv, yv, mean, std, true = val_data(8, seed=2)
    with pytest.raises(ValueError, match="alpha_std must be > 0"):
        quiet_trainer(max_epochs=1, callbacks=[AlphaPosteriorMonitor()]).fit(
            ToyRegressor(), loader((x, y), 8), loader((xv, yv, mean, -std, true), 8))


def test_state_survives_checkpoint(tmp_path):
    x, y = train_data(16, seed=3)
    val = val_data(16, seed=3)
    monitor = AlphaPosteriorMonitor(log_every_n_steps=1, histogram_samples=10)
    quiet_trainer(max_epochs=1, callbacks=[monitor, ModelCheckpoint(dirpath=tmp_path, save_last=True)],
                  enable_checkpointing=True).fit(ToyRegressor(prob_layer=True), loader((x, y), 8), loader(val, 8))
    saved = torch.load(tmp_path / "last.ckpt", weights_only=False)["callbacks"][monitor.state_key]
    assert saved == monitor.state_dict()
    assert saved["last_calibration"]["alpha_posterior/count"] == 16 and saved["last_step_logged"] == 2
    restored = AlphaPosteriorMonitor(log_every_n_steps=1, histogram_samples=10)
    restored.load_state_dict(saved)
    assert restored.state_dict() == saved


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(log_every_n_steps=-1), ValueError, "log_every_n_steps"),
    (dict(histogram_samples=1.5), TypeError, "histogram_samples must be an int >= 0, got float"),
    (dict(coverage_level=1.0), ValueError, "coverage_level"),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        AlphaPosteriorMonitor(**kwargs)


def test_probabilistic_orders_are_found_in_user_models():
    model = nn.Sequential(nn.Linear(4, 4), NormalAlphaLayer(0.3, 0.05))
    metrics = AlphaPosteriorMonitor().order_statistics(model)
    assert metrics == {"alpha/1/mean": pytest.approx(0.3), "alpha/1/std": pytest.approx(0.05)}


# ------------------------------------------------------------------------------------------------
# non-Gaussian predictions: PIT values and log densities

def test_pit_metrics_agree_with_the_gaussian_ones_for_a_gaussian():
    _, _, mean, std, true = val_data(500, seed=4)
    normal = torch.distributions.Normal(mean, std)
    exact = pit_calibration_metrics(normal.cdf(true), normal.log_prob(true))
    for key, value in calibration_metrics(mean, std, true).items():
        assert exact[key] == pytest.approx(value, rel=1e-12, abs=1e-15), key
    assert pit_coverage(torch.tensor([0.04, 0.05, 0.5, 0.95, 0.96]), 0.9) == 0.6  # the ends belong inside


@pytest.mark.parametrize("pit, log_prob, match", [
    (torch.tensor([0.5, 1.2]), torch.zeros(2), "alpha_pit must lie in"),
    (torch.tensor([0.5]), torch.zeros(2), "same number of entries"),
    (torch.tensor([0.5]), torch.tensor([float("nan")]), "alpha_log_prob contains NaN"),
])
def test_pit_metrics_bad_input(pit, log_prob, match):
    with pytest.raises(ValueError, match=match):
        pit_calibration_metrics(pit, log_prob)
    assert pit_calibration_metrics(torch.tensor([0.5]), torch.tensor([-math.inf]))["nll"] == math.inf


class UniformPosterior(ToyRegressor):
    """Predicts Uniform(true - 0.3 + shift, true + 0.3 + shift): mean/std describe it, a Gaussian does not."""

    def __init__(self, exact_batches: int | None = None):
        super().__init__()
        self.exact_batches = exact_batches

    def validation_step(self, batch, batch_idx):
        out = super().validation_step(batch, batch_idx)
        mean, true = out["alpha_mean"], out["alpha_true"]
        post = torch.distributions.Uniform(mean - 0.3, mean + 0.3)
        out["alpha_std"] = torch.full_like(mean, 0.6 / math.sqrt(12))
        if self.exact_batches is None or batch_idx < self.exact_batches:
            inside = (true - mean).abs() < 0.3
            out["alpha_pit"] = post.cdf(true.clamp(mean - 0.3, mean + 0.3))
            out["alpha_log_prob"] = torch.where(inside, -math.log(0.6), -math.inf)
        return out


def test_exact_keys_replace_the_gaussian_summary():
    x, y = train_data(16, seed=5)
    xv, yv, _, _, true = val_data(32, seed=5)
    shift = 0.25 * torch.linspace(-1, 1, 32, dtype=torch.float64)  # true - mean within +-0.25: all inside
    val = (xv, yv, true - shift, torch.ones(32, dtype=torch.float64), true)
    monitor = AlphaPosteriorMonitor()
    quiet_trainer(max_epochs=1, callbacks=[monitor]).fit(UniformPosterior(), loader((x, y), 8), loader(val, 8))
    pit = 0.5 + shift / 0.6
    expected = {"coverage90": float(((pit >= 0.05) & (pit <= 0.95)).double().mean()), "nll": math.log(0.6),
                "pit_ks": ks_uniform(pit)}
    for key, value in expected.items():
        assert monitor.last_calibration[f"alpha_posterior/{key}"] == pytest.approx(value, rel=1e-12), key
    gaussian = calibration_metrics(true - shift, torch.full((32,), 0.6 / math.sqrt(12), dtype=torch.float64), true)
    assert gaussian["nll"] != pytest.approx(expected["nll"], rel=1e-3)  # the summary would have misled
    with pytest.raises(ValueError, match="some validation batches reported alpha_pit and alpha_log_prob"):
        quiet_trainer(max_epochs=1, callbacks=[AlphaPosteriorMonitor()]).fit(
            UniformPosterior(exact_batches=2), loader((x, y), 8), loader(val, 8))

    class PitOnly(UniformPosterior):
        def validation_step(self, batch, batch_idx):
            out = super().validation_step(batch, batch_idx)
            del out["alpha_log_prob"]
            return out

    with pytest.raises(ValueError, match="returned alpha_pit without alpha_log_prob; return both or neither"):
        quiet_trainer(max_epochs=1, callbacks=[AlphaPosteriorMonitor()]).fit(PitOnly(), loader((x, y), 8),
                                                                             loader(val, 8))
