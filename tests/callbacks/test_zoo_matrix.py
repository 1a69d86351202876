"""Every zoo model x {AlphaPosteriorMonitor, GradientVarianceMonitor, NonFiniteGuard, RNGStateCheckpoint} x
{one process, 2-process CPU DDP (gloo)}: each callback logs its documented keys with finite values (or keeps
its documented checkpoint state), and under DDP the calibration of predicted orders gathered from both
ranks equals the single-process value on the same validation set. One case runs through torchrun."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import fraczoo
from tests.callbacks import _zoo_worker as worker
from tests.callbacks._spawn import free_port, run_ranks

ROOT = Path(__file__).resolve().parents[2]
NAMES = fraczoo.list_models()
# models whose parameters include fractional orders (AlphaPosteriorMonitor part 1) and models that
# predict orders (part 2, the calibration protocol of validation_step)
HAS_ORDERS = {"neural_fode", "spectral_fractional_cnn", "stochastic_memory_seq"}
PREDICTS_ORDERS = {"bayesian_alpha_regressor"}
CALIBRATION_KEYS = ("alpha_posterior/coverage90", "alpha_posterior/nll", "alpha_posterior/pit_ks",
                    "alpha_posterior/count")
GRAD_KEYS = ("grad_var/all/grad_norm", "grad_var/all/noise_trace", "grad_var/all/signal", "grad_var/batch_size",
             "grad_var/micro_batch_size", "grad_var/num_micro_batches")
TIMEOUT_S = 600


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    out = tmp_path_factory.mktemp("single")
    return {name: worker.run_model(name, str(out), world=1) for name in NAMES}


@pytest.fixture(scope="module")
def ddp(tmp_path_factory):
    return run_ranks(worker.run, tmp_path_factory.mktemp("ddp"), NAMES, timeout_s=TIMEOUT_S)


def _check(result: dict, name: str) -> None:
    finite = result["finite"]
    assert result["global_step"] == 2
    for key in GRAD_KEYS:  # GradientVarianceMonitor
        assert key in finite["grad"], key
    if name in HAS_ORDERS:  # AlphaPosteriorMonitor, orders in the model
        means = [k for k in finite["alpha"] if k.startswith("alpha/") and k.endswith("/mean")]
        assert means and all(k[:-4] + "std" in finite["alpha"] for k in means)
    if name in PREDICTS_ORDERS:  # AlphaPosteriorMonitor, predicted orders
        for key in CALIBRATION_KEYS:
            assert key in finite["calibration"] and key in finite["validate_calibration"], key
    assert "rng_states" in result["checkpoint_keys"]  # RNGStateCheckpoint
    assert any(k.startswith("GradientVarianceMonitor") for k in result["callback_states"])
    assert any(k.startswith("AlphaPosteriorMonitor") for k in result["callback_states"])
    # NonFiniteGuard: no false alarm, the run reached its last step (checked above)


@pytest.mark.parametrize("name", NAMES)
def test_every_callback_single_process(single, name):
    _check(single[name], name)
    header = Path(single[name]["log_dir"], "metrics.csv").read_text().splitlines()[0].split(",")
    assert "grad_var/all/noise_trace" in header and "val_loss" in header


@pytest.mark.ddp
@pytest.mark.parametrize("name", NAMES)
def test_every_callback_two_process_ddp(ddp, name):
    for rank in (0, 1):
        _check(ddp[rank][name], name)
    # every rank computes the same, globally reduced statistics
    assert ddp[0][name]["grad"] == pytest.approx(ddp[1][name]["grad"], rel=1e-9)


@pytest.mark.ddp
@pytest.mark.parametrize("name", sorted(PREDICTS_ORDERS))
def test_ddp_calibration_equals_single_process(single, ddp, name):
    expected = single[name]["validate_calibration"]
    assert expected["alpha_posterior/count"] == 16
    for rank in (0, 1):
        got = ddp[rank][name]["validate_calibration"]
        assert got.keys() == expected.keys()
        for key in expected:
            assert got[key] == pytest.approx(expected[key], rel=1e-6, abs=1e-9), key


@pytest.mark.ddp
def test_torchrun_launches_a_two_process_fit(tmp_path):
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("WANDB_API_KEY", None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
           "-m", "fraczoo", "fit", "--config", "spectral_fractional_cnn", "--trainer.accelerator=cpu",
           "--trainer.devices=2", "--trainer.strategy=ddp", "--trainer.max_steps=2", "--trainer.logger=false",
           f"--trainer.default_root_dir={tmp_path}", "--data.init_args.size=8", "--data.init_args.train_size=16",
           "--data.init_args.val_size=8", "--data.init_args.batch_size=4", "--model.init_args.channels=[4]"]
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT_S,
                         stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    ckpt = re.search(r"last checkpoint: (\S+)", out.stdout).group(1)
    assert Path(ckpt).is_file()
    assert out.stdout.count("fraczoo run summary") == 1  # printed by rank 0 only
