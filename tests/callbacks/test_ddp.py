"""Both monitors under 2-process CPU DDP (gloo): known answers from the per-rank gradients."""
import copy
import csv

import pytest
import torch

from fraczoo.callbacks.calibration import calibration_metrics
from tests.callbacks import _ddp_worker as worker
from tests.callbacks._spawn import run_ranks
from tests.callbacks._toy import ToyRegressor, per_chunk_gradients, reference_statistics

pytestmark = pytest.mark.ddp
TIMEOUT_S = 240


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    return out, run_ranks(worker.run, out, timeout_s=TIMEOUT_S)


def test_gradient_statistics_equal_hand_computation_from_per_rank_gradients(ddp_run):
    _, results = ddp_run
    torch.manual_seed(0)
    model = ToyRegressor().double()  # same initial weights as the workers (lr = 0 keeps them)
    chunks, sizes = [], []
    for rank in range(2):  # each rank splits its 4 samples into 2 micro-batches of 2
        x, y = rank_data = worker.rank_train_data(rank)
        chunks += per_chunk_gradients(copy.deepcopy(model), x, y, [2, 2])
        sizes += [2, 2]
    groups = {"all": ["linear.weight", "linear.bias", "order.raw"], "linear": ["linear.weight", "linear.bias"],
              "order": ["order.raw"]}
    ref, b, total = reference_statistics(chunks, sizes, groups)
    assert (b, total) == (2.0, 8.0)
    for result in results:  # every rank computes the same, globally reduced statistics
        metrics = result["grad"]
        assert metrics["grad_var/num_micro_batches"] == 4 and metrics["grad_var/batch_size"] == 8
        for group, r in ref.items():
            assert metrics[f"grad_var/{group}/signal"] == pytest.approx(r["signal"], rel=1e-9)
            assert metrics[f"grad_var/{group}/noise_trace"] == pytest.approx(r["trace"], rel=1e-9)
            assert metrics[f"grad_var/{group}/grad_norm"] == pytest.approx(r["big"] ** 0.5, rel=1e-9)
            # lr = 0: both steps measure the same batch, so the EMAs equal the per-step values
            assert metrics[f"grad_var/{group}/noise_scale"] == pytest.approx(r["trace"] / r["signal"], rel=1e-9)
        assert result["ema"]["all"]["count"] == 2
    # the "alpha" group exists where the order is found by type (rank 0); it is rank 0 that logs
    assert results[0]["grad"]["grad_var/alpha/noise_trace"] == pytest.approx(ref["order"]["trace"], rel=1e-9)
    assert "grad_var/alpha/noise_trace" not in results[1]["grad"]


def test_calibration_is_aggregated_over_all_ranks(ddp_run):
    _, results = ddp_run
    rows = []
    for rank in range(2):
        _, _, mean, std, true = worker.rank_val_data(rank)
        n = worker.posterior_batches(rank) * worker.VAL_BATCH
        rows.append(torch.stack([mean[:n], std[:n], true[:n]], 1))
    rows = torch.cat(rows)
    expected = calibration_metrics(*rows.unbind(1))
    for result in results:
        assert result["calibration"]["alpha_posterior/count"] == rows.shape[0] == 9
        for key, value in expected.items():
            assert result["calibration"][f"alpha_posterior/{key}"] == pytest.approx(value, rel=1e-12)
    assert results[0]["alpha"]["alpha/order/mean"] == pytest.approx(0.5)
    assert results[1]["alpha"] == {}  # no orders on rank 1, and nothing hung


def test_keys_reach_the_csv_log_and_checkpoint(ddp_run):
    out, results = ddp_run
    with open(f"{results[0]['log_dir']}/metrics.csv") as f:
        header = next(csv.reader(f))
    for key in ("grad_var/all/noise_scale", "grad_var/noise_scale", "grad_var/alpha/snr", "grad_var/linear/grad_norm",
                "alpha/order/mean", "alpha/order/std", "alpha_posterior/coverage90", "alpha_posterior/nll",
                "alpha_posterior/pit_ks"):
        assert key in header, key
    ckpt = torch.load(out / "ckpt" / "last.ckpt", weights_only=False)
    assert ckpt["callbacks"][results[0]["grad_state_key"]]["ema"]["all"]["count"] == 2
