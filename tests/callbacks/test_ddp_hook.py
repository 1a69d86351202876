"""GradientVarianceMonitor(mode="ddp_hook") under 2-process CPU DDP (gloo), against the micro-batch mode on
the same model and data and against a hand computation from the per-rank gradients."""
import math
import statistics

import pytest
import torch

from tests.callbacks import _ddp_hook_worker as worker
from tests.callbacks._spawn import run_ranks
from tests.callbacks._toy import ToyRegressor, per_chunk_gradients, reference_statistics

pytestmark = pytest.mark.ddp
TIMEOUT_S = 300
KEYS = ("signal", "noise_trace", "grad_norm")


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp_hook")
    return run_ranks(worker.run, out, timeout_s=TIMEOUT_S)[0]  # rank 0 logs


def test_every_step_is_logged_with_the_per_rank_batch_as_small_batch(rows):
    hook = rows["hook"]
    assert [r["step"] for r in hook] == list(range(worker.STEPS))
    for r in hook:
        assert r["grad_var/micro_batch_size"] == worker.BATCH and r["grad_var/batch_size"] == 2 * worker.BATCH
        assert r["grad_var/num_micro_batches"] == 2
        assert math.isfinite(r["grad_var/all/noise_trace"]) and "grad_var/alpha/signal" in r


def test_equals_micro_batch_mode_with_one_micro_batch_per_rank(rows):
    # one micro-batch per rank is the rank's batch: the two modes measure the same gradients
    for hook, micro in zip(rows["hook"], rows["micro_whole"], strict=True):
        for group in ("all", "linear", "order", "alpha"):
            for key in KEYS:
                assert hook[f"grad_var/{group}/{key}"] == pytest.approx(micro[f"grad_var/{group}/{key}"], rel=1e-9)
    assert rows["hook"][-1]["grad_var/noise_scale"] == pytest.approx(rows["micro_whole"][-1]["grad_var/noise_scale"],
                                                                     rel=1e-9)


@pytest.mark.parametrize("key", ["signal", "noise_trace"])
def test_agrees_with_four_micro_batches_within_noise(rows, key):
    # both estimate |G|^2 and tr(Sigma) without bias at the same (fixed) weights, from different splits
    # of the same batches: their per-step difference averages to zero within its standard error
    diff = [h[f"grad_var/all/{key}"] - m[f"grad_var/all/{key}"] for h, m in zip(rows["hook"], rows["micro_4"])]
    se = statistics.stdev(diff) / math.sqrt(len(diff))
    assert abs(statistics.mean(diff)) < 4 * se
    scale = statistics.mean(abs(m[f"grad_var/all/{key}"]) for m in rows["micro_4"])
    assert se < scale  # and the comparison is not vacuous


def test_accumulated_step_equals_hand_computation(rows):
    # accumulate_grad_batches=2: each rank's gradient is that of the mean loss over its 2 x 8 samples
    first = rows["hook_accumulate"][0]
    assert first["grad_var/micro_batch_size"] == 2 * worker.BATCH and first["grad_var/batch_size"] == 4 * worker.BATCH
    torch.manual_seed(0)
    model = ToyRegressor().double()
    chunks = []
    for rank in range(2):
        x, y = worker.rank_data(rank)
        chunks += per_chunk_gradients(model, x[:16], y[:16], [16])
    groups = {"all": ["linear.weight", "linear.bias", "order.raw"], "order": ["order.raw"]}
    ref, _, _ = reference_statistics(chunks, [16, 16], groups)
    for group, r in ref.items():
        assert first[f"grad_var/{group}/signal"] == pytest.approx(r["signal"], rel=1e-9)
        assert first[f"grad_var/{group}/noise_trace"] == pytest.approx(r["trace"], rel=1e-9)


def test_a_bucket_per_parameter_gives_the_same_statistics(rows):
    # the per-rank numbers ride on the last bucket's all-reduce: with several buckets they must still
    # cover every bucket; every_n_steps=2 also runs the steps that are not measured
    assert rows["hook_buckets/buckets"] >= 3 > rows["hook/buckets"]
    assert [r["step"] for r in rows["hook_buckets"]] == [0, 2, 4]
    for many in rows["hook_buckets"]:
        one = rows["hook"][many["step"]]
        for group in ("all", "linear", "order", "alpha"):
            for key in KEYS:
                assert many[f"grad_var/{group}/{key}"] == pytest.approx(one[f"grad_var/{group}/{key}"], rel=1e-9)
