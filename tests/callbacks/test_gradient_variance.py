"""GradientVarianceMonitor on one process: known answers from explicit per-sample/micro-batch loops."""
import copy
import math

import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from fraczoo.callbacks import GradientVarianceMonitor
from fraczoo.callbacks.gradient_variance import noise_estimates, split_batch
from tests.callbacks._toy import (ToyRegressor, loader, per_chunk_gradients, quiet_trainer, reference_statistics,
                                  train_data)

GROUPS = {"all": ["linear.weight", "linear.bias", "order.raw"], "linear": ["linear.weight", "linear.bias"],
          "order": ["order.raw"], "alpha": ["order.raw"]}


def assert_matches_reference(metrics, ref, b, total):
    assert metrics["grad_var/micro_batch_size"] == pytest.approx(b, rel=1e-12)
    assert metrics["grad_var/batch_size"] == total
    for group, r in ref.items():
        assert metrics[f"grad_var/{group}/signal"] == pytest.approx(r["signal"], rel=1e-9, abs=1e-12)
        assert metrics[f"grad_var/{group}/noise_trace"] == pytest.approx(r["trace"], rel=1e-9, abs=1e-12)
        assert metrics[f"grad_var/{group}/grad_norm"] == pytest.approx(math.sqrt(r["big"]), rel=1e-9)
        # one measurement: the bias-corrected EMAs are the values themselves
        if r["signal"] > 0:
            assert metrics[f"grad_var/{group}/noise_scale"] == pytest.approx(r["trace"] / r["signal"], rel=1e-9)
        if r["trace"] > 0:
            assert metrics[f"grad_var/{group}/snr"] == pytest.approx(r["signal"] * total / r["trace"], rel=1e-9)
    assert metrics["grad_var/noise_scale"] == metrics["grad_var/all/noise_scale"]


@pytest.mark.parametrize("num_micro_batches, sizes", [(None, [1] * 8), (4, [2, 2, 2, 2]), (3, [3, 3, 2])])
def test_statistics_match_explicit_loops(num_micro_batches, sizes):
    torch.manual_seed(0)
    x, y = train_data(8, seed=1)
    model = ToyRegressor().double()
    reference_model = copy.deepcopy(model)
    monitor = GradientVarianceMonitor(every_n_steps=1, num_micro_batches=num_micro_batches)
    quiet_trainer(max_steps=1, callbacks=[monitor], limit_val_batches=0).fit(model, loader((x, y), 8))
    ref, b, total = reference_statistics(per_chunk_gradients(reference_model, x, y, sizes), sizes, GROUPS)
    assert_matches_reference(monitor.last_metrics, ref, b, total)
    assert monitor.last_metrics["grad_var/num_micro_batches"] == len(sizes)


def test_estimators_are_unbiased_on_synthetic_gradients():
    """Draw g_k = G + noise/sqrt(b_k) with known G and Sigma: the averages recover |G|^2 and tr Sigma."""
    gen = torch.Generator().manual_seed(0)
    dim, sizes, reps = 5, torch.tensor([3.0, 3.0, 2.0, 4.0]), 20000
    G = torch.tensor([0.5, -0.2, 0.1, 0.0, 0.3], dtype=torch.float64)
    scale = torch.tensor([1.0, 2.0, 0.5, 0.1, 1.5], dtype=torch.float64)  # Sigma = diag(scale^2)
    noise = torch.randn(reps, len(sizes), dim, generator=gen, dtype=torch.float64) * scale
    g = G + noise / sizes.double().sqrt()[:, None]
    total = float(sizes.sum())
    big = ((sizes.double()[:, None] / total) * g).sum(1).pow(2).sum(-1)
    small = g.pow(2).sum(-1).mean(-1)
    b = len(sizes) / float((1 / sizes.double()).sum())
    signal, trace = noise_estimates(small, big, b, total)
    assert float(signal.mean()) == pytest.approx(float(G.pow(2).sum()), abs=4 * float(signal.std()) / reps ** 0.5)
    assert float(trace.mean()) == pytest.approx(float(scale.pow(2).sum()), abs=4 * float(trace.std()) / reps ** 0.5)


def test_monitor_does_not_change_training():
    """RNG (dropout) and BatchNorm buffers are restored, so the trajectory is the same with or without it."""
    x, y = train_data(32, seed=2)

    def run(callbacks):
        torch.manual_seed(0)
        model = ToyRegressor(dropout=0.3, batchnorm=True, lr=0.05)
        quiet_trainer(max_steps=6, callbacks=callbacks, limit_val_batches=0).fit(model, loader((x, y), 8))
        return model.state_dict()

    plain = run([])
    monitor = GradientVarianceMonitor(every_n_steps=2)
    monitored = run([monitor])
    assert monitor.ema["all"]["count"] == 3
    for key in plain:
        assert torch.equal(plain[key], monitored[key]), key


def test_ema_and_checkpoint_round_trip(tmp_path):
    x, y = train_data(24, seed=3)
    model = ToyRegressor()  # lr = 0: every step sees the same gradients per batch
    reference_model = copy.deepcopy(model).double()
    monitor = GradientVarianceMonitor(every_n_steps=1, num_micro_batches=2)
    ckpt = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    quiet_trainer(max_epochs=1, callbacks=[monitor, ckpt], enable_checkpointing=True,
                  limit_val_batches=0).fit(model, loader((x, y), 8))
    assert monitor.ema["all"]["count"] == 3
    saved = torch.load(tmp_path / "last.ckpt", weights_only=False)["callbacks"][monitor.state_key]
    assert saved == monitor.state_dict()

    resumed = GradientVarianceMonitor(every_n_steps=1, num_micro_batches=2)
    quiet_trainer(max_epochs=2, callbacks=[resumed, ModelCheckpoint(dirpath=tmp_path / "2")],
                  enable_checkpointing=True, limit_val_batches=0).fit(
        ToyRegressor(), loader((x, y), 8), ckpt_path=tmp_path / "last.ckpt")
    assert resumed.ema["all"]["count"] == 6  # continued from the checkpoint's 3
    # lr = 0 and the same 3 batches again: the EMA of a repeating sequence, computed by hand
    d, signals = 0.9, []
    for batch in range(3):
        xb, yb = x[8 * batch:8 * batch + 8], y[8 * batch:8 * batch + 8]
        ref, _, _ = reference_statistics(per_chunk_gradients(reference_model, xb, yb, [4, 4]), [4, 4],
                                         {"all": GROUPS["all"]})
        signals.append(ref["all"]["signal"])
    ema = 0.0
    for s in signals * 2:
        ema = d * ema + (1 - d) * s
    assert resumed.ema["all"]["signal"] == pytest.approx(ema, rel=1e-9)


def test_groups_option():
    x, y = train_data(8, seed=4)
    model = ToyRegressor().double()
    ref, _, _ = reference_statistics(per_chunk_gradients(copy.deepcopy(model), x, y, [2] * 4), [2] * 4,
                                     {"weights": ["linear.weight"]})
    monitor = GradientVarianceMonitor(every_n_steps=1, groups={"weights": r"\.weight$"})
    quiet_trainer(max_steps=1, callbacks=[monitor], limit_val_batches=0).fit(model, loader((x, y), 8))
    assert monitor.last_metrics["grad_var/weights/signal"] == pytest.approx(ref["weights"]["signal"], rel=1e-9)
    assert not any(k.startswith("grad_var/linear/") for k in monitor.last_metrics)

    named = GradientVarianceMonitor(every_n_steps=1, groups="optimizer")
    quiet_trainer(max_steps=1, callbacks=[named], limit_val_batches=0).fit(ToyRegressor(), loader((x, y), 8))
    assert "grad_var/opt0_group0/noise_trace" in named.last_metrics
    bare = GradientVarianceMonitor(every_n_steps=1, groups="none")
    quiet_trainer(max_steps=1, callbacks=[bare], limit_val_batches=0).fit(ToyRegressor(), loader((x, y), 8))
    assert {k.split("/")[1] for k in bare.last_metrics if k.count("/") == 2} == {"all"}


def test_split_batch_handles_collections():
    batch = {"x": torch.arange(10).reshape(5, 2), "meta": [torch.arange(5), torch.tensor(7.0)], "name": "b"}
    parts = split_batch(batch, 2)
    assert [n for _, n in parts] == [3, 2]
    assert torch.equal(parts[1][0]["x"], torch.tensor([[6, 7], [8, 9]]))
    assert torch.equal(parts[1][0]["meta"][0], torch.tensor([3, 4]))
    assert parts[1][0]["meta"][1] == 7.0 and parts[1][0]["name"] == "b"
    assert split_batch({"name": "no tensors"}, 2) == []


def test_too_few_micro_batches_warns_and_logs_nothing():
    x, y = train_data(1, seed=5)
    monitor = GradientVarianceMonitor(every_n_steps=1)
    with pytest.warns(RuntimeWarning, match="at least 2 micro-batches"):
        quiet_trainer(max_steps=1, callbacks=[monitor], limit_val_batches=0).fit(ToyRegressor(), loader((x, y), 1))
    assert monitor.last_metrics == {}


class ManualModel(ToyRegressor):
    def __init__(self):
        super().__init__()
        self.automatic_optimization = False

    def training_step(self, batch, batch_idx):
        opt = self.optimizers()
        loss = self.loss(*batch)
        opt.zero_grad()
        self.manual_backward(loss)
        opt.step()


def test_manual_optimization_is_reported_not_broken():
    x, y = train_data(8, seed=6)
    monitor = GradientVarianceMonitor(every_n_steps=1)
    with pytest.warns(RuntimeWarning, match="manual optimization"):
        quiet_trainer(max_steps=2, callbacks=[monitor], limit_val_batches=0).fit(ManualModel(), loader((x, y), 4))
    assert monitor.last_metrics == {}


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(every_n_steps=0), ValueError, "every_n_steps"),
    (dict(every_n_steps=1.5), TypeError, "every_n_steps must be an int >= 1, got float"),
    (dict(num_micro_batches=0), ValueError, "num_micro_batches"),
    (dict(groups="layers"), ValueError, "groups must be one of"),
    (dict(groups={"bad": "("}), ValueError, "regular expressions"),
    (dict(ema_decay=1.0), ValueError, r"ema_decay must lie in \[0, 1\)"),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        GradientVarianceMonitor(**kwargs)
    with pytest.raises(ValueError, match="small batch size"):
        noise_estimates(1.0, 1.0, 4, 4)


def test_ddp_hook_mode_needs_ddp():
    x, y = train_data(8, seed=5)
    monitor = GradientVarianceMonitor(mode="ddp_hook")
    assert monitor.every_n_steps == 1 and "ddp_hook" in monitor.state_key
    with pytest.raises(ValueError, match="mode='ddp_hook'.* needs a DDP strategy.*got SingleDeviceStrategy"):
        quiet_trainer(max_steps=1, callbacks=[monitor], limit_val_batches=0).fit(ToyRegressor(), loader((x, y), 8))
    with pytest.raises(ValueError, match="mode must be one of 'micro_batch', 'ddp_hook'; got 'hook'"):
        GradientVarianceMonitor(mode="hook")
    assert GradientVarianceMonitor().every_n_steps == 50
