import importlib
import sys
from pathlib import Path

import pytest
import torch

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def script_module(name: str):
    """``scripts/<name>.py`` imported as a module (the scripts folder is not a package)."""
    sys.path.insert(0, str(SCRIPTS))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(SCRIPTS))


# One table of small settings per zoo model, for the tests that run every model (checkpoints,
# reproducibility, callbacks): non-default hyperparameters that keep the model tiny, and a datamodule of a
# few small batches that fits them. A new zoo model needs one row here (tests check the table is complete).
ZOO_SMALL = {
    "bayesian_alpha_regressor": dict(
        hparams=dict(dim=2, width=8, dilations=[1, 3], kernel_size=5, hidden=8, std_floor=0.05, nll_beta=0.25,
                     lr=1e-3, warmup_steps=3, buckets=1),
        data=dict(dim=2, min_length=10, max_length=24, train_size=16, val_size=8, test_size=8, batch_size=8)),
    "neural_fode": dict(
        hparams=dict(state_dim=2, hidden=8, depth=1, alpha_init=0.7, per_dim_alpha=True, method="l1",
                     lr=2e-2, alpha_lr=0.1),
        data=dict(n_steps=6, t_end=1.0, substeps=1, train_size=8, val_size=4, test_size=4, batch_size=4)),
    "spectral_fractional_cnn": dict(
        hparams=dict(block="hybrid", channels=[3, 4], kernel_size=3, hidden=8, alpha_init=0.9, lr=1e-2,
                     spectrum_bins=4, head_depth=2),
        data=dict(size=8, train_size=8, val_size=4, test_size=4, batch_size=4)),
    "stochastic_memory_seq": dict(
        hparams=dict(num_orders=3, order_range=[0.1, 0.45], gate="posterior", temperature=0.4, ar_lags=1, lr=1e-2),
        data=dict(length=17, train_size=8, val_size=4, test_size=4, batch_size=4)),
}


@pytest.fixture
def one_thread():
    """For tests made of many small tensor ops: on a loaded 2-core machine intra-op threads only contend."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
